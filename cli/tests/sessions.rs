//! The session subcommands (list, count, get, kick, revoke) and stats,
//! table and JSON, against a daemon holding real sessions.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sessiond_client::protocol::{Labels, NewSession, SessionId, StoreError};

use common::{Daemon, cli, one_line_failure, run_json, run_ok};

/// Three sessions of `user:42` (one labelled, with data) and one of
/// someone else, created through the engine.
fn seed(daemon: &Daemon) -> Vec<SessionId> {
    let store = &daemon.store;
    let labelled = store
        .create(
            NewSession::new("user:42")
                .labels(
                    Labels::new()
                        .with("ua", "Firefox on Linux")
                        .with("place", "Zürich"),
                )
                .data(br#"{"cart":[]}"#.to_vec())
                .idle_timeout(Duration::from_secs(1800)),
        )
        .unwrap();
    let mut ids = vec![labelled];
    for _ in 0..2 {
        ids.push(store.create(NewSession::new("user:42")).unwrap());
    }
    store.create(NewSession::new("user:7")).unwrap();
    ids
}

/// `2026-01-01T00:00:00Z`-shaped.
fn is_iso_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'Z'
        && text
            .chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

#[test]
fn list_shows_an_owners_sessions_as_a_table_and_as_json() {
    let daemon = Daemon::plain();
    let ids = seed(&daemon);
    let expected: BTreeSet<String> = ids.iter().map(ToString::to_string).collect();

    let table = run_ok(&daemon, &["list", "user:42"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID") && header.contains("LAST SEEN") && header.ends_with("LABELS"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{table}");
    let listed: BTreeSet<String> = rows.iter().map(|r| r[0].to_owned()).collect();
    assert_eq!(listed, expected);
    for row in &rows {
        assert!(row[1..4].iter().all(|t| is_iso_time(t)), "{row:?}");
    }
    let labelled_row = table
        .lines()
        .find(|l| l.starts_with(&ids[0].to_string()))
        .unwrap();
    assert!(
        labelled_row.ends_with("ua=Firefox on Linux, place=Zürich"),
        "{labelled_row}"
    );
    // Columns are aligned: every row's second column starts where the
    // header's does.
    let column = header.find("CREATED").unwrap();
    for line in table.lines().skip(1) {
        assert!(is_iso_time(&line[column..column + 20]), "{line}");
    }

    let json = run_json(&daemon, &["list", "user:42"]);
    assert_eq!(json["owner"], "user:42");
    let sessions = json["sessions"].as_array().unwrap();
    let listed: BTreeSet<String> = sessions
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, expected);
    let labelled = sessions
        .iter()
        .find(|s| s["id"] == ids[0].to_string())
        .unwrap();
    let info = daemon.store.peek(&ids[0]).unwrap().info;
    assert_eq!(labelled["created"], info.created_at);
    assert_eq!(labelled["expires_at"], info.expires_at);
    assert_eq!(labelled["idle_secs"], 1800);
    assert_eq!(labelled["labels"]["place"], "Zürich");

    let empty = run_json(&daemon, &["list", "nobody"]);
    assert_eq!(empty["sessions"].as_array().unwrap().len(), 0);
}

#[test]
fn count_counts_only_the_owners_live_sessions() {
    let daemon = Daemon::plain();
    seed(&daemon);
    assert_eq!(run_ok(&daemon, &["count", "user:42"]), "3\n");
    assert_eq!(run_ok(&daemon, &["count", "user:7"]), "1\n");
    let json = run_json(&daemon, &["count", "user:42"]);
    assert_eq!(json, serde_json::json!({ "owner": "user:42", "count": 3 }));
    assert_eq!(run_json(&daemon, &["count", "nobody"])["count"], 0);
}

#[test]
fn get_shows_one_session_without_touching_it() {
    let daemon = Daemon::plain();
    let ids = seed(&daemon);
    let before = daemon.store.peek(&ids[0]).unwrap().info;
    // Let a second pass, so that a touch would move `last seen`.
    std::thread::sleep(Duration::from_millis(1100));

    let table = run_ok(&daemon, &["get", &ids[0].to_string()]);
    let field = |name: &str| {
        let line = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {table}"));
        line[name.len()..].trim().to_owned()
    };
    assert_eq!(field("id"), ids[0].to_string());
    assert_eq!(field("owner"), "user:42");
    assert_eq!(field("idle timeout"), "1800 s");
    assert_eq!(field("data"), r#"11 bytes: {"cart":[]}"#);
    assert!(is_iso_time(&field("last seen")));

    let json = run_json(&daemon, &["get", &ids[0].to_string()]);
    assert_eq!(json["owner"], "user:42");
    assert_eq!(json["data"], r#"{"cart":[]}"#);
    assert_eq!(json["info"]["version"], 1);
    assert_eq!(json["info"]["last_seen"], before.last_seen_at);

    let after = daemon.store.peek(&ids[0]).unwrap().info;
    assert_eq!(after.last_seen_at, before.last_seen_at, "get peeks");
}

#[test]
fn kick_keeps_one_session_and_revoke_ends_one() {
    let daemon = Daemon::plain();
    let ids = seed(&daemon);
    let keep = ids[1].to_string();

    let json = run_json(&daemon, &["kick", "user:42", "--keep", &keep]);
    assert_eq!(
        json,
        serde_json::json!({ "owner": "user:42", "ended": 2, "kept": keep })
    );
    assert_eq!(daemon.store.count(b"user:42"), 1);
    assert!(daemon.store.peek(&ids[1]).is_ok());
    assert_eq!(daemon.store.count(b"user:7"), 1, "other owners untouched");
    assert_eq!(
        run_ok(&daemon, &["kick", "user:7"]),
        "ended 1 sessions of user:7\n"
    );

    assert_eq!(
        run_ok(&daemon, &["revoke", &keep]),
        format!("revoked {keep}\n")
    );
    assert!(matches!(
        daemon.store.peek(&ids[1]),
        Err(StoreError::NotFound)
    ));
    // Gone now: both get and revoke say so, in one line, exit 1.
    for command in ["revoke", "get"] {
        let output = cli()
            .args(["--url", &daemon.url(), command, &keep])
            .output()
            .unwrap();
        assert_eq!(one_line_failure(&output), "sessiond-cli: no such session");
        assert_eq!(output.status.code(), Some(1));
    }
}

#[test]
fn a_malformed_id_is_refused_before_asking_the_server() {
    let daemon = Daemon::plain();
    let output = cli()
        .args(["--url", &daemon.url(), "kick", "u", "--keep", "not-an-id"])
        .output()
        .unwrap();
    let line = one_line_failure(&output);
    assert!(line.contains("not a session id"), "{line}");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn stats_once_as_a_table_and_as_json() {
    let daemon = Daemon::plain();
    seed(&daemon);
    let table = run_ok(&daemon, &["stats"]);
    let sessions = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some("sessions"))
        .unwrap();
    assert_eq!(sessions.split_whitespace().nth(1), Some("4"));
    assert!(table.lines().any(|l| l.starts_with("ops_key_scan ")));

    let json = run_json(&daemon, &["stats"]);
    assert_eq!(json["sessions"], 4);
    assert_eq!(json["owners"], 2);
    assert!(json["ops_stats"].as_u64().unwrap() >= 1);
}

#[test]
fn stats_watch_refreshes_until_ctrl_c_and_then_exits_cleanly() {
    let daemon = Daemon::plain();
    let mut child = cli()
        .args(["--url", &daemon.url(), "--json", "stats", "--watch", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    daemon.store.create(NewSession::new("late")).unwrap();
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["sessions"], 0);
    assert_eq!(second["sessions"], 1, "the second refresh sees new data");
    assert!(second["ops_stats"].as_u64() > first["ops_stats"].as_u64());

    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "Ctrl-C ends --watch normally: {exit:?}");
}
