//! Keyspace notifications against redis-server's: with
//! `notify-keyspace-events KEA` on both, a subscriber to every keyspace
//! and keyevent channel must receive, for each command of the script, the
//! same messages byte for byte and in the same order as from Redis 7.0.15
//! (which events, their names, channel and payload, and their order:
//! `set` before `expire`, `hdel` before `del`, `srem` before `sadd`).
//!
//! After each command the commanding connection publishes a marker that
//! the subscriber's pattern also matches; every message before it is the
//! command's. A line `sleep <ms>` waits (for `expired`, sent when a
//! key's deadline passes and the key is swept, with no read).
//!
//! The hash field-TTL commands (Redis 7.4+) are tested against the Redis
//! docs in tests/daemon/hashes.rs instead.

use std::time::Duration;

use super::{Conn, Servers};

const SCRIPT: &[&str] = &[
    // Strings.
    "SET k v",
    "SET k v EX 100",
    "SET k w KEEPTTL",
    "SET k v XX GET",
    "SET nokey v XX",
    "SETNX k v",
    "SETNX k2 v",
    "SETEX k3 100 v",
    "PSETEX k3 100000 v",
    "GETSET k2 w",
    "APPEND k x",
    "APPEND k4 x",
    "SETRANGE k 0 yy",
    "SETRANGE k5 0 ",
    "INCR n",
    "DECRBY n 3",
    "INCRBYFLOAT n 1.5",
    "MSET a 1 b 2 a 3",
    "MSETNX c 1 d 2",
    "MSETNX c 1 e 2",
    // Keys.
    "DEL a nosuch b",
    "EXPIRE n 100",
    "EXPIRE n 200 NX",
    "PEXPIRE n 300000 XX",
    "PERSIST n",
    "PERSIST n",
    "EXPIRE n 0",
    "EXPIREAT k2 1",
    "RENAME c z",
    "RENAME z d",
    "RENAMENX d k",
    "COPY d y",
    "COPY d y",
    "COPY d y REPLACE",
    "GETDEL y",
    "GETEX d EX 100",
    "GETEX d PERSIST",
    "GETEX d PX 0",
    "UNLINK k k3",
    "TOUCH k4",
    // Sets.
    "SADD s a b c",
    "SADD s a",
    "SREM s a nosuch",
    "SREM s nosuch",
    "SMOVE s t b",
    "SMOVE s t nosuch",
    "SMOVE s t c",
    "SADD s1 x y z",
    "SADD s2 y",
    "SPOP s1 0",
    "SINTERSTORE d1 s1 s2",
    "SUNIONSTORE d1 s1 s2",
    "SDIFFSTORE d1 s2 s1",
    "SDIFFSTORE d2 s2 s1",
    "SINTERSTORE d3 s1 nosuch",
    "SADD one m",
    "SPOP one",
    "SADD two m n",
    "SPOP two 5",
    // Hashes.
    "HSET h f v g w",
    "HSET h f v",
    "HMSET h i x",
    "HSETNX h f v",
    "HSETNX h j v",
    "HINCRBY h n 2",
    "HINCRBYFLOAT h n 1.5",
    "HDEL h nosuch",
    "HDEL h f g",
    "HDEL h i j n",
    // Expiry, by the sweep with no read.
    // (one at a time: the sweep's order among keys is not Redis's).
    "SET gone v PX 100",
    "sleep 1500",
    "SADD sgone m",
    "PEXPIRE sgone 100",
    "sleep 1500",
    // Types and a flush.
    "SET t v",
    "FLUSHALL",
];

/// The messages each command of `SCRIPT` made a subscriber receive from
/// the server at `addr`, one list of raw replies per line.
async fn notifications(addr: &str) -> Vec<Vec<Vec<u8>>> {
    let mut commands = Conn::connect(addr).await;
    let mut subscriber = Conn::connect(addr).await;
    assert_eq!(commands.call(&["FLUSHALL"]).await, b"+OK\r\n");
    let set = ["CONFIG", "SET", "notify-keyspace-events", "KEA"];
    assert_eq!(commands.call(&set).await, b"+OK\r\n");
    subscriber.call(&["PSUBSCRIBE", "__key*__:*"]).await;
    let mut seen = Vec::new();
    for line in SCRIPT {
        if let Some(ms) = line.strip_prefix("sleep ") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        } else {
            let args: Vec<&str> = line.split(' ').collect();
            commands.call(&args).await;
        }
        let marker = ["PUBLISH", "__keyevent@0__:marker", line];
        assert_eq!(commands.call(&marker).await, b":1\r\n", "{line}");
        let mut messages = Vec::new();
        loop {
            let message = subscriber.reply(&["(a message)"]).await;
            let marker = b"__keyevent@0__:marker\r\n";
            if message.windows(marker.len()).any(|w| w == marker) {
                break;
            }
            messages.push(message);
        }
        seen.push(messages);
    }
    assert_eq!(
        commands
            .call(&["CONFIG", "SET", "notify-keyspace-events", ""])
            .await,
        b"+OK\r\n"
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyspace_notifications_match_redis_server() {
    let servers = Servers::start().await;
    let (their_addr, our_addr) = servers.addrs();
    let theirs = notifications(&their_addr).await;
    let ours = notifications(&our_addr).await;
    servers.stop().await;
    let text = |messages: &Vec<Vec<u8>>| -> Vec<String> {
        messages
            .iter()
            .map(|m| String::from_utf8_lossy(m).replace("\r\n", " "))
            .collect()
    };
    let mismatches: Vec<String> = SCRIPT
        .iter()
        .zip(theirs.iter().zip(&ours))
        .filter(|(_, (t, o))| t != o)
        .map(|(line, (t, o))| {
            format!(
                "{line:?}:\n  redis:    {:?}\n  sessiond: {:?}",
                text(t),
                text(o)
            )
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The script announced something: a comparison of two silences would
    // prove nothing.
    let announced: usize = theirs.iter().map(Vec::len).sum();
    assert!(
        announced > 100,
        "redis-server sent only {announced} messages"
    );
}
