//! The `redis://` target against a real `redis-server`, started by each test
//! on a free port and killed when the test ends.
//!
//! These tests need `redis-server` on the PATH and fail, never skip, without
//! it: install it with `apt-get install redis-server`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a started server gets to answer PING.
const STARTUP: Duration = Duration::from_secs(10);

/// A `redis-server` without persistence, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    /// Starts a server on a free port. The port is found by binding port 0
    /// and letting it go (redis-server cannot pick one itself), so another
    /// process may take it in between: then the server exits and another
    /// port is tried.
    fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with `extra` flags (as `start` does).
    fn start_with(extra: &[&str]) -> Server {
        for _ in 0..5 {
            if let Some(server) = Server::try_start(free_port(), extra) {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn try_start(port: u16, extra: &[&str]) -> Option<Server> {
        let dir = std::env::temp_dir().join(format!("sessiond-bench-redis-{port}"));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start redis-server ({error}): these tests need it on the PATH; \
                     install it with `apt-get install redis-server`"
                )
            });
        let mut server = Server { child, port, dir };
        server.wait_until_ready().then_some(server)
    }

    /// Whether the server answers PING before [`STARTUP`] runs out; false
    /// if it exited (its port was taken).
    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if self.child.try_wait().expect("poll redis-server").is_some() {
                return false;
            }
            if ping(self.port) {
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer PING within {STARTUP:?}",
            self.port
        );
    }

    /// The `--target` of this server.
    fn target(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listened on a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}

/// Whether a server on `port` answers PING with PONG.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// Runs the bench binary with `args`.
fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessiond-bench"))
        .args(args)
        .output()
        .expect("run sessiond-bench")
}

/// Runs the bench binary with `args` and `--json`, expecting success, and
/// parses its report.
fn bench_json(args: &[&str]) -> Value {
    let output = bench(&[args, &["--json"]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sessiond-bench failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

/// Checks the fields every report has, and that the run did work.
fn assert_ran(report: &Value, kinds: &[&str]) {
    assert!(report["ops_per_sec"].as_f64().unwrap() > 0.0, "{report}");
    for field in ["p50_us", "p99_us", "p999_us"] {
        assert!(report[field].as_f64().unwrap() > 0.0, "{field}: {report}");
    }
    for field in ["rss_bytes", "bytes_per_session"] {
        assert!(report[field].is_number(), "{field}: {report}");
    }
    let per_op = report["per_op"].as_object().unwrap();
    for kind in kinds {
        assert!(
            per_op[*kind]["ops"].as_u64().unwrap() > 0,
            "{kind}: {report}"
        );
    }
    assert_eq!(per_op.len(), kinds.len(), "{report}");
}

const SESSION_KINDS: [&str; 4] = ["get_touch", "create", "delete", "list"];

#[test]
fn session_mix_runs_against_redis() {
    let server = Server::start();
    let target = server.target();
    let report = bench_json(&[
        "--target",
        &target,
        "--sessions",
        "2000",
        "--duration",
        "1",
        "--flush",
    ]);
    assert_ran(&report, &SESSION_KINDS);
    assert_eq!(report["target"], target.as_str());
    assert_eq!(report["per_op"]["get_touch"]["misses"], 0);
    assert_eq!(report["rss_source"], "server RSS (used_memory_rss)");
    assert!(report["bytes_used_per_session"].as_f64().unwrap() > 200.0);
}

#[test]
fn pipelined_session_mix_splits_batches_at_lists() {
    let server = Server::start();
    let report = bench_json(&[
        "--target",
        &server.target(),
        "--sessions",
        "2000",
        "--duration",
        "1",
        "--clients",
        "2",
        "--pipeline",
        "16",
        "--flush",
    ]);
    assert_ran(&report, &SESSION_KINDS);
    assert_eq!(report["batch_latency"], "round_trip");
    assert_eq!(report["per_op"]["get_touch"]["misses"], 0);
}

#[test]
fn key_workloads_run_against_redis() {
    let server = Server::start();
    let target = server.target();
    for (workload, kind) in [("set", "set"), ("get", "get")] {
        let report = bench_json(&[
            "--target",
            &target,
            "--workload",
            workload,
            "--sessions",
            "2000",
            "--duration",
            "0.5",
            "--pipeline",
            "4",
            "--flush",
        ]);
        assert_ran(&report, &[kind]);
        assert_eq!(report["per_op"][kind]["misses"], 0, "{report}");
    }
}

#[test]
fn writes_wait_for_a_replica_when_asked_and_a_lone_server_is_refused() {
    let primary = Server::start();
    let target = primary.target();
    let wait = ["--redis-wait-replicas", "1"];
    let args = [
        "--target",
        &target,
        "--sessions",
        "500",
        "--duration",
        "0.5",
    ];
    let output = bench(&[&args[..], &wait, &["--flush"]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has 0 replicas connected"), "{stderr}");

    let port = primary.port.to_string();
    let replica = Server::start_with(&["--replicaof", "127.0.0.1", &port]);
    let started = Instant::now();
    while !redis_info(replica.port, "replication").contains("master_link_status:up") {
        assert!(started.elapsed() < STARTUP, "the replica never synced");
        sleep(Duration::from_millis(20));
    }
    let replica_pid = replica.child.id().to_string();
    let cpu = ["--cpu-of", &replica_pid];
    let report = bench_json(&[&args[..], &wait, &cpu, &["--flush"]].concat());
    assert_ran(&report, &SESSION_KINDS);
    assert!(report["other_cpu_us_per_op"].as_f64().is_some(), "{report}");
    // Every write reached the replica before it was counted.
    assert!(redis_info(replica.port, "keyspace").contains("db0:keys="));
}

/// The text of `INFO section` from the server on `port`.
fn redis_info(port: u16, section: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(STARTUP)).unwrap();
    write!(stream, "INFO {section}\r\n").unwrap();
    // A bulk reply: `$LEN\r\n`, LEN bytes, CRLF.
    let mut reader = std::io::BufReader::new(stream);
    let mut header = String::new();
    std::io::BufRead::read_line(&mut reader, &mut header).unwrap();
    let len: usize = header.trim().trim_start_matches('$').parse().unwrap();
    let mut text = vec![0u8; len + 2];
    reader.read_exact(&mut text).unwrap();
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn a_server_holding_keys_is_refused_without_flush() {
    let server = Server::start();
    let target = server.target();
    let memory_only = ["--target", &target, "--sessions", "100", "--memory-only"];
    bench_json(&memory_only);
    let output = bench(&memory_only);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("holds 120 keys") && stderr.contains("--flush"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_server_is_a_one_line_error() {
    let output = bench(&["--target", &format!("redis://127.0.0.1:{}", free_port())]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("sessiond-bench: error: cannot connect to redis://127.0.0.1:"));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
