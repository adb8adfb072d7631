//! The `sessiond://` target against a real daemon, run inside the test
//! (the `server` feature of the engine crate, for tests only), over plain
//! TCP, with a token, and over TLS with a certificate made here.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use sessiond::{Store, StoreConfig};
use sessiond_server::{Secret, Server, ServerConfig, TlsFiles};

/// A daemon on an ephemeral port, on its own runtime thread; stopped when
/// the test process ends.
fn start(config: ServerConfig) -> SocketAddr {
    let (ready, bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let config = ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..config
            };
            let server = Server::bind(config, Store::new(StoreConfig::default()))
                .await
                .unwrap();
            ready.send(server.local_addr()).unwrap();
            server.run_until(std::future::pending()).await.unwrap();
        });
    });
    bound
        .recv_timeout(Duration::from_secs(10))
        .expect("the daemon starts")
}

fn bench(target: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessiond-bench"))
        .args([
            "--target",
            target,
            "--sessions",
            "2000",
            "--duration",
            "0.5",
            "--clients",
            "4",
        ])
        .args(["--json"])
        .args(extra)
        .env_remove("SESSIOND_AUTH_TOKEN")
        .output()
        .unwrap()
}

fn report(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

#[test]
fn the_session_mix_runs_against_a_daemon_and_reports_server_figures() {
    let addr = start(ServerConfig::default());
    let run = report(&bench(&format!("sessiond://{addr}"), &["--pipeline", "8"]));
    assert!(run["ops_per_sec"].as_f64().unwrap() > 0.0);
    for op in ["get_touch", "create", "delete", "list"] {
        assert!(run["per_op"][op]["ops"].as_u64().unwrap() > 0, "{op} ran");
    }
    assert_eq!(
        run["per_op"]["get_touch"]["misses"], 0,
        "prefilled sessions are found"
    );
    assert!(run["server_cpu_us_per_op"].as_f64().unwrap() > 0.0);
    assert!(
        run["rss_bytes"].as_u64().unwrap() > 1 << 20,
        "the server's RSS"
    );
    // The daemon now holds data: a second run refuses to start on it.
    let refused = bench(&format!("sessiond://{addr}"), &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("start a fresh daemon"));
}

#[test]
fn events_delivery_reaches_every_subscriber_once_and_skips_earlier_events() {
    let addr = start(ServerConfig::default());
    let target = format!("sessiond://{addr}");
    let args = ["--events-delivery", "--rate", "2000", "--subscribers", "3"];
    // The second run starts on a log that already holds the first's
    // events: its subscribers skip them and count only their own run's.
    for _ in 0..2 {
        let run = report(&bench(&target, &args));
        let events = run["events"].as_u64().unwrap();
        assert_eq!(events, 1000, "2000 a second for half a second");
        assert_eq!(run["delivered"].as_u64().unwrap(), 3 * events);
        assert_eq!(
            (run["missed"].as_u64(), run["gaps"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(run["out_of_order"], 0);
        assert!(
            run["reads"].as_u64().unwrap() >= 3,
            "each subscriber read: {run}"
        );
        let (p50, p999) = (&run["latency_p50_us"], &run["latency_p999_us"]);
        assert!(
            p50.as_f64().unwrap() > 0.0 && p999.as_f64() >= p50.as_f64(),
            "{run}"
        );
        assert!(run["server_cpu_us_per_delivered"].as_f64().is_some());
    }
    let alone = report(&bench(
        &target,
        &["--events-delivery", "--rate", "2000", "--subscribers", "0"],
    ));
    assert_eq!(alone["delivered"], 0);
    assert!(alone["latency_p50_us"].is_null() && alone["server_cpu_us_per_delivered"].is_null());
    let redis = bench("redis://127.0.0.1:1", &["--events-delivery"]);
    assert!(String::from_utf8_lossy(&redis.stderr).contains("needs a sessiond:// target"));
}

#[test]
fn a_token_is_sent_from_the_url_and_required_without_it() {
    let addr = start(ServerConfig {
        auth_token: Some(Secret::new("bench-token-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    });
    let missing = bench(&format!("sessiond://{addr}"), &["--workload", "get"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("requires a token"));
    let run = report(&bench(
        &format!("sessiond://:bench-token-padded-to-the-32-byte-minimum@{addr}"),
        &["--workload", "get"],
    ));
    assert_eq!(run["per_op"]["get"]["misses"], 0);
}

#[test]
fn tls_runs_with_the_right_ca_and_fails_with_another() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("sessiond-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let addr = start(ServerConfig {
        tls: Some(TlsFiles {
            cert: cert.clone(),
            key,
        }),
        ..ServerConfig::default()
    });
    let url = format!("sessiond+tls://{addr}?ca={}&name=localhost", cert.display());
    let run = report(&bench(&url, &["--workload", "set"]));
    assert!(run["per_op"]["set"]["ops"].as_u64().unwrap() > 0);

    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = dir.join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let url = format!(
        "sessiond+tls://{addr}?ca={}&name=localhost",
        other_ca.display()
    );
    let refused = bench(&url, &["--workload", "set"]);
    assert!(
        !refused.status.success(),
        "a server the CA did not sign is refused"
    );
}

#[test]
fn persist_only_restarts_with_every_session_and_reports_the_compaction() {
    let dir = std::env::temp_dir().join(format!("sessiond-bench-persist-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_sessiond-bench"))
        .args(["--target", "embedded", "--sessions", "3000", "--json"])
        .arg("--persist-only")
        .arg(&dir)
        .output()
        .expect("run sessiond-bench");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(run["sessions_after_restart"], 3000);
    assert!(run["snapshot_bytes"].as_u64().unwrap() > 3000 * 200);
    assert!(run["longest_lock_hold_ms"].as_f64().unwrap() > 0.0);
    assert!(run["reader_ops_during_compaction"].as_u64().unwrap() > 0);
}

#[test]
fn fill_only_times_creates_and_reads_and_reports_the_rss_peak() {
    let output = Command::new(env!("CARGO_BIN_EXE_sessiond-bench"))
        .args(["--target", "embedded", "--sessions", "20000", "--json"])
        .args(["--fill-only", "--shards", "16", "--ttl-spread", "60"])
        .output()
        .expect("run sessiond-bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(run["mode"], "fill");
    assert_eq!(run["sessions"], 20000);
    assert_eq!(run["shards"], 16, "--shards reaches the store");
    assert_eq!(run["ttl_spread_secs"], 60);
    assert_eq!(run["create"]["ops"], 20000, "every create is timed");
    assert!(run["read"]["ops"].as_u64().unwrap() > 0, "the reader ran");
    let create = &run["create"];
    assert!(create["max_us"].as_f64().unwrap() >= create["p50_us"].as_f64().unwrap());
    assert!(run["rss_peak_over_final"].as_f64().unwrap() >= 1.0);
    assert!(
        run["bytes_per_session"].as_f64().unwrap() > 200.0,
        "200 bytes of data each"
    );
}
