//! The native protocol on raw frames: handshakes, bad input, pipelining,
//! many connections, auth and shutdown.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_protocol::wire::handshake::{HTTP_REPLY, MAGIC};
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_protocol::{NewSession, StoreError};
use sessiond_server::{Secret, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Daemon, Raw, assert_served, receive_frame};

/// Reads everything until the server closes, within 10 s.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut all))
        .await
        .expect("the server closes the connection")
        .unwrap();
    all
}

/// Sends raw bytes as the opening of a connection and returns the one
/// error frame the server answers with, checking it then closes.
async fn opening_refused(daemon: &Daemon, opening: &[u8]) -> ServerError {
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    stream.write_all(opening).await.unwrap();
    let mut buffer = BytesMut::new();
    let response = receive_frame(&mut stream, &mut buffer)
        .await
        .expect("an error frame");
    assert!(
        read_to_close(&mut stream).await.is_empty(),
        "then the connection closes"
    );
    response.expect_err("an error, not a reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_a_handshake_is_refused_and_others_carry_on() {
    let daemon = Daemon::plain().await;
    let mut bystander = Raw::connect(daemon.addr).await;
    let error = opening_refused(&daemon, &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]).await;
    assert!(matches!(error, ServerError::BadHandshake(_)), "{error:?}");
    assert_eq!(bystander.call(&Request::Ping).await, Ok(Reply::Done));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_gets_an_http_answer() {
    let daemon = Daemon::plain().await;
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert_eq!(answer, HTTP_REPLY);
    assert!(answer.starts_with(b"HTTP/1.1 400 "));
    assert_served(daemon.addr).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_negotiated_and_an_impossible_one_refused() {
    let daemon = Daemon::plain().await;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&[0, 0, 0, 0]); // version 0
    let error = opening_refused(&daemon, &hello).await;
    assert_eq!(
        error,
        ServerError::UnsupportedVersion {
            lowest: 1,
            highest: 1
        }
    );
    // A newer client is answered in the version both speak.
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&[0, 9, 0, 0]);
    stream.write_all(&hello).await.unwrap();
    let mut answer = [0u8; 16];
    stream.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer[..6], &[b'S', b'S', b'N', b'D', 0, 1]);
    assert_served(daemon.addr).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_or_empty_frame_closes_only_its_connection() {
    let daemon = Daemon::plain().await;
    let mut bystander = Raw::connect(daemon.addr).await;
    for length in [u32::MAX, daemon_max_frame(&bystander) + 1, 0] {
        let mut raw = Raw::connect(daemon.addr).await;
        raw.stream.write_all(&length.to_be_bytes()).await.unwrap();
        let error = raw.receive().await.expect("an error frame").unwrap_err();
        match length {
            0 => assert!(matches!(error, ServerError::Malformed(_)), "{error:?}"),
            _ => assert_eq!(
                error,
                ServerError::FrameTooLarge {
                    max: daemon_max_frame(&bystander)
                }
            ),
        }
        assert_eq!(raw.receive().await, None, "framing lost: connection closed");
    }
    assert_eq!(bystander.call(&Request::Ping).await, Ok(Reply::Done));
    daemon.stop().await;
}

fn daemon_max_frame<S>(raw: &Raw<S>) -> u32 {
    raw.hello.max_frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_requests_get_errors_and_the_connection_stays() {
    let daemon = Daemon::plain().await;
    let mut raw = Raw::connect(daemon.addr).await;
    // Opcode 0x7f does not exist.
    raw.stream.write_all(&[0, 0, 0, 1, 0x7f]).await.unwrap();
    assert_eq!(raw.receive().await, Some(Err(ServerError::UnknownOp(0x7f))));
    // GET with only half an id.
    raw.stream
        .write_all(&[0, 0, 0, 9, 0x11, 1, 2, 3, 4, 5, 6, 7, 8])
        .await
        .unwrap();
    let error = raw.receive().await.unwrap().unwrap_err();
    assert!(matches!(error, ServerError::Malformed(_)), "{error:?}");
    assert_eq!(raw.call(&Request::Ping).await, Ok(Reply::Done));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_frame_waits_and_a_vanished_client_hurts_nobody() {
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(config).await;
    // Half a frame, then silence: the server waits, then idles it out.
    let mut raw = Raw::connect(daemon.addr).await;
    raw.stream
        .write_all(&[0, 0, 0, 100, 0x21, 0])
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(raw.receive().await, None);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed only once idle"
    );
    // Half a frame, then the client goes away mid-request.
    let mut gone = Raw::connect(daemon.addr).await;
    gone.stream.write_all(&[0, 0, 0, 100, 0x21]).await.unwrap();
    drop(gone);
    assert_served(daemon.addr).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_pipelined_requests_are_answered_in_order() {
    let daemon = Daemon::plain().await;
    let mut raw = Raw::connect(daemon.addr).await;
    let mut frames = BytesMut::new();
    let incr = Request::KeyIncr {
        key: b"counter".to_vec(),
        delta: 1,
    };
    for _ in 0..10_000 {
        sessiond_protocol::wire::codec::encode_request(&incr, &mut frames);
    }
    // All of them in one write, before reading any reply.
    let (mut reader, mut writer) = raw.stream.split();
    let write = async { writer.write_all(&frames).await.unwrap() };
    let read = async {
        let mut buffer = BytesMut::new();
        for expected in 1..=10_000 {
            let reply = receive_frame(&mut reader, &mut buffer).await.unwrap();
            assert_eq!(reply, Ok(Reply::Integer(expected)));
        }
    };
    tokio::join!(write, read);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_connections_are_served() {
    let daemon = Daemon::plain().await;
    let mut clients = Vec::with_capacity(2000);
    for _ in 0..2000 {
        clients.push(Raw::connect(daemon.addr).await);
    }
    let stats = clients[0].call(&Request::Stats).await.unwrap();
    let Reply::Stats(stats) = stats else {
        panic!("a stats reply")
    };
    let connections = stats
        .iter()
        .find(|(name, _)| name == "connections")
        .unwrap()
        .1;
    assert_eq!(connections, 2000);
    // Every connection, open at once, is answered.
    let calls = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut raw)| async move {
            let key = format!("k{i}").into_bytes();
            raw.call(&Request::KeyIncr { key, delta: 1 }).await
        });
    for answer in futures_join_all(calls).await {
        assert_eq!(answer, Ok(Reply::Integer(1)));
    }
    daemon.stop().await;
}

/// Runs futures concurrently on the runtime and collects their outputs in
/// order (a tiny stand-in for `futures::join_all`).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_a_client_is_told_busy() {
    let config = ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(config).await;
    let mut first = Raw::connect(daemon.addr).await;
    let _second = Raw::connect(daemon.addr).await;
    let mut third = TcpStream::connect(daemon.addr).await.unwrap();
    let mut buffer = BytesMut::new();
    let answer = receive_frame(&mut third, &mut buffer).await;
    assert_eq!(answer, Some(Err(ServerError::Busy)));
    assert_eq!(first.call(&Request::Ping).await, Ok(Reply::Done));
    daemon.stop().await;
}

fn with_token(token: &str) -> ServerConfig {
    ServerConfig {
        auth_token: Some(Secret::new(token).unwrap()),
        ..ServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_nothing_but_ping_and_auth_is_answered_before_auth() {
    let daemon = Daemon::start(with_token("correct horse-padded-to-the-32-byte-minimum")).await;
    let mut raw = Raw::connect(daemon.addr).await;
    assert!(raw.hello.auth_required);
    assert_eq!(raw.call(&Request::Ping).await, Ok(Reply::Done));
    let get = Request::KeyGet { key: b"k".to_vec() };
    assert_eq!(raw.call(&get).await, Err(ServerError::AuthRequired));
    assert_eq!(
        raw.call(&Request::Create(NewSession::new("u"))).await,
        Err(ServerError::AuthRequired)
    );
    assert_eq!(
        raw.call(&Request::Stats).await,
        Err(ServerError::AuthRequired)
    );
    assert_eq!(daemon.store.stats().sessions, 0, "nothing ran");

    let started = Instant::now();
    let wrong = Request::Auth {
        token: b"battery staple".to_vec(),
    };
    assert_eq!(raw.call(&wrong).await, Err(ServerError::AuthFailed));
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "failures are slowed"
    );
    assert_eq!(raw.call(&get).await, Err(ServerError::AuthRequired));

    let right = Request::Auth {
        token: b"correct horse-padded-to-the-32-byte-minimum".to_vec(),
    };
    assert_eq!(raw.call(&right).await, Ok(Reply::Done));
    assert_eq!(raw.call(&get).await, Ok(Reply::Value(None)));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_tokens_close_the_connection() {
    let daemon = Daemon::start(with_token("t0ken-padded-to-the-32-byte-minimum")).await;
    let mut raw = Raw::connect(daemon.addr).await;
    let wrong = Request::Auth {
        token: b"guess".to_vec(),
    };
    // Pipelined, so the growing delays run back to back (5.5 s in all).
    for _ in 0..10 {
        raw.send(&wrong).await;
    }
    for _ in 0..10 {
        assert_eq!(raw.receive().await, Some(Err(ServerError::AuthFailed)));
    }
    assert_eq!(raw.receive().await, None, "closed after the tenth");
    assert_served(daemon.addr).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_travel_with_their_details() {
    let daemon = Daemon::plain().await;
    let mut raw = Raw::connect(daemon.addr).await;
    let id = sessiond::SessionId::random();
    assert_eq!(
        raw.call(&Request::Get { id, touch: true }).await,
        Err(ServerError::Store(StoreError::NotFound))
    );
    assert_eq!(
        raw.call(&Request::Create(NewSession::new(""))).await,
        Err(ServerError::Store(StoreError::BadOwner {
            len: 0,
            max: 256
        }))
    );
    let Ok(Reply::Id(id)) = raw.call(&Request::Create(NewSession::new("u"))).await else {
        panic!("created")
    };
    let stale = Request::Update {
        id,
        expected_version: Some(7),
        data: b"x".to_vec(),
    };
    assert_eq!(
        raw.call(&stale).await,
        Err(ServerError::Store(StoreError::VersionMismatch {
            expected: 7,
            actual: 1
        }))
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_was_received_then_closes() {
    let mut daemon = Daemon::plain().await;
    let mut raw = Raw::connect(daemon.addr).await;
    let incr = Request::KeyIncr {
        key: b"n".to_vec(),
        delta: 1,
    };
    for _ in 0..100 {
        raw.send(&incr).await;
    }
    // Make sure the server has read them before it is told to stop.
    raw.send(&Request::Ping).await;
    for expected in 1..=100 {
        assert_eq!(raw.receive().await, Some(Ok(Reply::Integer(expected))));
    }
    assert_eq!(raw.receive().await, Some(Ok(Reply::Done)));
    let addr = daemon.addr;
    daemon.begin_shutdown();
    assert_eq!(raw.receive().await, None, "closed cleanly");
    daemon.stop().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_store_is_not_exposed_beyond_loopback() {
    let config = ServerConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let refused =
        sessiond_server::Server::bind(config.clone(), sessiond::Store::new(Default::default()))
            .await;
    assert!(matches!(
        refused,
        Err(sessiond_server::ServeError::Unprotected(_))
    ));
    let allowed = ServerConfig {
        allow_unauthenticated_remote: true,
        ..config.clone()
    };
    assert!(
        sessiond_server::Server::bind(allowed, sessiond::Store::new(Default::default()))
            .await
            .is_ok()
    );
    let with_token = ServerConfig {
        auth_token: Some(Secret::new("a-token-padded-to-the-32-byte-minimum").unwrap()),
        ..config
    };
    assert!(
        sessiond_server::Server::bind(with_token, sessiond::Store::new(Default::default()))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_whose_replies_outgrow_one_write_is_answered_in_full() {
    let config = ServerConfig {
        idle_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    };
    let daemon = Daemon::start(config).await;
    daemon
        .store
        .set_key(b"big", vec![b'x'; 1024], None)
        .unwrap();
    let mut raw = Raw::connect(daemon.addr).await;
    // 200 reads of 1 KiB in one write: 200 KiB of replies, more than the
    // server writes at once, all of them already received.
    let mut frames = BytesMut::new();
    for _ in 0..200 {
        let get = Request::KeyGet {
            key: b"big".to_vec(),
        };
        sessiond_protocol::wire::codec::encode_request(&get, &mut frames);
    }
    raw.stream.write_all(&frames).await.unwrap();
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(
            raw.receive().await,
            Some(Ok(Reply::Value(Some(vec![b'x'; 1024]))))
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once, not after the idle timeout"
    );
    daemon.stop().await;
}
