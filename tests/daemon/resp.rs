//! The Redis-protocol listener: RESP and inline requests, Redis's errors,
//! auth, HELLO 3, and the real `redis-cli` (from Debian's redis-tools,
//! installed by the test command; the test fails without it).

use std::process::Command;

use bytes::BytesMut;
use sessiond_server::{Secret, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Daemon;

pub(crate) async fn resp_daemon(config: ServerConfig) -> (Daemon, std::net::SocketAddr) {
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..config
    })
    .await;
    let addr = daemon.resp_addr.expect("a RESP listener");
    (daemon, addr)
}

/// Sends `request` and reads until `expected` bytes have arrived.
async fn exchange(stream: &mut TcpStream, request: &[u8], expected: usize) -> Vec<u8> {
    stream.write_all(request).await.unwrap();
    let mut got = BytesMut::new();
    while got.len() < expected {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_buf(&mut got))
                .await
                .expect("an answer in time")
                .unwrap();
        if read == 0 {
            break;
        }
    }
    got.to_vec()
}

pub(crate) async fn say(stream: &mut TcpStream, request: &str, answer: &str) {
    let got = exchange(stream, request.as_bytes(), answer.len()).await;
    assert_eq!(String::from_utf8_lossy(&got), answer, "after {request:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_keys_over_resp_and_inline_with_redis_errors() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n").await;
    say(&mut s, "PING hello\r\n", "$5\r\nhello\r\n").await;
    say(
        &mut s,
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n",
        "+OK\r\n",
    )
    .await;
    say(&mut s, "GET k\r\n", "$2\r\nv1\r\n").await;
    say(&mut s, "GET nope\r\n", "$-1\r\n").await;
    say(
        &mut s,
        "SET t x EX 100\r\nTTL t\r\nPTTL nope\r\n",
        "+OK\r\n:100\r\n:-2\r\n",
    )
    .await;
    say(
        &mut s,
        "INCR n\r\nINCRBY n 41\r\nDECR n\r\n",
        ":1\r\n:42\r\n:41\r\n",
    )
    .await;
    say(
        &mut s,
        "INCR k\r\n",
        "-ERR value is not an integer or out of range\r\n",
    )
    .await;
    say(&mut s, "DEL k t missing\r\n", ":2\r\n").await;
    say(
        &mut s,
        "GET\r\n",
        "-ERR wrong number of arguments for 'get' command\r\n",
    )
    .await;
    say(
        &mut s,
        "FOOBAR a b\r\n",
        "-ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' \r\n",
    )
    .await;
    say(
        &mut s,
        "SELECT 1\r\nSELECT 0\r\n",
        "-ERR DB index is out of range\r\n+OK\r\n",
    )
    .await;
    say(
        &mut s,
        "SET k v EX 0\r\n",
        "-ERR invalid expire time in 'set' command\r\n",
    )
    .await;
    // The native and RESP faces share one store.
    assert_eq!(daemon.store.get_key(b"n"), Some(b"41".to_vec()));
    say(&mut s, "QUIT\r\n", "+OK\r\n").await;
    assert!(
        exchange(&mut s, b"", 1).await.is_empty(),
        "closed after QUIT"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_bulk_length_is_a_protocol_error_that_closes_only_that_client() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut bystander = TcpStream::connect(addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let answer = "-ERR Protocol error: invalid bulk length\r\n";
    say(&mut s, "*1\r\n$-7\r\n", answer).await;
    assert!(exchange(&mut s, b"", 1).await.is_empty(), "then closed");
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "*1\r\n$99999999999\r\n", answer).await;
    say(&mut bystander, "PING\r\n", "+PONG\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_hello_three() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        auth_token: Some(Secret::new("pw-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "GET k\r\n", "-NOAUTH Authentication required.\r\n").await;
    say(
        &mut s,
        "AUTH wrong\r\n",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    )
    .await;
    say(
        &mut s,
        "AUTH default pw-padded-to-the-32-byte-minimum\r\n",
        "+OK\r\n",
    )
    .await;
    say(&mut s, "GET k\r\n", "$-1\r\n").await;
    let hello = exchange(&mut s, b"HELLO 3\r\n", 20).await;
    assert!(
        hello.starts_with(b"%7\r\n$6\r\nserver\r\n"),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    // Read the rest of the map before the next command.
    let mut rest = vec![0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), s.read(&mut rest)).await;
    say(&mut s, "GET k\r\n", "_\r\n").await;

    let mut other = TcpStream::connect(addr).await.unwrap();
    let hello = exchange(
        &mut other,
        b"HELLO 3 AUTH default pw-padded-to-the-32-byte-minimum\r\n",
        4,
    )
    .await;
    assert!(hello.starts_with(b"%7\r\n"));
    daemon.stop().await;
}

/// With no token, Redis 7's password-less `default` user takes any
/// password when named (AUTH's two-argument form and HELLO's AUTH), while
/// the bare `AUTH password` is still an error (compared byte for byte with
/// redis-server in differential.rs, except HELLO's reply, which has an id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_user_takes_any_password_when_there_is_no_token() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "AUTH default anything\r\n", "+OK\r\n").await;
    let hello = exchange(&mut s, b"HELLO 3 AUTH default anything\r\n", 4).await;
    assert!(
        hello.starts_with(b"%7\r\n"),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    let mut other = TcpStream::connect(addr).await.unwrap();
    say(
        &mut other,
        "HELLO 3 AUTH bob x\r\n",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    )
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_works_against_the_listener() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let cli = move |args: &[&str]| {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli (apt-get install redis-tools) is needed for this test");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let (set, get, ttl) = tokio::task::spawn_blocking(move || {
        (
            cli(&["SET", "greeting", "hello world", "EX", "60"]),
            cli(&["GET", "greeting"]),
            cli(&["TTL", "greeting"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(set.trim(), "OK");
    assert_eq!(get.trim(), "hello world");
    assert_eq!(ttl.trim(), "60");
    daemon.stop().await;
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_options_and_the_get_family() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "SET k v1 NX\r\nSET k v2 NX\r\n", "+OK\r\n$-1\r\n").await;
    say(
        &mut s,
        "SET k v3 XX GET\r\nSET nope v XX\r\n",
        "$2\r\nv1\r\n$-1\r\n",
    )
    .await;
    say(&mut s, "SET k v4 NX GET\r\n", "$2\r\nv3\r\n").await;
    say(
        &mut s,
        // TTL rounds to the nearest second, so a slow machine cannot make
        // this flaky the way an exact PTTL did; -1 would mean KEEPTTL lost it.
        "SET k v PX 5000\r\nSET k w KEEPTTL\r\nTTL k\r\n",
        "+OK\r\n+OK\r\n:5\r\n",
    )
    .await;
    say(&mut s, "SET k v EXAT 1\r\nEXISTS k\r\n", "+OK\r\n:0\r\n").await;
    say(&mut s, "SET k v EX 1 EX 20\r\nTTL k\r\n", "+OK\r\n:20\r\n").await;
    for bad in ["NX XX", "EX 1 PX 2", "KEEPTTL EX 1", "EX", "PERSIST", "FOO"] {
        say(
            &mut s,
            &format!("SET k v {bad}\r\n"),
            "-ERR syntax error\r\n",
        )
        .await;
    }
    for bad in ["EX 0", "PX -1", "EXAT 0", "EX 9999999999999999"] {
        say(
            &mut s,
            &format!("SET k v {bad}\r\n"),
            "-ERR invalid expire time in 'set' command\r\n",
        )
        .await;
    }
    say(
        &mut s,
        "SET k v EX abc\r\n",
        "-ERR value is not an integer or out of range\r\n",
    )
    .await;
    say(&mut s, "SETNX k x\r\nSETNX fresh x\r\n", ":0\r\n:1\r\n").await;
    say(
        &mut s,
        "GETSET fresh y\r\nGETSET none y\r\n",
        "$1\r\nx\r\n$-1\r\n",
    )
    .await;
    say(
        &mut s,
        "GETDEL fresh\r\nGETDEL fresh\r\n",
        "$1\r\ny\r\n$-1\r\n",
    )
    .await;
    say(
        &mut s,
        "SET g v\r\nGETEX g EX 100\r\nTTL g\r\n",
        "+OK\r\n$1\r\nv\r\n:100\r\n",
    )
    .await;
    say(&mut s, "GETEX g PERSIST\r\nTTL g\r\n", "$1\r\nv\r\n:-1\r\n").await;
    say(&mut s, "GETEX g PERSIST EX 1\r\n", "-ERR syntax error\r\n").await;
    say(
        &mut s,
        "GETEX g EX 0\r\n",
        "-ERR invalid expire time in 'getex' command\r\n",
    )
    .await;
    say(&mut s, "GETEX missing EX 0\r\n", "$-1\r\n").await;
    say(
        &mut s,
        "GETEX g PXAT 1\r\nEXISTS g\r\n",
        "$1\r\nv\r\n:0\r\n",
    )
    .await;
    say(
        &mut s,
        "MSET a 1 b 2\r\nMGET a nope b\r\n",
        "+OK\r\n*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n",
    )
    .await;
    say(
        &mut s,
        "MSET a 1 b\r\n",
        "-ERR wrong number of arguments for 'mset' command\r\n",
    )
    .await;
    say(
        &mut s,
        "EXISTS a a b nope\r\nTYPE a\r\nTYPE nope\r\n",
        ":3\r\n+string\r\n+none\r\n",
    )
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_conditions_persist_and_rename() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "SET k v\r\nEXPIRE k 100 XX\r\nEXPIRE k 100 GT\r\n",
        "+OK\r\n:0\r\n:0\r\n",
    )
    .await;
    say(
        &mut s,
        "EXPIRE k 100 LT\r\nEXPIRE k 50 NX\r\nTTL k\r\n",
        ":1\r\n:0\r\n:100\r\n",
    )
    .await;
    say(&mut s, "PEXPIRE k 200000 GT\r\nTTL k\r\n", ":1\r\n:200\r\n").await;
    say(
        &mut s,
        "EXPIRE k 10 NX XX\r\n",
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    )
    .await;
    say(
        &mut s,
        "EXPIRE k 10 GT LT\r\n",
        "-ERR GT and LT options at the same time are not compatible\r\n",
    )
    .await;
    say(
        &mut s,
        "EXPIRE k 10 FOO\r\n",
        "-ERR Unsupported option FOO\r\n",
    )
    .await;
    say(
        &mut s,
        "EXPIRE k abc\r\n",
        "-ERR value is not an integer or out of range\r\n",
    )
    .await;
    say(
        &mut s,
        "PERSIST k\r\nPERSIST k\r\nTTL k\r\n",
        ":1\r\n:0\r\n:-1\r\n",
    )
    .await;
    say(
        &mut s,
        "EXPIREAT k 4000000000\r\nPEXPIREAT nope 1\r\n",
        ":1\r\n:0\r\n",
    )
    .await;
    say(
        &mut s,
        "SET k v EX 100\r\nRENAME k k2\r\nTTL k2\r\nEXISTS k\r\n",
        "+OK\r\n+OK\r\n:100\r\n:0\r\n",
    )
    .await;
    say(&mut s, "RENAME nope x\r\n", "-ERR no such key\r\n").await;
    say(&mut s, "EXPIRE k2 0\r\nEXISTS k2\r\n", ":1\r\n:0\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_keyspace_iteration_and_flush() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "SADD s b a b\r\nSADD s c\r\nSCARD s\r\n",
        ":2\r\n:1\r\n:3\r\n",
    )
    .await;
    say(&mut s, "SISMEMBER s a\r\nSISMEMBER s z\r\n", ":1\r\n:0\r\n").await;
    say(
        &mut s,
        "SMEMBERS s\r\n",
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    )
    .await;
    say(&mut s, "SREM s a z\r\nTYPE s\r\n", ":1\r\n+set\r\n").await;
    say(
        &mut s,
        "GET s\r\nINCR s\r\nGETSET s x\r\n",
        &WRONGTYPE.repeat(3),
    )
    .await;
    say(
        &mut s,
        "SET str v\r\nSADD str a\r\nSMEMBERS str\r\n",
        &format!("+OK\r\n{WRONGTYPE}{WRONGTYPE}"),
    )
    .await;
    say(&mut s, "SMEMBERS nope\r\nSCARD nope\r\n", "*0\r\n:0\r\n").await;
    say(
        &mut s,
        "SADD s\r\n",
        "-ERR wrong number of arguments for 'sadd' command\r\n",
    )
    .await;
    say(&mut s, "DBSIZE\r\n", ":2\r\n").await;
    let keys = exchange(&mut s, b"KEYS s*\r\n", 20).await;
    let keys = String::from_utf8(keys).unwrap();
    assert!(
        keys.starts_with("*2\r\n")
            && keys.contains("$1\r\ns\r\n")
            && keys.contains("$3\r\nstr\r\n"),
        "{keys}"
    );
    say(
        &mut s,
        "SCAN 0 TYPE set\r\n",
        "*2\r\n$1\r\n0\r\n*1\r\n$1\r\ns\r\n",
    )
    .await;
    say(
        &mut s,
        "SCAN 0 MATCH st*\r\n",
        "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nstr\r\n",
    )
    .await;
    say(&mut s, "SCAN abc\r\n", "-ERR invalid cursor\r\n").await;
    say(
        &mut s,
        "SCAN 0 COUNT 0\r\nSCAN 0 MATCH\r\n",
        "-ERR syntax error\r\n-ERR syntax error\r\n",
    )
    .await;
    assert!(
        exchange(&mut s, b"HELLO 3\r\n", 4)
            .await
            .starts_with(b"%7\r\n")
    );
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        s.read(&mut [0; 4096]),
    )
    .await;
    say(&mut s, "SMEMBERS s\r\n", "~2\r\n$1\r\nb\r\n$1\r\nc\r\n").await;
    say(
        &mut s,
        "FLUSHDB\r\nDBSIZE\r\nFLUSHALL ASYNC\r\nFLUSHALL x\r\n",
        "+OK\r\n:0\r\n+OK\r\n-ERR syntax error\r\n",
    )
    .await;
    assert_eq!(daemon.store.stats().bytes_used, 0);
    let time = exchange(&mut s, b"TIME\r\n", 30).await;
    assert!(
        time.starts_with(b"*2\r\n$10\r\n"),
        "{}",
        String::from_utf8_lossy(&time)
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_made_over_resp_is_wrong_type_for_the_native_protocol() {
    use sessiond::StoreError;
    use sessiond_protocol::wire::{Request, ServerError};

    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "SADD owner:alice s1 s2\r\n", ":2\r\n").await;
    let mut native = crate::Raw::connect(daemon.addr).await;
    let get = Request::KeyGet {
        key: b"owner:alice".to_vec(),
    };
    assert_eq!(
        native.call(&get).await,
        Err(ServerError::Store(StoreError::WrongType))
    );
    let incr = Request::KeyIncr {
        key: b"owner:alice".to_vec(),
        delta: 1,
    };
    assert_eq!(
        native.call(&incr).await,
        Err(ServerError::Store(StoreError::WrongType))
    );
    daemon.stop().await;
}

/// Sends `request` and reads one whole reply, parsed by the `redis` crate.
pub(crate) async fn reply(stream: &mut TcpStream, request: &str) -> redis::Value {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = BytesMut::new();
    loop {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_buf(&mut got))
                .await
                .expect("an answer in time")
                .unwrap();
        assert!(read > 0, "closed before a whole reply to {request:?}");
        if let Ok(value) = redis::parse_redis_value(&got) {
            return value;
        }
    }
}

pub(crate) fn bulk(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// A map reply as pairs, from a RESP3 map or a RESP2 flat array.
pub(crate) fn pairs(value: &redis::Value) -> Vec<(String, redis::Value)> {
    match value {
        redis::Value::Map(items) => items.iter().map(|(k, v)| (bulk(k), v.clone())).collect(),
        redis::Value::Array(items) => items
            .chunks(2)
            .map(|kv| (bulk(&kv[0]), kv[1].clone()))
            .collect(),
        other => panic!("not a map: {other:?}"),
    }
}

pub(crate) fn field(value: &redis::Value, name: &str) -> redis::Value {
    pairs(value)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {value:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_commands_map_to_the_native_operations() {
    use redis::Value as V;
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let created = reply(
        &mut s,
        "SESSION.CREATE alice DATA hello IDLE 600 LIFETIME 0 LABEL ua Firefox\r\n",
    )
    .await;
    let id = bulk(&created);
    assert_eq!(id.len(), 22);
    assert_eq!(
        daemon.store.count(b"alice"),
        1,
        "one store behind both faces"
    );

    // RESP2: a flat array, labels a nested one, no absolute deadline.
    let got = reply(&mut s, &format!("SESSION.GET {id}\r\n")).await;
    assert!(matches!(got, V::Array(_)), "{got:?}");
    assert_eq!(bulk(&field(&got, "owner")), "alice");
    assert_eq!(bulk(&field(&got, "data")), "hello");
    assert_eq!(bulk(&field(&got, "id")), id);
    assert_eq!(field(&got, "version"), V::Int(1));
    assert_eq!(field(&got, "idle"), V::Int(600));
    assert_eq!(field(&got, "absolute"), V::Nil);
    let labels = pairs(&field(&got, "labels"));
    assert_eq!(
        labels,
        vec![("ua".into(), V::BulkString(b"Firefox".to_vec()))]
    );
    let V::Int(expires) = field(&got, "expires_at") else {
        panic!("expires_at is an integer")
    };
    let V::Int(last_seen) = field(&got, "last_seen") else {
        panic!("last_seen is an integer")
    };
    assert_eq!(expires, last_seen + 600);

    say(&mut s, &format!("SESSION.SET {id} world\r\n"), ":2\r\n").await;
    say(
        &mut s,
        &format!("SESSION.SET {id} again VERSION 1\r\n"),
        "-VERSIONMISMATCH expected 1, session is at 2\r\n",
    )
    .await;
    say(
        &mut s,
        &format!("SESSION.SET {id} again VERSION 2\r\n"),
        ":3\r\n",
    )
    .await;
    assert!(matches!(
        reply(&mut s, &format!("SESSION.TOUCH {id}\r\n")).await,
        V::Int(at) if at >= expires
    ));
    let peeked = reply(&mut s, &format!("SESSION.GET {id} notouch\r\n")).await;
    assert_eq!(bulk(&field(&peeked, "data")), "again");
    say(&mut s, "SESSION.COUNT alice\r\n", ":1\r\n").await;
    let V::Array(list) = reply(&mut s, "SESSION.LIST alice\r\n").await else {
        panic!("LIST is an array")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(bulk(&field(&list[0], "id")), id);
    assert!(pairs(&list[0]).iter().all(|(k, _)| k != "data"), "no data");

    // Rotation: the old id is gone (null), the new one works.
    let rotated = bulk(&reply(&mut s, &format!("SESSION.ROTATE {id}\r\n")).await);
    assert_ne!(rotated, id);
    say(&mut s, &format!("SESSION.GET {id}\r\n"), "$-1\r\n").await;
    say(&mut s, &format!("SESSION.TOUCH {id}\r\n"), "$-1\r\n").await;
    say(&mut s, &format!("SESSION.ROTATE {id}\r\n"), "$-1\r\n").await;
    say(&mut s, &format!("SESSION.SET {id} x\r\n"), "$-1\r\n").await;

    // The per-owner limit, a caller's id, DELOWNER with KEEP, DEL.
    say(
        &mut s,
        "SESSION.CREATE alice LIMIT 1 REJECT\r\n",
        "-SESSIONLIMIT owner already has 1 sessions\r\n",
    )
    .await;
    let mine = sessiond_protocol::SessionId::random().to_string();
    let created = reply(
        &mut s,
        &format!("SESSION.CREATE alice ID {mine} IDLE 60\r\n"),
    )
    .await;
    assert_eq!(bulk(&created), mine);
    say(
        &mut s,
        &format!("SESSION.CREATE bob ID {mine}\r\n"),
        "-ERR session id is already in use\r\n",
    )
    .await;
    say(
        &mut s,
        &format!("SESSION.DELOWNER alice KEEP {mine}\r\nSESSION.COUNT alice\r\n"),
        ":1\r\n:1\r\n",
    )
    .await;
    say(
        &mut s,
        &format!("SESSION.DEL {mine}\r\nSESSION.DEL {mine}\r\nSESSION.DELOWNER alice\r\n"),
        ":1\r\n:0\r\n:0\r\n",
    )
    .await;

    // Bad input: Redis-style errors, the connection stays.
    for (request, answer) in [
        ("SESSION.GET short\r\n", "-ERR invalid session id\r\n"),
        (
            "SESSION.DEL AAAAAAAAAAAAAAAAAAAAA!\r\n",
            "-ERR invalid session id\r\n",
        ),
        (
            "SESSION.CREATE\r\n",
            "-ERR wrong number of arguments for 'session.create' command\r\n",
        ),
        (
            "SESSION.TOUCH a b\r\n",
            "-ERR wrong number of arguments for 'session.touch' command\r\n",
        ),
        ("SESSION.CREATE alice BOGUS\r\n", "-ERR syntax error\r\n"),
        ("SESSION.CREATE alice IDLE\r\n", "-ERR syntax error\r\n"),
        (
            "SESSION.CREATE alice IDLE soon\r\n",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "SESSION.CREATE alice LIMIT 2 MAYBE\r\n",
            "-ERR syntax error\r\n",
        ),
        (
            "SESSION.CREATE alice IDLE 0 LIFETIME 0\r\n",
            "-ERR invalid timeout: a session needs an idle timeout or an absolute lifetime\r\n",
        ),
    ] {
        say(&mut s, request, answer).await;
    }
    say(&mut s, "PING\r\n", "+PONG\r\n").await;

    // RESP3: a real map, labels a nested map, null as `_`.
    assert!(matches!(reply(&mut s, "HELLO 3\r\n").await, V::Map(_)));
    let fresh = reply(
        &mut s,
        "SESSION.CREATE carol IDLE 60 LABEL ip 192.0.2.7\r\n",
    )
    .await;
    let got = reply(&mut s, &format!("SESSION.GET {}\r\n", bulk(&fresh))).await;
    assert!(matches!(got, V::Map(_)), "{got:?}");
    assert!(matches!(field(&got, "labels"), V::Map(l) if l.len() == 1));
    // The store's default absolute lifetime applies.
    assert!(matches!(field(&got, "absolute"), V::Int(_)));
    say(&mut s, &format!("SESSION.GET {id}\r\n"), "_\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_command_and_reset() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        auth_token: Some(Secret::new("pw-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "AUTH pw-padded-to-the-32-byte-minimum\r\nSET k v EX 100\r\n",
        "+OK\r\n+OK\r\n",
    )
    .await;
    let info = bulk(&reply(&mut s, "INFO\r\n").await);
    for line in [
        "# Server\r\nredis_version:",
        "# Clients\r\nconnected_clients:1\r\n",
        "# Memory\r\nused_memory:",
        "used_memory_rss:",
        "# Persistence\r\nloading:0\r\n",
        "aof_enabled:0\r\n",
        "aof_last_write_status:ok\r\n",
        "# Keyspace\r\ndb0:keys=1,expires=1,avg_ttl=",
    ] {
        assert!(info.contains(line), "{line:?} in {info}");
    }
    let memory = bulk(&reply(&mut s, "INFO memory\r\n").await);
    assert!(memory.starts_with("# Memory\r\n"), "{memory}");
    assert!(!memory.contains("# Server"));
    say(&mut s, "INFO nosuchsection\r\n", "$0\r\n\r\n").await;

    let redis::Value::Int(count) = reply(&mut s, "COMMAND COUNT\r\n").await else {
        panic!("COMMAND COUNT is an integer")
    };
    let redis::Value::Array(all) = reply(&mut s, "COMMAND\r\n").await else {
        panic!("COMMAND is an array")
    };
    assert_eq!(all.len() as i64, count);
    say(&mut s, "COMMAND DOCS\r\n", "*0\r\n").await;
    let redis::Value::Array(entries) = reply(&mut s, "COMMAND INFO get nosuch\r\n").await else {
        panic!("COMMAND INFO is an array")
    };
    assert_eq!(entries[1], redis::Value::Nil);
    let redis::Value::Array(get) = &entries[0] else {
        panic!("an entry is an array")
    };
    assert_eq!(
        get[..2],
        [
            redis::Value::BulkString(b"get".to_vec()),
            redis::Value::Int(2)
        ]
    );

    // RESET: back to RESP2, no name, and not authenticated.
    say(&mut s, "CLIENT SETNAME me\r\n", "+OK\r\n").await;
    let _ = reply(&mut s, "HELLO 3\r\n").await;
    say(&mut s, "RESET\r\n", "+RESET\r\n").await;
    say(&mut s, "GET k\r\n", "-NOAUTH Authentication required.\r\n").await;
    say(
        &mut s,
        "RESET\r\nAUTH pw-padded-to-the-32-byte-minimum\r\n",
        "+RESET\r\n+OK\r\n",
    )
    .await;
    say(&mut s, "CLIENT GETNAME\r\nGET nope\r\n", "$-1\r\n$-1\r\n").await;
    daemon.stop().await;
}
