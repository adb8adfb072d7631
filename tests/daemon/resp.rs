//! The Redis-protocol listener: RESP and inline requests, Redis's errors,
//! auth, HELLO 3, and the real `redis-cli` (from Debian's redis-tools,
//! installed by the test command; the test fails without it).

use std::process::Command;

use bytes::BytesMut;
use sessiond::server::{Secret, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Daemon;

async fn resp_daemon(config: ServerConfig) -> (Daemon, std::net::SocketAddr) {
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..config
    })
    .await;
    let addr = daemon.resp_addr.expect("a RESP listener");
    (daemon, addr)
}

/// Sends `request` and reads until `expected` bytes have arrived.
async fn exchange(stream: &mut TcpStream, request: &[u8], expected: usize) -> Vec<u8> {
    stream.write_all(request).await.unwrap();
    let mut got = BytesMut::new();
    while got.len() < expected {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_buf(&mut got))
                .await
                .expect("an answer in time")
                .unwrap();
        if read == 0 {
            break;
        }
    }
    got.to_vec()
}

async fn say(stream: &mut TcpStream, request: &str, answer: &str) {
    let got = exchange(stream, request.as_bytes(), answer.len()).await;
    assert_eq!(String::from_utf8_lossy(&got), answer, "after {request:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_keys_over_resp_and_inline_with_redis_errors() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n").await;
    say(&mut s, "PING hello\r\n", "$5\r\nhello\r\n").await;
    say(
        &mut s,
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n",
        "+OK\r\n",
    )
    .await;
    say(&mut s, "GET k\r\n", "$2\r\nv1\r\n").await;
    say(&mut s, "GET nope\r\n", "$-1\r\n").await;
    say(
        &mut s,
        "SET t x EX 100\r\nTTL t\r\nPTTL nope\r\n",
        "+OK\r\n:100\r\n:-2\r\n",
    )
    .await;
    say(
        &mut s,
        "INCR n\r\nINCRBY n 41\r\nDECR n\r\n",
        ":1\r\n:42\r\n:41\r\n",
    )
    .await;
    say(
        &mut s,
        "INCR k\r\n",
        "-ERR value is not an integer or out of range\r\n",
    )
    .await;
    say(&mut s, "DEL k t missing\r\n", ":2\r\n").await;
    say(
        &mut s,
        "GET\r\n",
        "-ERR wrong number of arguments for 'get' command\r\n",
    )
    .await;
    say(
        &mut s,
        "FOOBAR a b\r\n",
        "-ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' \r\n",
    )
    .await;
    say(
        &mut s,
        "SELECT 1\r\nSELECT 0\r\n",
        "-ERR DB index is out of range\r\n+OK\r\n",
    )
    .await;
    say(
        &mut s,
        "SET k v EX 0\r\n",
        "-ERR invalid expire time in 'set' command\r\n",
    )
    .await;
    // The native and RESP faces share one store.
    assert_eq!(daemon.store.get_key(b"n"), Some(b"41".to_vec()));
    say(&mut s, "QUIT\r\n", "+OK\r\n").await;
    assert!(
        exchange(&mut s, b"", 1).await.is_empty(),
        "closed after QUIT"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_bulk_length_is_a_protocol_error_that_closes_only_that_client() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut bystander = TcpStream::connect(addr).await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let answer = "-ERR Protocol error: invalid bulk length\r\n";
    say(&mut s, "*1\r\n$-7\r\n", answer).await;
    assert!(exchange(&mut s, b"", 1).await.is_empty(), "then closed");
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "*1\r\n$99999999999\r\n", answer).await;
    say(&mut bystander, "PING\r\n", "+PONG\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_hello_three() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        auth_token: Some(Secret::new("pw").unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "GET k\r\n", "-NOAUTH Authentication required.\r\n").await;
    say(
        &mut s,
        "AUTH wrong\r\n",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    )
    .await;
    say(&mut s, "AUTH default pw\r\n", "+OK\r\n").await;
    say(&mut s, "GET k\r\n", "$-1\r\n").await;
    let hello = exchange(&mut s, b"HELLO 3\r\n", 20).await;
    assert!(
        hello.starts_with(b"%7\r\n$6\r\nserver\r\n"),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    // Read the rest of the map before the next command.
    let mut rest = vec![0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), s.read(&mut rest)).await;
    say(&mut s, "GET k\r\n", "_\r\n").await;

    let mut other = TcpStream::connect(addr).await.unwrap();
    let hello = exchange(&mut other, b"HELLO 3 AUTH default pw\r\n", 4).await;
    assert!(hello.starts_with(b"%7\r\n"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_works_against_the_listener() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let cli = move |args: &[&str]| {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli (apt-get install redis-tools) is needed for this test");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let (set, get, ttl) = tokio::task::spawn_blocking(move || {
        (
            cli(&["SET", "greeting", "hello world", "EX", "60"]),
            cli(&["GET", "greeting"]),
            cli(&["TTL", "greeting"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(set.trim(), "OK");
    assert_eq!(get.trim(), "hello world");
    assert_eq!(ttl.trim(), "60");
    daemon.stop().await;
}
