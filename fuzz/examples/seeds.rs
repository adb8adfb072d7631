//! Writes the seed corpora of the RESP and persistence targets; run once
//! by hand, its output committed:
//!
//!     cargo run -p sessiond-fuzz --example seeds
//!
//! The persistence seeds are files the engine itself wrote: a log of a
//! few sessions and keys (creates, an update, a touch, a rotation, a
//! delete, string and set keys, a TTL, a key deleted), the log after a
//! compaction, and the snapshot the compaction wrote; and the first log's
//! and the snapshot's record bodies alone, each after a `u16` length,
//! which the targets frame themselves. The RESP seeds are
//! the bytes redis-cli and client libraries send (arrays of bulk
//! strings, pipelined) and what telnet sends (inline commands), each
//! after the target's first byte, which picks where the input splits.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sessiond::{FsyncPolicy, Labels, ManualClock, NewSession, PersistConfig, Store, StoreConfig};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A RESP array of bulk strings, as every client library sends a command.
fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn write_resp_seeds() {
    let dir = corpus("resp_pipeline");
    let seeds: Vec<(&str, u8, Vec<u8>)> = vec![
        ("ping", 0x80, command(&[b"PING"])),
        (
            "hello-auth-setname",
            0x40,
            [
                command(&[b"HELLO", b"3", b"AUTH", b"default", b"s3cret"]),
                command(&[b"CLIENT", b"SETNAME", b"web-1"]),
            ]
            .concat(),
        ),
        (
            "pipeline-keys",
            0xa3,
            [
                command(&[b"SET", b"attempts:user:42", b"0", b"EX", b"900", b"NX"]),
                command(&[b"INCR", b"attempts:user:42"]),
                command(&[b"SADD", b"roles:42", b"admin", b"editor"]),
                command(&[b"SMEMBERS", b"roles:42"]),
                command(&[b"TTL", b"attempts:user:42"]),
                command(&[b"DEL", b"attempts:user:42", b"roles:42"]),
            ]
            .concat(),
        ),
        (
            "pipeline-binary-and-empty",
            0x11,
            [
                command(&[b"SET", b"k\r\n", b"\x00\xff\r\n$3\r\n", b"PX", b"1500"]),
                command(&[b"GET", b""]),
                b"*0\r\n*-1\r\n".to_vec(),
                command(&[b"SCAN", b"0", b"MATCH", b"sess:*", b"COUNT", b"100"]),
            ]
            .concat(),
        ),
        (
            "inline-telnet",
            0x7f,
            b"PING\r\nSET greeting \"hello world\\n\\x41\"\r\nGET 'it\\'s'\n\r\nQUIT\r\n".to_vec(),
        ),
        (
            "partial-tail",
            0xff,
            [
                command(&[b"GET", b"k"]),
                b"*2\r\n$3\r\nGET\r\n$5\r\nhel".to_vec(),
            ]
            .concat(),
        ),
        (
            "protocol-error",
            0x05,
            b"*1\r\n$4\r\nPING\r\n*1\r\n+OK\r\n".to_vec(),
        ),
    ];
    for (name, cut, bytes) in seeds {
        fs::write(dir.join(name), [&[cut][..], &bytes].concat()).unwrap();
    }
}

fn write_persistence_seeds() {
    let data = std::env::temp_dir().join(format!("sessiond-fuzz-seeds-{}", std::process::id()));
    let _ = fs::remove_dir_all(&data);
    let clock = ManualClock::new(1_700_000_000_000);
    let open = || {
        let mut persist = PersistConfig::new(&data);
        persist.fsync = FsyncPolicy::Always;
        let config = StoreConfig {
            shards: 2,
            background_expiry: false,
            ..StoreConfig::default()
        };
        Store::open_with_clock(config, persist, clock.clone())
            .unwrap()
            .0
    };
    let store = open();
    let laptop = store
        .create(
            NewSession::new("user:42")
                .data(b"{\"theme\":\"dark\"}".to_vec())
                .labels(
                    Labels::new()
                        .with("ua", "Firefox on Linux")
                        .with("ip", "::1"),
                ),
        )
        .unwrap();
    let phone = store.create(NewSession::new("user:7")).unwrap();
    store
        .update(&laptop, b"{\"theme\":\"light\"}", None)
        .unwrap();
    clock.advance(Duration::from_secs(120));
    store.get(&laptop).unwrap(); // a TOUCH: last seen moves a slack on
    let phone = store.rotate(&phone).unwrap();
    store.delete(&phone).unwrap();
    store
        .set_key(b"attempts:user:42", b"3", Some(Duration::from_secs(900)))
        .unwrap();
    store
        .set_add(b"roles:42", &[&b"admin"[..], b"editor", b""])
        .unwrap();
    store.set_key(b"gone", b"x", None).unwrap();
    store.delete_key(b"gone").unwrap();
    drop(store);
    let log = data.join("log-00000000000000000001.aof");
    fs::copy(&log, corpus("persist_log").join("engine-log")).unwrap();

    let store = open();
    store.compact().unwrap().expect("a compaction");
    store.set_key(b"after", b"compaction", None).unwrap();
    drop(store);
    let snapshot = data.join("snapshot-00000000000000000002.snap");
    fs::copy(
        &snapshot,
        corpus("persist_snapshot").join("engine-snapshot"),
    )
    .unwrap();
    let log = data.join("log-00000000000000000002.aof");
    fs::copy(
        &log,
        corpus("persist_log").join("engine-log-after-compaction"),
    )
    .unwrap();
    fs::remove_dir_all(&data).unwrap();

    // The same records as the targets' other form takes them: bodies
    // alone, each after a u16 length (the target frames them itself).
    for (target, name) in [
        ("persist_log", "engine-log"),
        ("persist_snapshot", "engine-snapshot"),
    ] {
        let file = fs::read(corpus(target).join(name)).unwrap();
        let mut bodies = Vec::new();
        let mut at = 24;
        while at + 12 <= file.len() {
            let len = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            let body = &file[at + 12..at + 12 + len];
            // A snapshot's END is added by the target.
            if !(target == "persist_snapshot" && body[0] == 7) {
                bodies.extend_from_slice(&(len as u16).to_le_bytes());
                bodies.extend_from_slice(body);
            }
            at += 12 + len;
        }
        fs::write(corpus(target).join(format!("{name}-bodies")), bodies).unwrap();
    }
}

fn main() {
    write_resp_seeds();
    write_persistence_seeds();
}
