//! Transactions beyond what the differential scripts show: EXEC is atomic
//! with respect to every other client across shards and connection
//! threads, a watched key removed by the expiry cycle alone aborts EXEC,
//! and a queue is bounded.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use sessiond_server::ServerConfig;

use crate::Daemon;
use crate::resp::{resp_daemon, say};

async fn connect(daemon: &Daemon) -> redis::aio::MultiplexedConnection {
    let addr = daemon.resp_addr.expect("a RESP listener");
    redis::Client::open(format!("redis://{addr}/0"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// Writers add 1 to two keys (in different shards, with other writes in
/// between) in one MULTI/EXEC each, while a reader reads both with MGET,
/// which is not one engine operation: it must never see one added to and
/// not the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_of_another_client_runs_inside_exec() {
    let (daemon, _) = resp_daemon(ServerConfig {
        threads: 2,
        ..ServerConfig::default()
    })
    .await;
    const WRITERS: usize = 4;
    const ROUNDS: usize = 400;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut con = connect(&daemon).await;
        writers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let mut pipe = redis::pipe();
                pipe.atomic().incr("tx:a", 1).ignore();
                for filler in 0..20 {
                    pipe.set(format!("tx:filler:{w}:{filler}"), round).ignore();
                }
                pipe.incr("tx:b", 1).ignore();
                let () = pipe.query_async(&mut con).await.unwrap();
            }
        }));
    }
    let mut reader = connect(&daemon).await;
    let started = Instant::now();
    let mut reads = 0;
    loop {
        let (a, b): (Option<i64>, Option<i64>) = reader.mget(&["tx:a", "tx:b"]).await.unwrap();
        assert_eq!(a, b, "a transaction was seen half done after {reads} reads");
        reads += 1;
        if a == Some((WRITERS * ROUNDS) as i64) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writers too slow"
        );
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        reads > 10,
        "the reader ran alongside the writers ({reads} reads)"
    );
    daemon.stop().await;
}

/// A watched key that nobody reads after its deadline is removed by the
/// expiry cycle, and that alone aborts the EXEC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_key_swept_by_the_expiry_cycle_aborts_exec() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Long enough to be watched before it expires, on a slow machine too.
    say(&mut stream, "SET t v PX 500\r\n", "+OK\r\n").await;
    say(&mut stream, "WATCH t\r\n", "+OK\r\n").await;
    let started = Instant::now();
    while daemon.store.key_count() > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(&mut stream, "MULTI\r\n", "+OK\r\n").await;
    say(&mut stream, "SET t mine\r\n", "+QUEUED\r\n").await;
    say(&mut stream, "EXEC\r\n", "*-1\r\n").await;
    say(&mut stream, "EXISTS t\r\n", ":0\r\n").await;
    daemon.stop().await;
}

/// A queue past its bound is dropped with a clear error; the connection
/// stays in MULTI, so what follows is queued (and discarded), not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_is_bounded_and_its_overflow_discards_the_transaction() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        max_input_buffer: 4096,
        ..ServerConfig::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    say(&mut stream, "MULTI\r\n", "+OK\r\n").await;
    let value = "x".repeat(500);
    let mut refused = false;
    for _ in 0..20 {
        let got = crate::resp::reply(&mut stream, &format!("SET k {value}\r\n")).await;
        match got {
            redis::Value::SimpleString(s) if s == "QUEUED" => {}
            redis::Value::ServerError(e) => {
                let text = format!("{e:?}");
                assert!(text.contains("MULTI queue limit reached"), "{text}");
                refused = true;
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused, "20 commands of 500 bytes fit a 4096-byte queue");
    say(&mut stream, "SET after 1\r\n", "+QUEUED\r\n").await;
    say(
        &mut stream,
        "EXEC\r\n",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    )
    .await;
    say(&mut stream, "EXISTS k after\r\n", ":0\r\n").await;
    daemon.stop().await;
}

/// The WATCH registry is the store's key observer, and makes no cycle
/// with the store: once the server has stopped and the last handle is
/// dropped, the store shuts down (its directory's lock goes with it), and
/// what it wrote is there on reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_lets_its_store_go() {
    let dir = crate::tempdir::TempDir::new("watch-cycle");
    let open = || {
        let persist = sessiond::PersistConfig::new(dir.path());
        sessiond::Store::open_with(sessiond::StoreConfig::default(), persist)
            .expect("the directory opens")
            .0
    };
    let store = open();
    let daemon = Daemon::over(
        store,
        ServerConfig {
            resp_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..ServerConfig::default()
        },
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(daemon.resp_addr.unwrap())
        .await
        .unwrap();
    say(&mut stream, "WATCH w\r\n", "+OK\r\n").await;
    say(&mut stream, "SET w 1\r\n", "+OK\r\n").await;
    drop(stream);
    daemon.stop().await;
    let reopened = open();
    assert_eq!(reopened.get_key(b"w"), Some(b"1".to_vec()));
}

/// A HELLO queued in a transaction switches the protocol where Redis
/// does: the replies before it stay in the old protocol, HELLO's own and
/// the ones after it are in the new one (and so is everything after EXEC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_hello_switches_the_protocol_mid_exec_as_redis_does() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    say(&mut stream, "MULTI\r\n", "+OK\r\n").await;
    say(&mut stream, "GET nope\r\n", "+QUEUED\r\n").await;
    say(&mut stream, "HELLO 3\r\n", "+QUEUED\r\n").await;
    say(&mut stream, "GET nope\r\n", "+QUEUED\r\n").await;
    stream.write_all(b"EXEC\r\nGET nope\r\n").await.unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    while !got.ends_with(b"_\r\n_\r\n") {
        assert!(started.elapsed() < Duration::from_secs(5), "{got:?}");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("*3\r\n$-1\r\n%7\r\n"), "{text:?}");
    daemon.stop().await;
}
