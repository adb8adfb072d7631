//! Publish/subscribe across connections: messages and pattern messages in
//! order, RESP3 pushes between replies, a subscriber that does not read
//! disconnected at its cap while the others get everything, and a closed
//! subscriber gone from the counts. (Replies on one connection are checked
//! against redis-server in `differential.rs`.)

use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::resp::{reply, resp_daemon, say};

/// Reads until `expected` bytes have come (or 5 s pass).
async fn read_exactly(stream: &mut TcpStream, expected: usize) -> Vec<u8> {
    let mut got = BytesMut::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while got.len() < expected {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut got)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    got.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_channel_and_pattern_subscribers_in_order() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut sub = TcpStream::connect(addr).await.unwrap();
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    say(
        &mut sub,
        "SUBSCRIBE news\r\nPSUBSCRIBE n*\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n\
         *3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n",
    )
    .await;
    say(&mut publisher, "PUBLISH news one\r\n", ":2\r\n").await;
    say(&mut publisher, "PUBLISH nope two\r\n", ":1\r\n").await;
    say(&mut publisher, "PUBLISH other x\r\n", ":0\r\n").await;
    let expected = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\none\r\n\
                    *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$3\r\none\r\n\
                    *4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnope\r\n$3\r\ntwo\r\n";
    let got = read_exactly(&mut sub, expected.len()).await;
    assert_eq!(String::from_utf8_lossy(&got), expected);
    say(
        &mut publisher,
        "PUBSUB NUMSUB news\r\nPUBSUB NUMPAT\r\nPUBSUB CHANNELS\r\n",
        "*2\r\n$4\r\nnews\r\n:1\r\n:1\r\n*1\r\n$4\r\nnews\r\n",
    )
    .await;
    // A subscriber that leaves is taken off at once.
    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(5);
    while reply(&mut publisher, "PUBLISH news x\r\n").await != redis::Value::Int(0) {
        assert!(
            Instant::now() < deadline,
            "a closed subscriber is forgotten"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(&mut publisher, "PUBSUB NUMPAT\r\n", ":0\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resp3_subscriber_gets_pushes_between_its_replies() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut sub = TcpStream::connect(addr).await.unwrap();
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    let _ = reply(&mut sub, "HELLO 3\r\n").await;
    say(
        &mut sub,
        "SUBSCRIBE c\r\n",
        ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    )
    .await;
    say(&mut publisher, "PUBLISH c hi\r\n", ":1\r\n").await;
    let push = ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_exactly(&mut sub, push.len()).await),
        push
    );
    // Any command still works, in RESP3.
    say(&mut sub, "SET k v\r\nGET k\r\n", "+OK\r\n$1\r\nv\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_is_closed_and_hurts_nobody() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        max_output_buffer: 1024 * 1024,
        ..ServerConfig::default()
    })
    .await;
    // A small receive buffer, so that the kernel cannot absorb what the
    // slow subscriber does not read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(addr).await.unwrap();
    let mut reader = TcpStream::connect(addr).await.unwrap();
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    for s in [&mut slow, &mut reader] {
        say(
            s,
            "SUBSCRIBE c\r\n",
            "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
        )
        .await;
    }
    // 8 MB of messages: far past the slow one's cap and its socket's
    // buffers, which it never drains.
    let payload = "x".repeat(1000);
    let one = format!("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1000\r\n{payload}\r\n");
    let messages = 8000;
    let collect = tokio::spawn(async move {
        let got = read_exactly(&mut reader, messages * one.len()).await;
        (
            got.len(),
            got.starts_with(one.as_bytes()),
            got.ends_with(one.as_bytes()),
        )
    });
    let mut receivers = Vec::new();
    for _ in 0..messages {
        receivers.push(reply(&mut publisher, &format!("PUBLISH c {payload}\r\n")).await);
    }
    let (len, starts, ends) = collect.await.unwrap();
    assert_eq!(
        len,
        messages * (one_len(&payload)),
        "the reader got every message"
    );
    assert!(starts && ends);
    assert_eq!(receivers.first(), Some(&redis::Value::Int(2)));
    // The slow one was let go: later messages have one receiver.
    assert_eq!(receivers.last(), Some(&redis::Value::Int(1)));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the slow subscriber's connection is closed");
    daemon.stop().await;
}

fn one_len(payload: &str) -> usize {
    format!(
        "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n${}\r\n{payload}\r\n",
        payload.len()
    )
    .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_mode_refuses_other_commands_until_it_ends() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "SUBSCRIBE c\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    )
    .await;
    s.write_all(b"GET k\r\n").await.unwrap();
    let refused = reply(&mut s, "").await;
    assert!(
        matches!(&refused, redis::Value::ServerError(e) if e.details().unwrap_or("").contains("only (P|S)SUBSCRIBE")),
        "{refused:?}"
    );
    say(&mut s, "RESET\r\nGET k\r\n", "+RESET\r\n$-1\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_is_exempt_from_the_idle_timeout() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        idle_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    })
    .await;
    let mut sub = TcpStream::connect(addr).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    say(
        &mut sub,
        "SUBSCRIBE c\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    )
    .await;
    say(&mut idle, "PING\r\n", "+PONG\r\n").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle client is closed");
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    say(&mut publisher, "PUBLISH c still-here\r\n", ":1\r\n").await;
    let push = "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$10\r\nstill-here\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_exactly(&mut sub, push.len()).await),
        push
    );
    daemon.stop().await;
}
