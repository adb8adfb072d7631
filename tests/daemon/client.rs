//! The Rust client against the real daemon: every operation, auth, TLS,
//! and many callers sharing pipelined connections.

use std::time::Duration;

use sessiond_client::{Client, ClientConfig, ClientError, SessionStore};
use sessiond_protocol::{NewSession, StoreError};
use sessiond_server::{Secret, ServerConfig};

use crate::Daemon;

#[path = "../shared/conformance.rs"]
mod conformance;

fn config(daemon: &Daemon) -> ClientConfig {
    ClientConfig::new(daemon.addr.to_string()).request_timeout(Duration::from_secs(10))
}

fn as_store_error(error: &ClientError) -> Option<&StoreError> {
    match error {
        ClientError::Store(e) => Some(e),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_through_the_client_matches_the_embedded_store() {
    let daemon = Daemon::plain().await;
    let client = Client::connect(config(&daemon)).await.unwrap();
    conformance::every_operation(&client, as_store_error).await;
    assert_eq!(
        daemon.store.stats().sessions,
        0,
        "the suite cleaned up after itself"
    );
    let stats = client.stats().await.unwrap();
    let ops = |name: &str| stats.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert!(ops("ops_create").unwrap() >= 4);
    assert!(ops("ops_key_incr").unwrap() >= 4);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_authenticates_and_a_wrong_token_is_refused() {
    let daemon = Daemon::start(ServerConfig {
        auth_token: Some(Secret::new("s3cret-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let client = Client::connect(
        config(&daemon).auth_token(b"s3cret-padded-to-the-32-byte-minimum".to_vec()),
    )
    .await
    .unwrap();
    let id = client.create(NewSession::new("u")).await.unwrap();
    assert_eq!(client.get(&id).await.unwrap().owner, b"u");

    let wrong = Client::connect(config(&daemon).auth_token(b"guess".to_vec())).await;
    assert!(wrong.is_err(), "a wrong token does not connect");
    let none = Client::connect(config(&daemon)).await;
    assert!(matches!(none, Err(ClientError::Config(_))), "{none:?}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_a_few_pipelined_connections() {
    let daemon = Daemon::plain().await;
    let client = Client::connect(config(&daemon).pool_size(2)).await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|t| {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let key = format!("t{t}-{i}").into_bytes();
                    assert_eq!(client.incr(&key, t).await.unwrap(), t);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(daemon.store.stats().keys, 10_000);
    let stats = client.stats().await.unwrap();
    let connections = stats.iter().find(|(n, _)| n == "connections").unwrap().1;
    assert_eq!(connections, 2, "10,000 calls over two connections");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_daemon_gives_clear_errors_not_hangs() {
    let daemon = Daemon::plain().await;
    // The client retries a PING across what could be a failover; a second
    // bounds that here.
    let retry = sessiond_client::Retry {
        total: Duration::from_secs(1),
        ..sessiond_client::Retry::default()
    };
    let client = Client::connect(
        config(&daemon)
            .request_timeout(Duration::from_millis(500))
            .retry(retry),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
    daemon.stop().await;
    let started = std::time::Instant::now();
    let error = client.ping().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{error:?}");
    let last = match &error {
        ClientError::GaveUp { last, .. } => last,
        other => other,
    };
    assert!(
        matches!(
            last,
            ClientError::ConnectionLost | ClientError::Timeout | ClientError::Io(_)
        ),
        "{error:?}"
    );
}

/// Walks the whole key space with KEY_SCAN, `count` at a time, and returns
/// every key in the order the steps gave them. Bounded: a walk over `keys`
/// keys that needed more than `keys + 100` steps would be a cursor going
/// round in circles.
async fn scan_all(
    client: &Client,
    count: u32,
    pattern: Option<&[u8]>,
    keys: usize,
) -> Vec<Vec<u8>> {
    let (mut cursor, mut found) = (0, Vec::new());
    for _ in 0..keys + 100 {
        let (next, step) = client.scan_keys(cursor, count, pattern).await.unwrap();
        found.extend(step);
        if next == 0 {
            return found;
        }
        cursor = next;
    }
    panic!("the scan did not end within {} steps", keys + 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scan_returns_every_key_exactly_once_across_its_cursor() {
    let daemon = Daemon::plain().await;
    let client = Client::connect(config(&daemon)).await.unwrap();
    for i in 0..3000 {
        let key = format!("user:{i}");
        client.set_key(key.as_bytes(), b"v", None).await.unwrap();
    }
    // A set-valued key is a key too, and a session is not.
    daemon.store.set_add(b"tags", &[b"a"]).unwrap();
    client.create(NewSession::new("not-a-key")).await.unwrap();

    let mut found = scan_all(&client, 7, None, 3001).await;
    let total = found.len();
    found.sort();
    found.dedup();
    assert_eq!(found.len(), total, "no key came back twice");
    let mut expected: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("user:{i}").into_bytes())
        .chain([b"tags".to_vec()])
        .collect();
    expected.sort();
    assert_eq!(found, expected);

    let stats = client.stats().await.unwrap();
    let scans = stats.iter().find(|(n, _)| n == "ops_key_scan").unwrap().1;
    assert!(scans > 1, "a walk of 3001 keys by 7 takes several steps");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scan_filters_by_pattern_and_refuses_a_pattern_too_long_to_send() {
    let daemon = Daemon::plain().await;
    let client = Client::connect(config(&daemon)).await.unwrap();
    for key in ["rate:1", "rate:22", "rate:x", "session-meta", "ra"] {
        client.set_key(key.as_bytes(), b"v", None).await.unwrap();
    }
    let mut rates = scan_all(&client, 2, Some(b"rate:*"), 5).await;
    rates.sort();
    assert_eq!(rates, [&b"rate:1"[..], b"rate:22", b"rate:x"]);
    let mut digits = scan_all(&client, 1000, Some(b"rate:[0-9]*"), 5).await;
    digits.sort();
    assert_eq!(digits, [&b"rate:1"[..], b"rate:22"]);
    assert!(scan_all(&client, 10, Some(b"nothing*"), 5).await.is_empty());
    // Count 0 is taken as 1, not refused.
    assert_eq!(scan_all(&client, 0, Some(b"ra"), 5).await, [b"ra".to_vec()]);

    let long = vec![b'*'; 70_000];
    let refused = client.scan_keys(0, 10, Some(&long)).await.unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Store(StoreError::BadKey { len: 70_000, .. })
        ),
        "{refused:?}"
    );
    daemon.stop().await;
}
