//! The client against a fake server (tests/common): handshake and auth,
//! pipelining, timeouts, reconnection, error mapping and TLS.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Action, FakeServer, Options, echo_handler};
use sessiond_client::protocol::wire::{Reply, Request, ServerError};
use sessiond_client::protocol::{KeyTtl, NewSession, SessionId};
use sessiond_client::{Client, ClientConfig, ClientError, SessionStore, StoreError, TlsOptions};

fn config(server: &FakeServer) -> ClientConfig {
    ClientConfig::new(server.addr.to_string())
}

/// Waits until `cond` holds, for at most 5 s.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn handshake_ping_and_stats() {
    let server = FakeServer::start(Options::default(), echo_handler()).await;
    let client = Client::connect(config(&server)).await.unwrap();
    client.ping().await.unwrap();
    assert_eq!(client.stats().await.unwrap(), vec![("sessions".into(), 7)]);
    // The whole pool opened.
    assert_eq!(client.healthy_connections(), 4);
    assert_eq!(server.seen.connections.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_token_is_sent_on_every_connection() {
    let options = Options {
        token: Some(b"s3cret".to_vec()),
        ..Options::default()
    };
    let server = FakeServer::start(options, echo_handler()).await;
    let client = Client::connect(config(&server).auth_token(b"s3cret".to_vec()).pool_size(2))
        .await
        .unwrap();
    // Not AUTH_REQUIRED: the connection is authenticated.
    assert_eq!(client.get_key(b"k").await.unwrap(), Some(b"k".to_vec()));
    let tokens = server.seen.tokens.lock().unwrap().clone();
    assert_eq!(tokens, vec![b"s3cret".to_vec(), b"s3cret".to_vec()]);
}

#[tokio::test]
async fn a_wrong_token_fails_connect() {
    let options = Options {
        token: Some(b"s3cret".to_vec()),
        ..Options::default()
    };
    let server = FakeServer::start(options, echo_handler()).await;
    let err = Client::connect(config(&server).auth_token(b"guess".to_vec()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Server(ServerError::AuthFailed)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_token_fails_connect_with_a_clear_error() {
    let options = Options {
        token: Some(b"s3cret".to_vec()),
        ..Options::default()
    };
    let server = FakeServer::start(options, echo_handler()).await;
    let err = Client::connect(config(&server)).await.unwrap_err();
    match err {
        ClientError::Config(msg) => assert!(msg.contains("requires authentication"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_frame_instead_of_the_hello_fails_connect() {
    for refusal in [
        ServerError::Busy,
        ServerError::UnsupportedVersion {
            lowest: 2,
            highest: 3,
        },
    ] {
        let options = Options {
            refuse: Some(refusal.clone()),
            ..Options::default()
        };
        let server = FakeServer::start(options, echo_handler()).await;
        let err = Client::connect(config(&server)).await.unwrap_err();
        match err {
            ClientError::Server(got) => assert_eq!(got, refusal),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn an_http_server_is_not_mistaken_for_sessiond() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 8];
        tcp.read_exact(&mut hello).await.unwrap();
        tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .unwrap();
    });
    let err = Client::connect(ClientConfig::new(addr.to_string()).pool_size(1))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn nothing_listening_is_an_io_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Client::connect(ClientConfig::new(addr.to_string()))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_requests_each_get_their_own_reply() {
    let server = FakeServer::start(Options::default(), echo_handler()).await;
    let client = Client::connect(config(&server).request_timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..100u32 {
        let client = client.clone();
        tasks.spawn(async move {
            let mut calls = tokio::task::JoinSet::new();
            for i in 0..100u32 {
                let client = client.clone();
                calls.spawn(async move {
                    let key = format!("key-{}", t * 100 + i).into_bytes();
                    let value = client.get_key(&key).await.unwrap();
                    assert_eq!(value.as_deref(), Some(&key[..]));
                });
            }
            while let Some(done) = calls.join_next().await {
                done.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 10_000);
    // Still the pool's 4 connections, and requests were coalesced.
    assert_eq!(server.seen.connections.load(Ordering::SeqCst), 4);
    assert!(server.seen.max_frames_per_read.load(Ordering::SeqCst) > 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server =
        FakeServer::start(Options::default(), Arc::new(|_: &Request| Action::Silence)).await;
    let client = Client::connect(config(&server).request_timeout(Duration::from_millis(200)))
        .await
        .unwrap();
    let start = Instant::now();
    let err = client.ping().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    assert!(err.is_outcome_unknown());
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_late_reply_is_dropped_and_later_replies_stay_in_order() {
    let handler = Arc::new(|request: &Request| match request {
        Request::KeyGet { key } if key == b"slow" => Action::Delay(
            Duration::from_millis(500),
            Ok(Reply::Value(Some(b"slow".to_vec()))),
        ),
        Request::KeyGet { key } => Action::Reply(Ok(Reply::Value(Some(key.clone())))),
        _ => Action::Reply(Ok(Reply::Done)),
    });
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(
        config(&server)
            .pool_size(1)
            .request_timeout(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    // Times out at 400 ms; its reply comes at 500 ms.
    let err = client.get_key(b"slow").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    // Sent on the same connection while the late reply is still coming
    // (and answered right after it): it must get its own reply, not the
    // late one.
    assert_eq!(
        client.get_key(b"fast").await.unwrap(),
        Some(b"fast".to_vec())
    );
    for i in 0..5 {
        let key = format!("k{i}").into_bytes();
        assert_eq!(client.get_key(&key).await.unwrap(), Some(key));
    }
    assert_eq!(server.seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_broken_connection_fails_in_flight_requests_and_reconnects() {
    let handler = Arc::new(|request: &Request| match request {
        // INCR, which is not sent again after an unknown outcome.
        Request::KeyIncr { key, .. } if key == b"boom" => Action::Close,
        Request::KeyGet { key } => Action::Reply(Ok(Reply::Value(Some(key.clone())))),
        _ => Action::Reply(Ok(Reply::Done)),
    });
    let server = FakeServer::start(Options::default(), handler.clone()).await;
    let addr = server.addr;
    let seen = Arc::clone(&server.seen);
    let client = Client::connect(
        config(&server)
            .pool_size(1)
            .request_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let err = client.incr(b"boom", 1).await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost), "{err:?}");
    assert!(err.is_outcome_unknown());

    // The server goes away entirely, and comes back a little later.
    server.stop().await;
    eventually("the client notices", || client.healthy_connections() == 0).await;
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { client.get_key(b"after").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = FakeServer::start_at(addr, Options::default(), handler, Arc::clone(&seen)).await;
    // The request made while the server was down waited for the
    // reconnection within its timeout, and was not lost.
    assert_eq!(waiting.await.unwrap().unwrap(), Some(b"after".to_vec()));
    assert_eq!(client.get_key(b"x").await.unwrap(), Some(b"x".to_vec()));
    assert!(seen.connections.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn requests_fail_over_to_healthy_connections() {
    // Two connections; one breaks. New requests go to the other at once
    // (the broken one waits out its backoff before reconnecting).
    let handler = Arc::new(|request: &Request| match request {
        // INCR, which is not sent again after an unknown outcome.
        Request::KeyIncr { key, .. } if key == b"boom" => Action::Close,
        Request::KeyGet { key } => Action::Reply(Ok(Reply::Value(Some(key.clone())))),
        _ => Action::Reply(Ok(Reply::Done)),
    });
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(
        config(&server)
            .pool_size(2)
            .backoff(sessiond_client::Backoff {
                min: Duration::from_secs(2),
                max: Duration::from_secs(2),
            })
            .request_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    assert!(matches!(
        client.incr(b"boom", 1).await,
        Err(ClientError::ConnectionLost)
    ));
    eventually("one connection left", || client.healthy_connections() == 1).await;
    for i in 0..20 {
        let key = format!("k{i}").into_bytes();
        assert_eq!(client.get_key(&key).await.unwrap(), Some(key));
    }
}

#[tokio::test]
async fn error_responses_map_to_typed_errors() {
    let handler = Arc::new(|request: &Request| match request {
        Request::Get { .. } => Action::Reply(Err(ServerError::Store(StoreError::NotFound))),
        Request::Update { .. } => {
            Action::Reply(Err(ServerError::Store(StoreError::VersionMismatch {
                expected: 3,
                actual: 4,
            })))
        }
        Request::KeyIncr { .. } => Action::Reply(Err(ServerError::Store(StoreError::NotAnInteger))),
        Request::Count { .. } => Action::Reply(Err(ServerError::ShuttingDown)),
        // The wrong reply kind for KEY_GET.
        Request::KeyGet { .. } => Action::Reply(Ok(Reply::Bool(true))),
        _ => Action::Reply(Ok(Reply::Done)),
    });
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(config(&server)).await.unwrap();
    let id = SessionId::random();
    assert!(matches!(
        client.get(&id).await,
        Err(ClientError::Store(StoreError::NotFound))
    ));
    assert!(matches!(
        client.update(&id, b"x", Some(3)).await,
        Err(ClientError::Store(StoreError::VersionMismatch {
            expected: 3,
            actual: 4
        }))
    ));
    assert!(matches!(
        client.incr(b"k", 1).await,
        Err(ClientError::Store(StoreError::NotAnInteger))
    ));
    assert!(matches!(
        client.count(b"u").await,
        Err(ClientError::Server(ServerError::ShuttingDown))
    ));
    let err = client.get_key(b"k").await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("KEY_GET"), "{err}");
}

#[tokio::test]
async fn limits_are_checked_before_sending() {
    let server = FakeServer::start(Options::default(), echo_handler()).await;
    let client = Client::connect(config(&server)).await.unwrap();
    assert!(matches!(
        client.get_key(&vec![b'k'; 5000]).await,
        Err(ClientError::Store(StoreError::BadKey {
            len: 5000,
            max: 4096
        }))
    ));
    assert!(matches!(
        client.count(b"").await,
        Err(ClientError::Store(StoreError::BadOwner {
            len: 0,
            max: 256
        }))
    ));
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_over_the_servers_max_frame_is_refused_without_breaking_the_connection() {
    let options = Options {
        max_frame: Some(1024),
        ..Options::default()
    };
    let server = FakeServer::start(options, echo_handler()).await;
    let client = Client::connect(config(&server).pool_size(1)).await.unwrap();
    let err = client.set_key(b"k", &[0; 2000], None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Server(ServerError::FrameTooLarge { max: 1024 })
        ),
        "{err:?}"
    );
    client.set_key(b"k", &[0; 500], None).await.unwrap();
    assert_eq!(server.seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dropping_the_client_closes_its_connections() {
    let server = FakeServer::start(Options::default(), echo_handler()).await;
    let client = Client::connect(config(&server)).await.unwrap();
    client.ping().await.unwrap();
    drop(client);
    eventually("the server sees 4 closes", || {
        server.seen.closed.load(Ordering::SeqCst) == 4
    })
    .await;
}

/// Code written against the trait, as an application would be.
async fn log_in<S: SessionStore>(store: &S, owner: &str) -> Result<(SessionId, usize), S::Error> {
    let id = store.create(NewSession::new(owner)).await?;
    let count = store.count(owner.as_bytes()).await?;
    Ok((id, count))
}

#[tokio::test]
async fn the_client_is_a_session_store() {
    let fixed = SessionId::random();
    let handler = Arc::new(move |request: &Request| {
        Action::Reply(Ok(match request {
            Request::Create(new) if new.owner == b"alice" => Reply::Id(fixed),
            Request::Count { .. } => Reply::Count(3),
            Request::Touch { .. } => Reply::Time(1_700_000_000),
            Request::Delete { .. } | Request::KeyDelete { .. } | Request::KeyExpire { .. } => {
                Reply::Bool(true)
            }
            Request::KeyTtl { .. } => Reply::Ttl(KeyTtl::ExpiresIn(Duration::from_millis(1500))),
            Request::KeyIncr { delta, .. } => Reply::Integer(10 + delta),
            Request::DeleteOwner { .. } => Reply::Count(2),
            Request::List { .. } => Reply::List(Vec::new()),
            _ => Reply::Done,
        }))
    });
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(config(&server)).await.unwrap();
    assert_eq!(log_in(&client, "alice").await.unwrap(), (fixed, 3));
    assert_eq!(client.touch(&fixed).await.unwrap(), 1_700_000_000);
    assert!(client.delete(&fixed).await.unwrap());
    assert_eq!(
        client.delete_owner(b"alice", Some(&fixed)).await.unwrap(),
        2
    );
    assert!(client.list(b"alice").await.unwrap().is_empty());
    client
        .set_key(b"k", b"v", Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(client.delete_key(b"k").await.unwrap());
    assert!(client.expire_key(b"k", None).await.unwrap());
    assert_eq!(
        client.ttl(b"k").await.unwrap(),
        KeyTtl::ExpiresIn(Duration::from_millis(1500))
    );
    assert_eq!(client.incr(b"n", 5).await.unwrap(), 15);
    // A reply of the wrong kind for ROTATE (DONE instead of ID).
    assert!(matches!(
        client.rotate(&fixed).await,
        Err(ClientError::Protocol(_))
    ));
}

mod tls {
    use super::*;
    use sessiond_client::CertificateDer;
    use sessiond_client::rustls;

    fn acceptor(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> tokio_rustls::TlsAcceptor {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    async fn tls_server() -> (FakeServer, rcgen::CertifiedKey<rcgen::KeyPair>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let options = Options {
            tls: Some(acceptor(&cert)),
            token: Some(b"tok".to_vec()),
            ..Options::default()
        };
        (FakeServer::start(options, echo_handler()).await, cert)
    }

    #[tokio::test]
    async fn the_right_ca_connects() {
        let (server, cert) = tls_server().await;
        let dir = std::env::temp_dir().join(format!("sessiond-client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, cert.cert.pem()).unwrap();

        // From a PEM file, through a URL.
        let url = format!(
            "sessiond+tls://localhost:{}?ca={}",
            server.addr.port(),
            ca.display()
        );
        let client = Client::connect(
            ClientConfig::from_url(&url)
                .unwrap()
                .auth_token(b"tok".to_vec()),
        )
        .await
        .unwrap();
        assert_eq!(client.get_key(b"k").await.unwrap(), Some(b"k".to_vec()));
        std::fs::remove_dir_all(&dir).unwrap();

        // From DER certificates.
        let client = Client::connect(
            config(&server)
                .tls(TlsOptions::from_certs(
                    "localhost",
                    [cert.cert.der().clone()],
                ))
                .auth_token(b"tok".to_vec()),
        )
        .await
        .unwrap();
        client.ping().await.unwrap();
    }

    #[tokio::test]
    async fn another_ca_or_name_is_refused() {
        let (server, cert) = tls_server().await;
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other_der: CertificateDer<'static> = other.cert.der().clone();
        let err = Client::connect(
            config(&server)
                .tls(TlsOptions::from_certs("localhost", [other_der]))
                .auth_token(b"tok".to_vec()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ClientError::Tls(_)), "{err:?}");

        // The right CA, but a name the certificate does not carry.
        let err = Client::connect(
            config(&server)
                .tls(TlsOptions::from_certs(
                    "sessiond.example",
                    [cert.cert.der().clone()],
                ))
                .auth_token(b"tok".to_vec()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    }

    #[tokio::test]
    async fn plain_tcp_to_a_tls_server_fails_cleanly() {
        let (server, _cert) = tls_server().await;
        let err = Client::connect(
            config(&server)
                .auth_token(b"tok".to_vec())
                .connect_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
        // The server's TLS layer cannot parse a sessiond hello and answers
        // with a TLS alert, which the client recognises.
        match err {
            ClientError::Protocol(msg) => assert!(msg.contains("TLS"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn busy_before_the_hello_is_read_fails_connect() {
    // SPEC.md §5: a server at its limit may send BUSY as soon as it
    // accepts, without reading the hello, then shut down its side.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut out = bytes::BytesMut::new();
                sessiond_client::protocol::wire::encode_response(&Err(ServerError::Busy), &mut out);
                tcp.write_all(&out).await.unwrap();
                tcp.shutdown().await.unwrap();
                let mut sink = [0u8; 64];
                let _ = tokio::time::timeout(Duration::from_millis(500), tcp.read(&mut sink)).await;
            });
        }
    });
    let err = Client::connect(ClientConfig::new(addr.to_string()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Server(ServerError::Busy)),
        "{err:?}"
    );
}
