//! The Redis face's server and client introspection: CONFIG GET/SET and
//! their live effects, INFO's sections, CLIENT LIST/KILL/PAUSE/REPLY,
//! SLOWLOG, and `redis-benchmark`'s CONFIG fetch.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::resp::{bulk, pairs, reply, resp_daemon, say};

/// Reads until the peer closes; panics if it has not within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) {
    let mut scratch = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut scratch)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was not closed within {within:?}"),
        }
    }
}

/// One INFO reply's `key:value` lines, by key.
fn fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn value_of<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in INFO"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_set_changes_the_memory_limit_and_policy_live() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "CONFIG SET maxmemory 1\r\n", "+OK\r\n").await;
    say(
        &mut s,
        "SET k v\r\n",
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n",
    )
    .await;
    let got = pairs(&reply(&mut s, "CONFIG GET maxmemory\r\n").await);
    assert_eq!(bulk(&got[0].1), "1");
    assert_eq!(daemon.store.stats().memory_limit, Some(1));
    say(
        &mut s,
        "CONFIG SET maxmemory 0\r\nSET k v\r\n",
        "+OK\r\n+OK\r\n",
    )
    .await;
    assert_eq!(daemon.store.stats().memory_limit, None);
    // All or nothing: a bad second value leaves the first unchanged.
    say(
        &mut s,
        "CONFIG SET maxmemory 10mb maxmemory-policy allkeys-lru\r\n",
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - \
         'allkeys-lru' is not supported here: sessiond evicts the sessions nearest their \
         deadline (volatile-ttl) or nothing (noeviction)\r\n",
    )
    .await;
    assert_eq!(daemon.store.stats().memory_limit, None);
    say(
        &mut s,
        "CONFIG SET maxmemory-policy volatile-ttl\r\n",
        "+OK\r\n",
    )
    .await;
    assert_eq!(
        daemon.store.memory_policy(),
        sessiond::MemoryPolicy::EvictNearestDeadline
    );
    let got = pairs(&reply(&mut s, "CONFIG GET maxmemory* notify*\r\n").await);
    let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "maxmemory",
            "maxmemory-policy",
            "maxmemory-samples",
            "notify-keyspace-events"
        ]
    );
    assert_eq!(bulk(&got[1].1), "volatile-ttl");
    say(
        &mut s,
        "CONFIG REWRITE\r\n",
        "-ERR CONFIG REWRITE is not supported: sessiond never rewrites its settings (flags, \
         SESSIOND_* variables, its TOML file); CONFIG SET lasts until the server restarts\r\n",
    )
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_set_timeout_closes_idle_connections_and_maxclients_refuses_new_ones() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    say(&mut idle, "PING\r\n", "+PONG\r\n").await;
    let mut admin = TcpStream::connect(addr).await.unwrap();
    say(&mut admin, "CONFIG SET timeout 1\r\n", "+OK\r\n").await;
    let got = pairs(&reply(&mut admin, "CONFIG GET timeout\r\n").await);
    assert_eq!(bulk(&got[0].1), "1");
    // The idle one was waiting on the old 300 s; it goes within ~1 s.
    closed_within(&mut idle, Duration::from_secs(4)).await;
    // So did the admin connection, idle as long; a new one sets it back.
    closed_within(&mut admin, Duration::from_secs(4)).await;
    let mut admin = TcpStream::connect(addr).await.unwrap();
    say(&mut admin, "CONFIG SET timeout 0\r\n", "+OK\r\n").await;

    // Two open (admin, and one more), a third is refused.
    say(&mut admin, "CONFIG SET maxclients 2\r\n", "+OK\r\n").await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    say(&mut second, "PING\r\n", "+PONG\r\n").await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut got = BytesMut::new();
    while !got.ends_with(b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), third.read_buf(&mut got))
            .await
            .expect("a refusal in time")
            .unwrap();
        assert!(n > 0, "closed without a refusal");
    }
    assert_eq!(&got[..], b"-ERR max number of clients reached\r\n");
    say(&mut admin, "CONFIG SET maxclients 10000\r\n", "+OK\r\n").await;
    drop(third);
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    say(&mut fourth, "PING\r\n", "+PONG\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_list_shows_named_connections_and_kill_closes_another() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    say(&mut a, "CLIENT SETNAME alpha\r\n", "+OK\r\n").await;
    say(&mut b, "CLIENT SETNAME beta\r\nGET x\r\n", "+OK\r\n$-1\r\n").await;
    let list = bulk(&reply(&mut a, "CLIENT LIST\r\n").await);
    let mut lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    // Listed by id; which of two connections opened together the server
    // accepted first is the kernel's and the accept loop's to say.
    lines.sort_by_key(|line| !line.contains(" name=alpha "));
    assert!(lines[0].contains(" name=alpha "), "{list}");
    assert!(lines[0].contains(" cmd=client|list "), "{list}");
    assert!(lines[1].contains(" name=beta "), "{list}");
    assert!(lines[1].contains(" cmd=get "), "{list}");
    for field in [
        "laddr=",
        "fd=",
        "age=",
        "idle=",
        "flags=N",
        "db=0",
        "user=default",
        "resp=2",
    ] {
        assert!(lines[1].contains(field), "{field} in {list}");
    }
    let b_id: u64 = lines[1]
        .strip_prefix("id=")
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let b_addr = lines[1]
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_owned();
    let info = bulk(&reply(&mut b, "CLIENT INFO\r\n").await);
    assert!(
        info.starts_with(&format!("id={b_id} addr={b_addr} ")),
        "{info}"
    );
    // SKIPME (the default) spares the asker even when it matches.
    let own = bulk(&reply(&mut a, "CLIENT INFO\r\n").await);
    let own_addr = own
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_owned();
    say(
        &mut a,
        &format!("CLIENT KILL ADDR {own_addr}\r\n"),
        ":0\r\n",
    )
    .await;
    say(&mut a, &format!("CLIENT KILL ID {b_id}\r\n"), ":1\r\n").await;
    closed_within(&mut b, Duration::from_secs(2)).await;
    let list = bulk(&reply(&mut a, "CLIENT LIST\r\n").await);
    assert_eq!(list.lines().count(), 1, "{list}");
    // The old form names an address and may close the asker itself.
    let mut c = TcpStream::connect(addr).await.unwrap();
    let c_info = bulk(&reply(&mut c, "CLIENT INFO\r\n").await);
    let c_addr = c_info
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_owned();
    say(&mut c, &format!("CLIENT KILL {c_addr}\r\n"), "+OK\r\n").await;
    closed_within(&mut c, Duration::from_secs(2)).await;
    say(
        &mut a,
        "CLIENT KILL 127.0.0.1:1\r\n",
        "-ERR No such client\r\n",
    )
    .await;
    say(&mut a, "CLIENT KILL USER default SKIPME yes\r\n", ":0\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_pause_write_holds_writes_but_not_reads() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut admin = TcpStream::connect(addr).await.unwrap();
    let mut other = TcpStream::connect(addr).await.unwrap();
    say(&mut other, "SET k v\r\n", "+OK\r\n").await;
    // The pause runs from when the server took the command, which is
    // after `asked` and before `start`.
    let asked = Instant::now();
    say(&mut admin, "CLIENT PAUSE 600 WRITE\r\n", "+OK\r\n").await;
    let start = Instant::now();
    say(&mut other, "GET k\r\n", "$1\r\nv\r\n").await;
    assert!(
        start.elapsed() < Duration::from_millis(400),
        "a read passes"
    );
    say(&mut other, "SET k w\r\n", "+OK\r\n").await;
    assert!(
        asked.elapsed() >= Duration::from_millis(550),
        "the write waited: {:?}",
        asked.elapsed()
    );
    // UNPAUSE lets a held write go at once.
    say(&mut admin, "CLIENT PAUSE 5000 WRITE\r\n", "+OK\r\n").await;
    let start = Instant::now();
    other.write_all(b"SET k x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    say(&mut admin, "CLIENT UNPAUSE\r\n", "+OK\r\n").await;
    say(&mut other, "", "+OK\r\n").await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    say(&mut other, "GET k\r\n", "$1\r\nx\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reply_off_and_skip_drop_answers() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // OFF: nothing until ON, whose OK is the first answer.
    say(
        &mut s,
        "CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n",
        "+OK\r\n$1\r\n1\r\n",
    )
    .await;
    // SKIP: its own answer and the next one are dropped.
    say(
        &mut s,
        "CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\n",
        "$1\r\n2\r\n",
    )
    .await;
    say(&mut s, "CLIENT REPLY maybe\r\n", "-ERR syntax error\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowlog_records_commands_over_its_threshold() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "CLIENT SETNAME slow\r\nSET quick 1\r\n",
        "+OK\r\n+OK\r\n",
    )
    .await;
    say(&mut s, "SLOWLOG LEN\r\n", ":0\r\n").await;
    say(
        &mut s,
        "CONFIG SET slowlog-log-slower-than 0\r\n",
        "+OK\r\n",
    )
    .await;
    say(&mut s, "SET slowkey value\r\n", "+OK\r\n").await;
    let redis::Value::Array(entries) = reply(&mut s, "SLOWLOG GET 1\r\n").await else {
        panic!("SLOWLOG GET is an array")
    };
    assert_eq!(entries.len(), 1);
    let redis::Value::Array(entry) = &entries[0] else {
        panic!("an entry is an array")
    };
    assert_eq!(entry.len(), 6);
    let redis::Value::Array(args) = &entry[3] else {
        panic!("arguments are an array")
    };
    let args: Vec<String> = args.iter().map(bulk).collect();
    assert_eq!(args, ["SET", "slowkey", "value"]);
    assert!(bulk(&entry[4]).starts_with("127.0.0.1:"));
    assert_eq!(bulk(&entry[5]), "slow");
    let redis::Value::Int(len) = reply(&mut s, "SLOWLOG LEN\r\n").await else {
        panic!("LEN is an integer")
    };
    assert!(len >= 3, "CONFIG SET, SET and SLOWLOG GET: {len}");
    say(
        &mut s,
        "CONFIG SET slowlog-max-len 2\r\nSLOWLOG LEN\r\n",
        "+OK\r\n:2\r\n",
    )
    .await;
    say(
        &mut s,
        "CONFIG SET slowlog-log-slower-than -1\r\n",
        "+OK\r\n",
    )
    .await;
    say(&mut s, "SLOWLOG RESET\r\nSLOWLOG LEN\r\n", "+OK\r\n:0\r\n").await;
    // Passwords never reach the log.
    say(
        &mut s,
        "CONFIG SET slowlog-log-slower-than 0\r\n",
        "+OK\r\n",
    )
    .await;
    let _ = reply(&mut s, "AUTH secret\r\n").await;
    let all = format!("{:?}", reply(&mut s, "SLOWLOG GET -1\r\n").await);
    assert!(!all.contains("secret"), "{all}");
    say(&mut s, "LATENCY LATEST\r\n", "*0\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_sections_have_redis_fields_and_count_from_resetstat() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "SET a 1 EX 100\r\nSET b 2\r\nGET a\r\nGET nope\r\nSADD set m\r\nGET set\r\n",
        "+OK\r\n+OK\r\n$1\r\n1\r\n$-1\r\n:1\r\n\
         -WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    )
    .await;
    let _ = reply(&mut s, "PING\r\n").await;
    let all = bulk(&reply(&mut s, "INFO all\r\n").await);
    let f = fields(&all);
    for key in [
        "redis_version",
        "redis_mode",
        "os",
        "arch_bits",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "uptime_in_days",
        "hz",
        "executable",
        "config_file",
        "connected_clients",
        "blocked_clients",
        "maxclients",
        "client_recent_max_input_buffer",
        "client_recent_max_output_buffer",
        "used_memory",
        "used_memory_human",
        "used_memory_rss",
        "maxmemory",
        "maxmemory_policy",
        "mem_fragmentation_ratio",
        "aof_enabled",
        "total_connections_received",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "keyspace_hits",
        "keyspace_misses",
        "expired_keys",
        "evicted_keys",
        "rejected_connections",
        "total_net_input_bytes",
        "total_net_output_bytes",
        "role",
        "used_cpu_sys",
        "used_cpu_user",
        "cluster_enabled",
    ] {
        value_of(&f, key);
    }
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Commandstats",
        "# Errorstats",
        "# Cluster",
        "# Keyspace",
    ] {
        assert!(
            all.contains(&format!("{section}\r\n")),
            "{section} in {all}"
        );
    }
    assert_eq!(value_of(&f, "tcp_port"), addr.port().to_string());
    assert_eq!(value_of(&f, "run_id").len(), 40);
    assert_eq!(value_of(&f, "keyspace_hits"), "1");
    assert_eq!(value_of(&f, "keyspace_misses"), "1");
    assert_eq!(value_of(&f, "maxmemory_policy"), "noeviction");
    let get = value_of(&f, "cmdstat_get");
    assert!(get.starts_with("calls=3,usec="), "{get}");
    assert!(get.contains(",usec_per_call="), "{get}");
    assert!(get.ends_with(",rejected_calls=0,failed_calls=1"), "{get}");
    assert_eq!(value_of(&f, "errorstat_WRONGTYPE"), "count=1");
    let db0 = value_of(&f, "db0");
    let (keys, ttl) = db0.split_once(",avg_ttl=").unwrap();
    assert_eq!(keys, "keys=3,expires=1", "{db0}");
    let ttl: u64 = ttl.parse().unwrap();
    assert!((90_000..=100_000).contains(&ttl), "{db0}");

    let two = bulk(&reply(&mut s, "INFO server CLIENTS\r\n").await);
    assert!(
        two.starts_with("# Server\r\n") && two.contains("\r\n# Clients\r\n"),
        "{two}"
    );
    assert!(!two.contains("# Memory"), "{two}");
    let default = bulk(&reply(&mut s, "INFO\r\n").await);
    assert!(!default.contains("# Commandstats"), "{default}");
    assert!(default.contains("# Errorstats"), "{default}");
    let everything = bulk(&reply(&mut s, "INFO everything\r\n").await);
    assert!(everything.contains("# Commandstats"), "{everything}");

    say(&mut s, "CONFIG RESETSTAT\r\n", "+OK\r\n").await;
    let after = bulk(&reply(&mut s, "INFO commandstats errorstats stats\r\n").await);
    assert!(!after.contains("cmdstat_get"), "{after}");
    assert!(!after.contains("errorstat_WRONGTYPE"), "{after}");
    assert_eq!(value_of(&fields(&after), "keyspace_hits"), "0");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_fetches_the_config() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let port = addr.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("redis-benchmark")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-n",
                "100",
                "-t",
                "ping",
                "-q",
            ])
            .output()
            .expect("redis-benchmark (Debian's redis-tools) runs")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("PING_MBULK"), "it ran: {text}");
    assert!(!text.contains("Could not fetch server CONFIG"), "{text}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_no_touch_reads_sessions_without_sliding_them() {
    use crate::resp::field;
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let id = bulk(&reply(&mut s, "SESSION.CREATE alice IDLE 600\r\n").await);
    let last_seen = |got: &redis::Value| match field(got, "last_seen") {
        redis::Value::Int(n) => n,
        other => panic!("last_seen is an integer: {other:?}"),
    };
    let created = last_seen(&reply(&mut s, &format!("SESSION.GET {id} NOTOUCH\r\n")).await);
    // Session times are whole seconds: let one pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    say(&mut s, "CLIENT NO-TOUCH ON\r\n", "+OK\r\n").await;
    let info = bulk(&reply(&mut s, "CLIENT INFO\r\n").await);
    assert!(info.contains(" flags=T "), "{info}");
    let _ = reply(&mut s, &format!("SESSION.GET {id}\r\n")).await;
    let after = last_seen(&reply(&mut s, &format!("SESSION.GET {id} NOTOUCH\r\n")).await);
    assert_eq!(after, created, "NO-TOUCH: the read left it");
    say(&mut s, "CLIENT NO-TOUCH OFF\r\n", "+OK\r\n").await;
    let _ = reply(&mut s, &format!("SESSION.GET {id}\r\n")).await;
    let touched = last_seen(&reply(&mut s, &format!("SESSION.GET {id} NOTOUCH\r\n")).await);
    assert!(touched > created, "{touched} > {created}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latency_monitor_records_slow_commands_as_events() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "CONFIG SET latency-monitor-threshold 1\r\n",
        "+OK\r\n",
    )
    .await;
    // One MSET of 20 000 keys takes well over a millisecond.
    let mut mset = String::from("*40001\r\n$4\r\nMSET\r\n");
    for i in 0..20_000 {
        let key = format!("key:{i:05}");
        mset.push_str(&format!("${}\r\n{key}\r\n$1\r\nv\r\n", key.len()));
    }
    say(&mut s, &mset, "+OK\r\n").await;
    let redis::Value::Array(latest) = reply(&mut s, "LATENCY LATEST\r\n").await else {
        panic!("LATENCY LATEST is an array")
    };
    let events: Vec<String> = latest
        .iter()
        .map(|e| match e {
            redis::Value::Array(fields) => bulk(&fields[0]),
            other => panic!("an event is an array: {other:?}"),
        })
        .collect();
    assert!(events.contains(&"command".to_owned()), "{events:?}");
    let redis::Value::Array(history) = reply(&mut s, "LATENCY HISTORY command\r\n").await else {
        panic!("LATENCY HISTORY is an array")
    };
    assert!(!history.is_empty());
    let doctor = bulk(&reply(&mut s, "LATENCY DOCTOR\r\n").await);
    assert!(doctor.contains("command:"), "{doctor}");
    let redis::Value::Int(reset) = reply(&mut s, "LATENCY RESET\r\n").await else {
        panic!("LATENCY RESET is an integer")
    };
    assert!(reset >= 1);
    say(
        &mut s,
        "CONFIG SET latency-monitor-threshold 0\r\n",
        "+OK\r\n",
    )
    .await;
    daemon.stop().await;
}
