//! MONITOR against redis-server's: a monitor connection must see, for each
//! command of the script, the same lines as from Redis 7.0.15 (which
//! commands are shown, in which order, how each argument is quoted, what
//! is redacted), once each line's time and client address are set aside;
//! those are checked for their shape instead.
//!
//! After each entry of the script (a command, or a transaction's commands
//! separated by ` | `) the commanding connection sends `ECHO <marker>`,
//! which every monitor shows; the lines before it are the entry's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Conn, Servers};

const SCRIPT: &[&str] = &[
    "SET a 1",
    "get a",
    "INCR a",
    // A command that fails as it runs is shown; one refused before it
    // runs (unknown, wrong arity) is not.
    "HSET a f v",
    "NOSUCH x",
    "GET",
    // Administrators' commands are hidden, their HELP is not.
    "CONFIG GET maxmemory",
    "CONFIG HELP",
    "CLIENT LIST",
    "CLIENT SETNAME watcher",
    "CLIENT GETNAME",
    "CLIENT ID",
    "SLOWLOG LEN",
    "LATENCY LATEST",
    "RESET",
    // Passwords never show.
    "AUTH nopassword",
    "AUTH default nopassword",
    "HELLO 2 AUTH default nopassword SETNAME n",
    "HELLO 2 SETNAME m",
    // A transaction (one entry: the marker would be queued): its commands
    // as EXEC runs them, then EXEC.
    "MULTI | SET t 1 | GET t | EXEC",
    "MULTI | SET t 1 | NOSUCH | EXEC",
    "MULTI | DISCARD",
    // Scripts: the script's command first, then what it ran.
    "EVAL redis.call('set','s','x\\n\"y\\\\');return-redis.pcall('incr','s')['err'] 0",
    "EVAL return-redis.pcall('nosuch') 0",
    "SCRIPT LOAD return-redis.call('get',KEYS[1])",
    "EVALSHA fd758d1589d044dd850a6f05d52f2eefd27f033f 1 s",
    "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0",
    "MULTI | EVAL return-redis.call('get','s') 0 | SET u 2 | EXEC",
    // Sets, hashes, expiry, pub/sub.
    "SADD set x y",
    "HSET h f v g w",
    "HGETALL h",
    "EXPIRE h 100",
    "PUBLISH chan hello",
    "DEL a t s u set h",
    "PING",
];

/// The lines a monitor saw for each command of `SCRIPT` on the server at
/// `addr`, each with its time and address replaced by `[client]` or
/// `[lua]` once their shape is checked.
async fn monitored(addr: &str) -> Vec<Vec<String>> {
    let mut commands = Conn::connect(addr).await;
    let mut monitor = Conn::connect(addr).await;
    assert_eq!(commands.call(&["FLUSHALL"]).await, b"+OK\r\n");
    assert_eq!(monitor.call(&["MONITOR"]).await, b"+OK\r\n");
    let mut seen = Vec::new();
    for (n, line) in SCRIPT.iter().enumerate() {
        for command in line.split(" | ") {
            // `-` stands for a space inside an argument.
            let args: Vec<String> = command.split(' ').map(|a| a.replace('-', " ")).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            commands.call(&args).await;
        }
        let marker = format!("marker-{n}");
        commands.call(&["ECHO", &marker]).await;
        let mut lines = Vec::new();
        loop {
            let raw = monitor.reply(&["(a monitor line)"]).await;
            let text = String::from_utf8(raw).expect("a monitor line is ASCII");
            let shown = normalized(&text);
            if shown == format!("[client] \"ECHO\" \"{marker}\"") {
                break;
            }
            lines.push(shown);
        }
        seen.push(lines);
    }
    seen
}

/// `+1796293230.722431 [0 127.0.0.1:48380] "set" "a" "1"\r\n` ->
/// `[client] "set" "a" "1"`, after checking the time is now and the
/// address is the loopback's.
fn normalized(line: &str) -> String {
    let body = line
        .strip_prefix('+')
        .and_then(|l| l.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let (time, rest) = body.split_once(' ').expect("a time first");
    let (seconds, micros) = time.split_once('.').expect("seconds.microseconds");
    assert_eq!(micros.len(), 6, "{line:?}");
    let seconds: u64 = seconds.parse().expect("seconds");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        now.abs_diff(Duration::from_secs(seconds)) < Duration::from_secs(60),
        "{line:?} is not now"
    );
    if let Some(rest) = rest.strip_prefix("[0 lua] ") {
        return format!("[lua] {rest}");
    }
    let rest = rest
        .strip_prefix("[0 127.0.0.1:")
        .unwrap_or_else(|| panic!("no client address in {line:?}"));
    let (port, rest) = rest.split_once("] ").expect("the address ends");
    port.parse::<u16>().expect("a port");
    format!("[client] {rest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_matches_redis_server() {
    let servers = Servers::start().await;
    let (their_addr, our_addr) = servers.addrs();
    let theirs = monitored(&their_addr).await;
    let ours = monitored(&our_addr).await;
    servers.stop().await;
    let mismatches: Vec<String> = SCRIPT
        .iter()
        .zip(theirs.iter().zip(&ours))
        .filter(|(_, (t, o))| t != o)
        .map(|(line, (t, o))| format!("{line:?}:\n  redis:    {t:?}\n  sessiond: {o:?}"))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let shown: usize = theirs.iter().map(Vec::len).sum();
    assert!(shown > 40, "redis-server showed only {shown} lines");
}
