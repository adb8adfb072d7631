//! `keys` over KEY_SCAN, and how the CLI reaches a daemon: tokens, TLS,
//! and the one-line errors when it cannot.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;

use sessiond_server::{Secret, ServerConfig, TlsFiles};

use common::{Daemon, cli, one_line_failure, run_ok, temp_dir, write_file};

#[test]
fn keys_walks_the_whole_scan_and_prints_each_match_once() {
    let daemon = Daemon::plain();
    // Over the CLI's 1000 keys a step, so the walk takes several steps.
    for i in 0..2500 {
        daemon
            .store
            .set_key(format!("rate:{i}").as_bytes(), b"1", None)
            .unwrap();
    }
    daemon.store.set_key(b"other", b"1", None).unwrap();
    daemon.store.set_key(b"rate:odd\nkey", b"1", None).unwrap();

    let table = run_ok(&daemon, &["keys", "rate:*"]);
    let lines: Vec<&str> = table.lines().collect();
    let unique: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(lines.len(), 2501, "every key once");
    assert_eq!(unique.len(), 2501);
    assert!(unique.contains("rate:odd\\nkey"), "a newline is escaped");
    assert!(unique.contains("rate:2499") && !unique.contains("other"));

    let json = run_ok(&daemon, &["--json", "keys", "rate:1?"]);
    let keys: BTreeSet<String> = json
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["key"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: BTreeSet<String> = (10..20).map(|i| format!("rate:{i}")).collect();
    assert_eq!(keys, expected);
    assert_eq!(json.lines().count(), 10, "one JSON line per key");

    assert_eq!(run_ok(&daemon, &["keys", "nothing*"]), "");
}

#[test]
fn the_token_comes_from_a_file_or_the_environment_and_a_wrong_one_fails_in_one_line() {
    let daemon = Daemon::start(ServerConfig {
        auth_token: Some(Secret::new("s3cret-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    });
    let dir = temp_dir("token");
    let right = write_file(&dir, "right", b"s3cret-padded-to-the-32-byte-minimum\n");
    let url = daemon.url();

    let from_file = cli()
        .args(["--url", &url, "--token-file"])
        .arg(&right)
        .args(["count", "u"])
        .output()
        .unwrap();
    assert!(from_file.status.success(), "{from_file:?}");
    assert_eq!(from_file.stdout, b"0\n");
    let from_env = cli()
        .env(
            "SESSIOND_AUTH_TOKEN",
            "s3cret-padded-to-the-32-byte-minimum",
        )
        .env("SESSIOND_URL", &url)
        .args(["count", "u"])
        .output()
        .unwrap();
    assert!(from_env.status.success(), "{from_env:?}");

    let wrong = cli()
        .env("SESSIOND_AUTH_TOKEN", "guess")
        .args(["--url", &url, "count", "u"])
        .output()
        .unwrap();
    let line = one_line_failure(&wrong);
    assert!(line.contains("authentication failed"), "{line}");
    assert_eq!(wrong.status.code(), Some(1));

    let none = cli().args(["--url", &url, "count", "u"]).output().unwrap();
    let line = one_line_failure(&none);
    assert!(line.contains("token"), "{line}");

    let missing = cli()
        .args([
            "--url",
            &url,
            "--token-file",
            "/nonexistent/token",
            "count",
            "u",
        ])
        .output()
        .unwrap();
    let line = one_line_failure(&missing);
    assert!(line.contains("/nonexistent/token"), "{line}");
}

#[test]
fn an_unreachable_daemon_is_one_line_and_a_non_zero_exit() {
    // A port that was free a moment ago and has nobody listening now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = cli()
        .args(["--url", &format!("sessiond://127.0.0.1:{port}"), "stats"])
        .output()
        .unwrap();
    let line = one_line_failure(&output);
    assert!(
        line.starts_with(&format!(
            "sessiond-cli: cannot connect to sessiond://127.0.0.1:{port}"
        )),
        "{line}"
    );
    assert_eq!(output.status.code(), Some(1));

    let bad_url = cli().args(["--url", "http://x", "stats"]).output().unwrap();
    one_line_failure(&bad_url);
    assert_eq!(bad_url.status.code(), Some(2));
}

#[test]
fn tls_with_the_servers_ca_works_and_without_it_fails_in_one_line() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = temp_dir("tls");
    let cert = write_file(&dir, "cert.pem", made.cert.pem().as_bytes());
    let key = write_file(&dir, "key.pem", made.signing_key.serialize_pem().as_bytes());
    let daemon = Daemon::start(ServerConfig {
        tls: Some(TlsFiles {
            cert: cert.clone(),
            key,
        }),
        ..ServerConfig::default()
    });
    daemon.store.set_key(b"over-tls", b"1", None).unwrap();
    let url = format!("sessiond+tls://localhost:{}", daemon.addr.port());

    let output = cli()
        .args(["--url", &url, "--ca"])
        .arg(&cert)
        .args(["keys", "*"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"over-tls\n");

    let without_ca = cli().args(["--url", &url, "keys", "*"]).output().unwrap();
    let line = one_line_failure(&without_ca);
    assert!(line.contains("--ca"), "{line}");

    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = write_file(&dir, "other.pem", stranger.cert.pem().as_bytes());
    let untrusted = cli()
        .args(["--url", &url, "--ca"])
        .arg(&other_ca)
        .args(["keys", "*"])
        .output()
        .unwrap();
    let line = one_line_failure(&untrusted);
    assert!(line.contains("TLS"), "{line}");

    let plain_with_ca = cli()
        .args(["--url", &daemon.url(), "--ca"])
        .arg(&cert)
        .arg("stats")
        .output()
        .unwrap();
    one_line_failure(&plain_with_ca);
    assert_eq!(plain_with_ca.status.code(), Some(2));
}
