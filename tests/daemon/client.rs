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
        auth_token: Some(Secret::new("s3cret").unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let client = Client::connect(config(&daemon).auth_token(b"s3cret".to_vec()))
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
    let client = Client::connect(config(&daemon).request_timeout(Duration::from_millis(500)))
        .await
        .unwrap();
    client.ping().await.unwrap();
    daemon.stop().await;
    let error = client.ping().await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::ConnectionLost | ClientError::Timeout | ClientError::Io(_)
        ),
        "{error:?}"
    );
}
