//! The Prometheus endpoint: native and Redis traffic counted by command
//! and outcome, the store's figures, latency, persistence, and the HTTP
//! the listener speaks (and refuses), scraped over real sockets and read
//! back with a Prometheus text parser.

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use sessiond::{PersistConfig, Store, StoreConfig};
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_protocol::{NewSession, SessionId, StoreError};
use sessiond_server::{Secret, ServeError, Server, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::tempdir::TempDir;
use crate::{Daemon, Raw};

fn loopback() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

/// A daemon with both faces and the metrics listener.
async fn daemon(auth_token: Option<&str>) -> Daemon {
    Daemon::start(ServerConfig {
        resp_listen: loopback(),
        metrics_listen: loopback(),
        auth_token: auth_token.map(|t| Secret::new(t).unwrap()),
        ..ServerConfig::default()
    })
    .await
}

/// An HTTP response: status code, head, body.
struct Http {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` as is and reads the response until the server closes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8]) -> Http {
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the metrics listener answers and closes in time")
        .expect("a response");
    let text = String::from_utf8(raw).expect("a text response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    Http {
        status: status.expect("a status line"),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn http(addr: SocketAddr, request: &str) -> Http {
    exchange(TcpStream::connect(addr).await.unwrap(), request.as_bytes()).await
}

/// Scrapes `/metrics` and parses it, checking the response's framing.
async fn scrape(addr: SocketAddr) -> Scrape {
    let response = http(addr, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").await;
    parse(response)
}

fn parse(response: Http) -> Scrape {
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .head
            .contains("Content-Type: text/plain; version=0.0.4"),
        "{}",
        response.head
    );
    let length = format!("Content-Length: {}", response.body.len());
    assert!(response.head.contains(&length), "{}", response.head);
    let lines = response.body.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).expect("the Prometheus text format")
}

/// The samples named `name` whose labels include `labels`.
fn samples<'s>(scrape: &'s Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'s Sample> {
    let matches =
        |s: &&Sample| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
    scrape.samples.iter().filter(matches).collect()
}

/// The one value of the sample named `name` with `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert_eq!(found.len(), 1, "one {name} {labels:?}: {found:?}");
    match found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{name} is not a single value: {other:?}"),
    }
}

fn requests(scrape: &Scrape, face: &str, command: &str, outcome: &str) -> f64 {
    let labels = [("face", face), ("command", command), ("outcome", outcome)];
    value(scrape, "sessiond_requests_total", &labels)
}

/// Writes RESP and reads until `answer.len()` bytes have come.
async fn say(stream: &mut TcpStream, request: &str, answer: &str) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while got.len() < answer.len() {
        let mut chunk = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "the server closed after {request:?}");
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), answer, "after {request:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_both_faces_by_command_and_outcome() {
    let daemon = daemon(None).await;
    let metrics = daemon.metrics_addr.unwrap();

    let mut native = Raw::connect(daemon.addr).await;
    for _ in 0..2 {
        let created = native
            .call(&Request::Create(NewSession::new("alice")))
            .await;
        assert!(matches!(created, Ok(Reply::Id(_))), "{created:?}");
    }
    let missing = Request::Get {
        id: SessionId::random(),
        touch: true,
    };
    let not_found = Err(ServerError::Store(StoreError::NotFound));
    assert_eq!(native.call(&missing).await, not_found);
    let set = Request::KeySet {
        key: b"k".to_vec(),
        ttl: None,
        value: b"v".to_vec(),
    };
    assert_eq!(native.call(&set).await, Ok(Reply::Done));

    let mut resp = TcpStream::connect(daemon.resp_addr.unwrap()).await.unwrap();
    // One pipelined batch, then commands that fail in three ways.
    say(
        &mut resp,
        "SET a 1\r\nSET s x\r\nGET a\r\nGET nope\r\nINCR a\r\n",
        "+OK\r\n+OK\r\n$1\r\n1\r\n$-1\r\n:2\r\n",
    )
    .await;
    say(
        &mut resp,
        "INCR s\r\nGET\r\nNOSUCH x\r\n",
        "-ERR value is not an integer or out of range\r\n\
         -ERR wrong number of arguments for 'get' command\r\n\
         -ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
    )
    .await;
    // A latency is recorded after its batch is written, so the client may
    // read the answer first; the next request on the same connection is
    // read only after it, so once PING is answered the batches before it
    // are all recorded (PING's own may not be yet).
    assert_eq!(native.call(&Request::Ping).await, Ok(Reply::Done));
    say(&mut resp, "PING\r\n", "+PONG\r\n").await;

    let scrape = scrape(metrics).await;
    assert_eq!(requests(&scrape, "native", "create", "ok"), 2.0);
    assert_eq!(requests(&scrape, "native", "get", "not_found"), 1.0);
    assert_eq!(requests(&scrape, "native", "key_set", "ok"), 1.0);
    assert_eq!(requests(&scrape, "native", "ping", "ok"), 1.0);
    // Every command has its success series from the start.
    assert_eq!(requests(&scrape, "native", "rotate", "ok"), 0.0);
    assert_eq!(requests(&scrape, "resp", "set", "ok"), 2.0);
    assert_eq!(requests(&scrape, "resp", "get", "ok"), 2.0);
    assert_eq!(requests(&scrape, "resp", "get", "arity"), 1.0);
    assert_eq!(requests(&scrape, "resp", "incr", "ok"), 1.0);
    assert_eq!(requests(&scrape, "resp", "incr", "not_an_integer"), 1.0);
    assert_eq!(requests(&scrape, "resp", "unknown", "other"), 1.0);
    assert_eq!(requests(&scrape, "resp", "session.count", "ok"), 0.0);
    // Nothing else happened: the sum per face is the traffic sent.
    let total = |face: &str| -> f64 {
        let all = samples(&scrape, "sessiond_requests_total", &[("face", face)]);
        all.iter()
            .map(|s| match s.value {
                Value::Counter(v) => v,
                ref other => panic!("not a counter: {other:?}"),
            })
            .sum()
    };
    assert_eq!(total("native"), 5.0);
    assert_eq!(total("resp"), 9.0);

    for (face, sent) in [("native", 5.0), ("resp", 9.0)] {
        let labels = [("face", face)];
        let count = value(&scrape, "sessiond_request_duration_seconds_count", &labels);
        assert!(count == sent || count == sent - 1.0, "{face}: {count}");
        let sum = value(&scrape, "sessiond_request_duration_seconds_sum", &labels);
        assert!(sum > 0.0, "{face}: {sum}");
        let histogram = samples(&scrape, "sessiond_request_duration_seconds", &labels);
        let Value::Histogram(buckets) = &histogram[0].value else {
            panic!("not a histogram: {histogram:?}");
        };
        let inf = buckets.iter().find(|b| b.less_than == f64::INFINITY);
        assert_eq!(inf.map(|b| b.count), Some(count), "{buckets:?}");
        let cumulative = buckets.windows(2).all(|w| w[0].count <= w[1].count);
        assert!(cumulative, "{buckets:?}");
    }

    assert_eq!(value(&scrape, "sessiond_sessions", &[]), 2.0);
    assert_eq!(value(&scrape, "sessiond_keys", &[]), 3.0);
    assert_eq!(value(&scrape, "sessiond_owners", &[]), 1.0);
    let accounted = value(&scrape, "sessiond_memory_accounted_bytes", &[]);
    assert_eq!(accounted, daemon.store.stats().bytes_used as f64);
    assert!(value(&scrape, "process_resident_memory_bytes", &[]) > 1e6);
    // The two clients; a scrape is not a client connection.
    assert_eq!(value(&scrape, "sessiond_connections", &[]), 2.0);
    assert_eq!(
        value(&scrape, "sessiond_connections_accepted_total", &[]),
        2.0
    );
    assert_eq!(
        value(&scrape, "sessiond_connections_refused_total", &[]),
        0.0
    );
    assert_eq!(value(&scrape, "sessiond_auth_failures_total", &[]), 0.0);
    assert_eq!(value(&scrape, "sessiond_persistence_enabled", &[]), 0.0);
    assert!(samples(&scrape, "sessiond_persist_log_bytes", &[]).is_empty());
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(&scrape, "sessiond_build_info", &version), 1.0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_http_errors_and_the_listener_keeps_serving() {
    let daemon = daemon(None).await;
    let metrics = daemon.metrics_addr.unwrap();

    let post = http(
        metrics,
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(post.status, 405);
    assert!(post.head.contains("Allow: GET"), "{}", post.head);
    assert_eq!(http(metrics, "GET / HTTP/1.1\r\n\r\n").await.status, 404);
    assert_eq!(
        http(metrics, "GET /metricsx HTTP/1.1\r\n\r\n").await.status,
        404
    );
    assert_eq!(http(metrics, "hello\r\n\r\n").await.status, 400);
    assert_eq!(
        http(metrics, "GET /metrics HTTP/2.0\r\n\r\n").await.status,
        400
    );
    // A head that never ends within the limit.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let refused = http(metrics, &huge).await;
    assert_eq!(refused.status, 431);
    assert!(refused.body.contains("8 KiB"), "{}", refused.body);
    // A client that closes before finishing its head gets an answer too.
    let mut half = TcpStream::connect(metrics).await.unwrap();
    half.write_all(b"GET /metr").await.unwrap();
    half.shutdown().await.unwrap();
    assert_eq!(exchange(half, b"").await.status, 400);

    let scrape = scrape(metrics).await;
    assert_eq!(value(&scrape, "sessiond_sessions", &[]), 0.0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_answered_408_when_the_handshake_timeout_ends() {
    let daemon = Daemon::start(ServerConfig {
        metrics_listen: loopback(),
        handshake_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let metrics = daemon.metrics_addr.unwrap();
    let slow = TcpStream::connect(metrics).await.unwrap();
    let response = exchange(slow, b"GET /metrics HTTP/1.1\r\n").await;
    assert_eq!(response.status, 408);
    scrape(metrics).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_a_scrape_needs_it_as_a_bearer_token() {
    let daemon = daemon(Some("metrics-token-padded-to-the-32-byte-minimum")).await;
    let metrics = daemon.metrics_addr.unwrap();

    let bare = http(metrics, "GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(bare.status, 401);
    assert!(
        bare.head.contains("WWW-Authenticate: Bearer"),
        "{}",
        bare.head
    );
    let wrong = "GET /metrics HTTP/1.1\r\nAuthorization: Bearer guess\r\n\r\n";
    assert_eq!(http(metrics, wrong).await.status, 401);

    let right = "GET /metrics HTTP/1.1\r\nAuthorization: Bearer metrics-token-padded-to-the-32-byte-minimum\r\n\r\n";
    let scrape = parse(http(metrics, right).await);
    // The wrong guess counts as an auth failure; the missing header not.
    assert_eq!(value(&scrape, "sessiond_auth_failures_total", &[]), 1.0);
    daemon.stop().await;
}

#[tokio::test]
async fn a_reloaded_token_is_the_bearer_token_of_the_next_scrape() {
    let dir = TempDir::new("metrics-reload");
    let path = dir.path().join("token");
    std::fs::write(&path, "first-token-padded-to-the-32-byte-minimum").unwrap();
    let daemon = Daemon::start(ServerConfig {
        auth_token: Some(Secret::from_file(&path).unwrap()),
        auth_token_file: Some(path.clone()),
        metrics_listen: loopback(),
        ..ServerConfig::default()
    })
    .await;
    let metrics = daemon.metrics_addr.unwrap();
    let with =
        |token: &str| format!("GET /metrics HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n");
    assert_eq!(
        http(metrics, &with("first-token-padded-to-the-32-byte-minimum"))
            .await
            .status,
        200
    );

    std::fs::write(&path, "second-token-padded-to-the-32-byte-minimum").unwrap();
    daemon.reloader.reload().unwrap();
    assert_eq!(
        http(metrics, &with("first-token-padded-to-the-32-byte-minimum"))
            .await
            .status,
        401
    );
    assert_eq!(
        http(metrics, &with("second-token-padded-to-the-32-byte-minimum"))
            .await
            .status,
        200
    );
    daemon.stop().await;
}

#[tokio::test]
async fn metrics_beyond_loopback_need_a_token_or_permission() {
    let open = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: Some("0.0.0.0:0".parse().unwrap()),
        ..ServerConfig::default()
    };
    let store = || Store::new(StoreConfig::default());
    match Server::bind(open.clone(), store()).await {
        Err(ServeError::UnprotectedMetrics(addr)) => assert!(addr.ip().is_unspecified()),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("served metrics to the network without a token"),
    }
    let allowed = ServerConfig {
        allow_unauthenticated_remote: true,
        ..open.clone()
    };
    assert!(Server::bind(allowed, store()).await.is_ok());
    let token = ServerConfig {
        auth_token: Some(Secret::new("a-token-padded-to-the-32-byte-minimum").unwrap()),
        ..open
    };
    assert!(Server::bind(token, store()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_disk_store_shows_its_fsync_policy_and_log() {
    let dir = TempDir::new("metrics");
    let persist = PersistConfig::new(dir.path());
    let (store, _) = Store::open_with(StoreConfig::default(), persist).unwrap();
    let config = ServerConfig {
        metrics_listen: loopback(),
        ..ServerConfig::default()
    };
    let daemon = Daemon::over(store, config).await;
    let mut native = Raw::connect(daemon.addr).await;
    let created = native.call(&Request::Create(NewSession::new("bob"))).await;
    assert!(matches!(created, Ok(Reply::Id(_))), "{created:?}");

    let scrape = scrape(daemon.metrics_addr.unwrap()).await;
    assert_eq!(value(&scrape, "sessiond_persistence_enabled", &[]), 1.0);
    let policy = [("policy", "everysec")];
    assert_eq!(
        value(&scrape, "sessiond_persist_fsync_policy", &policy),
        1.0
    );
    assert_eq!(value(&scrape, "sessiond_persist_writes_refused", &[]), 0.0);
    assert_eq!(
        value(&scrape, "sessiond_persist_compactions_total", &[]),
        0.0
    );
    // The create's record is in the log once the flusher has written it
    // (every 5 ms); a bounded wait for that.
    let mut log_bytes = value(&scrape, "sessiond_persist_log_bytes", &[]);
    for _ in 0..100 {
        if log_bytes > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = crate::metrics::scrape(daemon.metrics_addr.unwrap()).await;
        log_bytes = value(&again, "sessiond_persist_log_bytes", &[]);
    }
    assert!(log_bytes > 0.0, "the log holds the create");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_configured_the_metrics_are_served_over_tls() {
    let cert = crate::tls::certificate("metrics");
    let daemon = Daemon::start(ServerConfig {
        tls: Some(cert.files.clone()),
        metrics_listen: loopback(),
        ..ServerConfig::default()
    })
    .await;
    let metrics = daemon.metrics_addr.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = TcpStream::connect(metrics).await.unwrap();
    let tls = crate::tls::connector(&cert).connect(name, tcp).await;
    let tls = tls.expect("a TLS handshake with the metrics listener");
    let request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let scrape = parse(exchange(tls, request).await);
    assert_eq!(value(&scrape, "sessiond_sessions", &[]), 0.0);
    // Plain HTTP gets no metrics from a TLS listener.
    let plain = TcpStream::connect(metrics).await.unwrap();
    let mut plain = plain;
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut got)).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("sessiond_"),
        "{got:?}"
    );
    daemon.stop().await;
}
