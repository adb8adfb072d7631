//! The connection policy both faces share: the same gate before AUTH, the
//! same cost of wrong tokens and the same close after ten, and STATS
//! counting the Redis face's commands beside the native requests.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_server::{Secret, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Daemon, Raw};

async fn daemon(auth_token: Option<&str>) -> Daemon {
    Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        auth_token: auth_token.map(|t| Secret::new(t).unwrap()),
        ..ServerConfig::default()
    })
    .await
}

/// Writes `request` and reads until `answer.len()` bytes have come (or
/// the server closed), then compares.
async fn say(stream: &mut TcpStream, request: &str, answer: &str) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = BytesMut::new();
    while got.len() < answer.len() {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_buf(&mut got))
            .await
            .expect("an answer in time")
            .unwrap();
        if read == 0 {
            break;
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), answer, "after {request:?}");
}

/// Whether the server has closed the stream (reads end of file in time).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut rest = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut rest)).await;
    matches!(read, Ok(Ok(0) | Err(_)))
}

async fn stats(native: &mut Raw<TcpStream>) -> Vec<(String, u64)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_commands_are_counted_in_stats_by_name() {
    let daemon = daemon(None).await;
    let mut resp = TcpStream::connect(daemon.resp_addr.unwrap()).await.unwrap();
    // Pipelined in one batch, and then one more batch.
    say(
        &mut resp,
        "SET a 1\r\nSET b 2\r\nGET a\r\nget b\r\nGET nope\r\n",
        "+OK\r\n+OK\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n",
    )
    .await;
    say(
        &mut resp,
        "SESSION.COUNT alice\r\nGET\r\nNOSUCH x\r\n",
        ":0\r\n-ERR wrong number of arguments for 'get' command\r\n\
         -ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
    )
    .await;
    let mut native = Raw::connect(daemon.addr).await;
    let counted = stats(&mut native).await;
    assert_eq!(stat(&counted, "resp_set"), 2);
    assert_eq!(stat(&counted, "resp_get"), 4, "a refused GET counts too");
    assert_eq!(stat(&counted, "resp_session_count"), 1);
    assert_eq!(stat(&counted, "resp_del"), 0);
    assert_eq!(
        stat(&counted, "ops_key_get"),
        0,
        "each face counts its own requests"
    );

    let info = "INFO commandstats\r\n";
    resp.write_all(info.as_bytes()).await.unwrap();
    let mut got = BytesMut::new();
    while !got.ends_with(b"\r\n\r\n") {
        assert!(resp.read_buf(&mut got).await.unwrap() > 0);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("# Commandstats\r\n"), "{text}");
    // As in Redis, a GET refused for its arity is rejected, not called.
    assert!(text.contains("cmdstat_get:calls=3,usec="), "{text}");
    assert!(
        text.contains(",rejected_calls=1,failed_calls=0\r\n"),
        "{text}"
    );
    assert!(text.contains("cmdstat_set:calls=2,"), "{text}");
    assert!(
        !text.contains("cmdstat_del"),
        "uncalled commands are left out"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_faces_gate_slow_down_and_close_alike() {
    let daemon = daemon(Some("s3cret-padded-to-the-32-byte-minimum")).await;
    let resp_addr = daemon.resp_addr.unwrap();

    // Before AUTH: refused on both, and nothing runs.
    let mut native = Raw::connect(daemon.addr).await;
    let get = Request::KeyGet { key: b"k".to_vec() };
    assert_eq!(native.call(&get).await, Err(ServerError::AuthRequired));
    let mut resp = TcpStream::connect(resp_addr).await.unwrap();
    say(
        &mut resp,
        "SET k v\r\n",
        "-NOAUTH Authentication required.\r\n",
    )
    .await;
    assert_eq!(daemon.store.stats().keys, 0);

    // One wrong token costs the same delay on both.
    let started = Instant::now();
    let wrong = Request::Auth {
        token: b"guess".to_vec(),
    };
    assert_eq!(native.call(&wrong).await, Err(ServerError::AuthFailed));
    let native_took = started.elapsed();
    let started = Instant::now();
    let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    say(&mut resp, "AUTH guess\r\n", wrongpass).await;
    let resp_took = started.elapsed();
    for took in [native_took, resp_took] {
        assert!(took >= Duration::from_millis(100), "{took:?}");
    }

    // The right one opens both.
    let right = Request::Auth {
        token: b"s3cret-padded-to-the-32-byte-minimum".to_vec(),
    };
    assert_eq!(native.call(&right).await, Ok(Reply::Done));
    assert_eq!(native.call(&get).await, Ok(Reply::Value(None)));
    say(
        &mut resp,
        "AUTH s3cret-padded-to-the-32-byte-minimum\r\nGET k\r\n",
        "+OK\r\n$-1\r\n",
    )
    .await;

    // Ten wrong ones in a row close either connection, and the delays
    // grow alike (pipelined, so they run back to back: 5.5 s on each).
    // Each from an address of its own, as wrong tokens are also counted
    // per address (see the next test).
    let from = |ip: &str, to: std::net::SocketAddr| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        socket.connect(to)
    };
    let native_guesses = async {
        let mut raw = Raw::over(from("127.0.0.2", daemon.addr).await.unwrap()).await;
        for _ in 0..10 {
            raw.send(&wrong).await;
        }
        for _ in 0..10 {
            assert_eq!(raw.receive().await, Some(Err(ServerError::AuthFailed)));
        }
        assert_eq!(raw.receive().await, None, "native: closed after the tenth");
    };
    let resp_guesses = async {
        let mut s = from("127.0.0.3", resp_addr).await.unwrap();
        say(&mut s, &"AUTH guess\r\n".repeat(10), &wrongpass.repeat(10)).await;
        assert!(closed(&mut s).await, "RESP: closed after the tenth");
    };
    let started = Instant::now();
    tokio::join!(native_guesses, resp_guesses);
    assert!(started.elapsed() >= Duration::from_millis(5_500));

    let counted = stats(&mut native).await;
    assert_eq!(
        stat(&counted, "auth_failures"),
        22,
        "one count for both faces"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_does_not_reset_the_delay_of_wrong_tokens() {
    let daemon = daemon(Some("s3cret-padded-to-the-32-byte-minimum")).await;
    let resp_addr = daemon.resp_addr.unwrap();
    let wrong = Request::Auth {
        token: b"guess".to_vec(),
    };
    // Five wrong tokens, each on a fresh connection, alternating faces.
    for _ in 0..2 {
        let mut native = Raw::connect(daemon.addr).await;
        assert_eq!(native.call(&wrong).await, Err(ServerError::AuthFailed));
        let mut resp = TcpStream::connect(resp_addr).await.unwrap();
        let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
        say(&mut resp, "AUTH guess\r\n", wrongpass).await;
    }
    // The fifth, on its own first try, waits as a fifth: 500 ms, not 100.
    let mut native = Raw::connect(daemon.addr).await;
    let started = Instant::now();
    assert_eq!(native.call(&wrong).await, Err(ServerError::AuthFailed));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    // The right token is not delayed, and forgives the address.
    let right = Request::Auth {
        token: b"s3cret-padded-to-the-32-byte-minimum".to_vec(),
    };
    let started = Instant::now();
    assert_eq!(native.call(&right).await, Ok(Reply::Done));
    // A delayed one would wait at least 500 ms.
    assert!(started.elapsed() < Duration::from_millis(400));
    let mut fresh = Raw::connect(daemon.addr).await;
    let started = Instant::now();
    assert_eq!(fresh.call(&wrong).await, Err(ServerError::AuthFailed));
    let took = started.elapsed();
    // A first wrong token waits 100 ms; an address not forgiven, 600.
    assert!(took < Duration::from_millis(450), "{took:?}");
    daemon.stop().await;
}
