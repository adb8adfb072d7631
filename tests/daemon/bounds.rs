//! The bounds every connection is kept within, on both faces: small
//! requests and a deadline before authentication; input and output caps
//! and a write timeout after; what the buffers hold, in STATS and INFO.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_server::{Secret, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Daemon, Raw};

/// A token of the length the server asks for.
pub(crate) const TOKEN: &str = "bounds-test-token-0123456789abcdef";

async fn daemon(config: ServerConfig) -> (Daemon, std::net::SocketAddr) {
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..config
    })
    .await;
    let resp = daemon.resp_addr.expect("a RESP listener");
    (daemon, resp)
}

fn with_token() -> ServerConfig {
    ServerConfig {
        auth_token: Some(Secret::new(TOKEN).unwrap()),
        ..ServerConfig::default()
    }
}

/// Reads until the server closes (or `wait` passes): what it sent, and
/// whether it closed.
async fn until_closed(stream: &mut TcpStream, wait: Duration) -> (Vec<u8>, bool) {
    let mut got = BytesMut::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut got)).await {
            Err(_) => return (got.to_vec(), false),
            Ok(Ok(0) | Err(_)) => return (got.to_vec(), true),
            Ok(Ok(_)) => {}
        }
    }
}

async fn stats(addr: std::net::SocketAddr) -> Vec<(String, u64)> {
    let mut native = Raw::connect(addr).await;
    if let Ok(Reply::Done) = native
        .call(&Request::Auth {
            token: TOKEN.into(),
        })
        .await
    {}
    match native.call(&Request::Stats).await {
        Ok(Reply::Stats(stats)) => stats,
        other => panic!("not a stats reply: {other:?}"),
    }
}

fn stat(stats: &[(String, u64)], name: &str) -> u64 {
    stats
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in STATS"))
        .1
}

async fn resp_auth(stream: &mut TcpStream) {
    stream
        .write_all(format!("AUTH {TOKEN}\r\n").as_bytes())
        .await
        .unwrap();
    let mut ok = [0u8; 5];
    stream.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"+OK\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_auth_only_small_requests_on_both_faces() {
    let (daemon, resp) = daemon(with_token()).await;
    for (request, error) in [
        (&b"*11\r\n"[..], "unauthenticated multibulk length"),
        (
            b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
            "unauthenticated bulk length",
        ),
    ] {
        let mut stream = TcpStream::connect(resp).await.unwrap();
        stream.write_all(request).await.unwrap();
        let (got, closed) = until_closed(&mut stream, Duration::from_secs(5)).await;
        let expected = format!("-ERR Protocol error: {error}\r\n");
        assert_eq!(String::from_utf8_lossy(&got), expected);
        assert!(closed, "closed after {error}");
    }
    // The native face: a frame over 16 KiB before AUTH.
    let mut native = Raw::connect(daemon.addr).await;
    native
        .stream
        .write_all(&100_000u32.to_be_bytes())
        .await
        .unwrap();
    assert_eq!(
        native.receive().await,
        Some(Err(ServerError::FrameTooLarge { max: 16 * 1024 }))
    );
    assert_eq!(native.receive().await, None, "and closed");
    // After AUTH, the usual bounds: a 100 KB value on each face.
    let mut stream = TcpStream::connect(resp).await.unwrap();
    resp_auth(&mut stream).await;
    let value = "v".repeat(100_000);
    stream
        .write_all(format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n{value}\r\n").as_bytes())
        .await
        .unwrap();
    let mut ok = [0u8; 5];
    stream.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    let mut native = Raw::connect(daemon.addr).await;
    let auth = native
        .call(&Request::Auth {
            token: TOKEN.into(),
        })
        .await;
    assert_eq!(auth, Ok(Reply::Done));
    let set = Request::KeySet {
        key: b"n".to_vec(),
        ttl: None,
        value: value.into_bytes(),
    };
    assert_eq!(native.call(&set).await, Ok(Reply::Done));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_authenticate_in_time_are_closed() {
    let (daemon, resp) = daemon(ServerConfig {
        handshake_timeout: Duration::from_secs(1),
        ..with_token()
    })
    .await;
    let started = Instant::now();
    // Busy but never authenticating: PING is allowed, and keeps the idle
    // timer away, but not the deadline.
    let mut pinging = TcpStream::connect(resp).await.unwrap();
    let mut native = Raw::connect(daemon.addr).await;
    let mut authed = TcpStream::connect(resp).await.unwrap();
    resp_auth(&mut authed).await;
    let mut pinging_closed = false;
    for _ in 0..30 {
        if pinging.write_all(b"PING\r\n").await.is_err() {
            pinging_closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(200), pinging.read(&mut buf));
        if let Ok(Ok(0) | Err(_)) = read.await {
            pinging_closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pinging_closed, "an unauthenticated RESP client is closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "at the deadline: {waited:?}"
    );
    assert_eq!(native.receive().await, None, "the native one too");
    // The authenticated client is still served.
    authed.write_all(b"PING\r\n").await.unwrap();
    let mut pong = [0u8; 7];
    authed.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    // RESET drops authentication: a new deadline runs from then.
    authed.write_all(b"RESET\r\n").await.unwrap();
    let (got, closed) = until_closed(&mut authed, Duration::from_secs(5)).await;
    assert_eq!(got, b"+RESET\r\n");
    assert!(closed, "closed a deadline after RESET");
    assert!(stat(&stats(daemon.addr).await, "closed_auth_timeout") >= 3);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_closed_at_the_output_cap() {
    let (daemon, resp) = daemon(ServerConfig {
        max_output_buffer: 4 * 1024 * 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut writer = TcpStream::connect(resp).await.unwrap();
    let value = "x".repeat(1 << 20);
    let set = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n{value}\r\n");
    writer.write_all(set.as_bytes()).await.unwrap();
    let mut ok = [0u8; 5];
    writer.read_exact(&mut ok).await.unwrap();
    // 200 MB of answers asked for, none read.
    let mut greedy = TcpStream::connect(resp).await.unwrap();
    let gets = "GET big\r\n".repeat(200);
    greedy.write_all(gets.as_bytes()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = stats(daemon.addr).await;
        if stat(&stats, "closed_output_limit") == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closed at the output cap in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Others are served meanwhile and after.
    writer.write_all(b"EXISTS big\r\n").await.unwrap();
    let mut one = [0u8; 4];
    writer.read_exact(&mut one).await.unwrap();
    assert_eq!(&one, b":1\r\n");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_not_read_in_time_close_the_connection() {
    let (daemon, resp) = daemon(ServerConfig {
        write_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let mut writer = TcpStream::connect(resp).await.unwrap();
    let value = "x".repeat(1 << 20);
    let set = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n{value}\r\n");
    writer.write_all(set.as_bytes()).await.unwrap();
    let mut ok = [0u8; 5];
    writer.read_exact(&mut ok).await.unwrap();
    // 16 MB of answers: under the output cap, more than the sockets hold.
    let mut slow = TcpStream::connect(resp).await.unwrap();
    slow.write_all("GET big\r\n".repeat(16).as_bytes())
        .await
        .unwrap();
    // Closed a second after its answers stopped being taken.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stat(&stats(daemon.addr).await, "closed_write_timeout") == 0 {
        assert!(std::time::Instant::now() < deadline, "never timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stat(&stats(daemon.addr).await, "closed_write_timeout"), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_input_cap_close_the_connection() {
    let (daemon, resp) = daemon(ServerConfig {
        max_input_buffer: 1024 * 1024,
        ..ServerConfig::default()
    })
    .await;
    // One request of 100,000 arguments, 1.6 MB, never finished.
    let mut stream = TcpStream::connect(resp).await.unwrap();
    let mut request = b"*100000\r\n".to_vec();
    for _ in 0..100_000 {
        request.extend_from_slice(b"$10\r\n0123456789\r\n");
    }
    request.truncate(request.len() - 10);
    let _ = stream.write_all(&request).await;
    let (_, closed) = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed);
    assert_eq!(stat(&stats(daemon.addr).await, "closed_input_limit"), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_pipeline_sent_before_reading_is_answered_whole() {
    // The loop goes on reading while answers wait, so a client that
    // writes everything before it reads is not deadlocked against its
    // own writes.
    let (daemon, resp) = daemon(ServerConfig::default()).await;
    let mut stream = TcpStream::connect(resp).await.unwrap();
    let value = "y".repeat(1000);
    let mut setup = format!("SET k {value}\r\n");
    setup.push_str(&"GET k\r\n".repeat(20_000));
    stream.write_all(setup.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let (got, closed) = until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(closed, "closed once everything is answered");
    assert_eq!(got.len(), 5 + 20_000 * (1000 + 2 + 7));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_buffers_are_reported_in_stats_and_info() {
    let (daemon, resp) = daemon(with_token()).await;
    let before = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    // Twenty clients each holding most of a request.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(resp).await.unwrap();
        let mut partial = b"*2\r\n$4\r\nAUTH\r\n$16000\r\n".to_vec();
        partial.extend_from_slice(&[b'a'; 15_000]);
        stream.write_all(&partial).await.unwrap();
        held.push(stream);
    }
    // Until the server has read them all.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut during = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    while during < before + 20 * 15_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        during = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    }
    assert!(during >= before + 20 * 15_000, "{before} then {during}");
    let mut info = TcpStream::connect(resp).await.unwrap();
    resp_auth(&mut info).await;
    info.write_all(b"INFO memory\r\n").await.unwrap();
    let mut text = BytesMut::new();
    while !String::from_utf8_lossy(&text).contains("maxmemory_human")
        || !text.ends_with(b"\r\n\r\n")
    {
        info.read_buf(&mut text).await.unwrap();
    }
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .find(|l| l.starts_with("mem_clients_normal:"))
        .expect("mem_clients_normal in INFO memory");
    let reported: u64 = line["mem_clients_normal:".len()..].parse().unwrap();
    assert!(reported >= 20 * 15_000, "{line}");
    drop(held);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_replies_are_written_in_pieces_and_bounded() {
    let (daemon, resp) = daemon(ServerConfig {
        write_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let pad = "p".repeat(90);
    for i in 0..50_000 {
        daemon
            .store
            .set_key(format!("key:{pad}:{i:05}").as_bytes(), b"v", None)
            .unwrap();
    }
    // 5 MB of KEYS to a client that does not read: encoded only as fast
    // as it is taken, so the server holds a piece of it, not all of it,
    // until the write timeout closes the connection.
    let before = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    let mut greedy = TcpStream::connect(resp).await.unwrap();
    greedy.write_all(b"KEYS *\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    assert!(during < before + 512 * 1024, "{before} then {during}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(&stats(daemon.addr).await, "closed_write_timeout") == 0 {
        assert!(Instant::now() < deadline, "closed at the write timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A client that reads gets the whole of it, in order with what follows.
    let mut reader = TcpStream::connect(resp).await.unwrap();
    reader.write_all(b"KEYS *\r\nPING\r\n").await.unwrap();
    let expected = "*50000\r\n".len() + 50_000 * ("$100\r\n".len() + 100 + 2) + 7;
    let mut got = BytesMut::new();
    while got.len() < expected {
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read_buf(&mut got));
        assert!(read.await.unwrap().unwrap() > 0);
    }
    assert!(got.starts_with(b"*50000\r\n$100\r\nkey:"));
    assert!(got.ends_with(b"\r\n+PONG\r\n"));
    // SCAN's COUNT is a hint, taken as at most 10,000.
    let scan = crate::resp::reply(&mut reader, "SCAN 0 COUNT 1000000000\r\n").await;
    let redis::Value::Array(parts) = scan else {
        panic!("a SCAN reply: {scan:?}");
    };
    let redis::Value::Array(keys) = &parts[1] else {
        panic!("keys: {parts:?}");
    };
    assert!(keys.len() <= 10_000 && !keys.is_empty(), "{}", keys.len());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_native_list_is_written_in_pieces_and_bounded() {
    let daemon = Daemon::start(ServerConfig {
        write_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let owner = b"user:many-devices".to_vec();
    let mut labels = sessiond_protocol::Labels::new();
    labels.insert("device", "d".repeat(200));
    for _ in 0..20_000 {
        let mut new = sessiond_protocol::NewSession::new(owner.clone());
        new.labels = labels.clone();
        new.limit = Some(None);
        daemon.store.create(new).unwrap();
    }
    // About 5 MB of LIST to a client that does not read: the server holds
    // a piece of it, not all of it, until the write timeout closes it.
    let before = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    let mut greedy = Raw::connect(daemon.addr).await;
    greedy
        .send(&Request::List {
            owner: owner.clone(),
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = stat(&stats(daemon.addr).await, "connection_buffer_bytes");
    assert!(during < before + 512 * 1024, "{before} then {during}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(&stats(daemon.addr).await, "closed_write_timeout") == 0 {
        assert!(Instant::now() < deadline, "closed at the write timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A client that reads gets all of it, then the answer to what follows.
    let mut reader = Raw::connect(daemon.addr).await;
    reader.send(&Request::List { owner }).await;
    reader.send(&Request::Ping).await;
    match reader.receive().await {
        Some(Ok(Reply::List(infos))) => {
            assert_eq!(infos.len(), 20_000);
            assert!(infos.iter().all(|info| info.labels == labels));
        }
        other => panic!("not a list: {other:?}"),
    }
    assert_eq!(reader.receive().await, Some(Ok(Reply::Done)));
    daemon.stop().await;
}
