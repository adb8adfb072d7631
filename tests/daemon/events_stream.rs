//! XREAD BLOCK on the session event stream, as the daemon serves it: a
//! blocked read holds no thread (with one connection thread, the others
//! on it go on being served), wakes for the next event, answers null at
//! its deadline, and goes away with its client. What the stream's replies
//! are is `differential_streams.rs`' business.

use std::time::{Duration, Instant};

use sessiond_server::ServerConfig;

use crate::resp::resp_daemon;

const STREAM: &str = "__sessiond:events";

fn connect(addr: std::net::SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let con = client.get_connection().unwrap();
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con
}

fn create(con: &mut redis::Connection, owner: &str) -> String {
    redis::cmd("SESSION.CREATE")
        .arg(owner)
        .arg("IDLE")
        .arg(600)
        .query(con)
        .unwrap()
}

/// `XREAD [BLOCK ms] STREAMS __sessiond:events $`'s answer, raw.
fn xread_new(con: &mut redis::Connection, block_ms: Option<u64>) -> redis::Value {
    let mut cmd = redis::cmd("XREAD");
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS").arg(STREAM).arg("$").query(con).unwrap()
}

/// Whether CLIENT LIST shows a connection named `name`.
fn listed(con: &mut redis::Connection, name: &str) -> bool {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
    list.lines()
        .any(|line| line.contains(&format!(" name={name} ")))
}

/// Names `con` `name`, for [`wait_blocked`].
fn name(con: &mut redis::Connection, name: &str) {
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .query(con)
        .unwrap();
}

/// Waits (5 s at most) until the connection named `name` is in an XREAD,
/// so that an event made after this is one it waits for.
fn wait_blocked(con: &mut redis::Connection, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
        let mine = format!(" name={name} ");
        if list
            .lines()
            .any(|line| line.contains(&mine) && line.contains(" cmd=xread "))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never read: {list}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_read_holds_no_thread_and_wakes_for_the_next_event() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    })
    .await;
    run(move || {
        let mut app = connect(addr);
        let started = Instant::now();
        let waiter = std::thread::spawn(move || {
            let mut reader = connect(addr);
            name(&mut reader, "reader");
            (xread_new(&mut reader, Some(0)), started.elapsed())
        });
        // The reader is parked (BLOCK 0: for ever); the one thread serves
        // this connection meanwhile, many times over.
        wait_blocked(&mut app, "reader");
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..100 {
            let pong: String = redis::cmd("PING").query(&mut app).unwrap();
            assert_eq!(pong, "PONG");
        }
        assert!(!waiter.is_finished(), "BLOCK 0 answered before any event");
        let id = create(&mut app, "user:1");
        let (answer, waited) = waiter.join().unwrap();
        assert!(waited >= Duration::from_millis(300));
        let text = format!("{answer:?}");
        assert!(text.contains(&id) && text.contains("created"), "{text}");
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_read_times_out_with_null_and_leaves_with_its_client() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    run(move || {
        let mut app = connect(addr);
        let mut reader = connect(addr);
        let started = Instant::now();
        assert_eq!(xread_new(&mut reader, Some(200)), redis::Value::Nil);
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Pipelined behind a blocked read, a command waits for it.
        let mut pipe = redis::pipe();
        pipe.cmd("XREAD")
            .arg("BLOCK")
            .arg(5000)
            .arg("STREAMS")
            .arg(STREAM)
            .arg("$");
        pipe.cmd("PING");
        let mut second = connect(addr);
        name(&mut second, "second");
        let sender = std::thread::spawn(move || {
            let replies: (redis::Value, String) = pipe.query(&mut second).unwrap();
            replies
        });
        wait_blocked(&mut app, "second");
        create(&mut app, "user:2");
        let (events, pong) = sender.join().unwrap();
        assert_ne!(events, redis::Value::Nil);
        assert_eq!(pong, "PONG");
        // A client that goes away while blocked frees its connection.
        let mut gone = connect(addr);
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("gone")
            .query(&mut gone)
            .unwrap();
        let read = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(STREAM)
            .arg("$")
            .get_packed_command();
        gone.send_packed_command(&read).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(listed(&mut app, "gone"), "the blocked client is listed");
        drop(gone);
        let deadline = Instant::now() + Duration::from_secs(5);
        while listed(&mut app, "gone") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !listed(&mut app, "gone"),
            "the blocked client's connection stayed"
        );
    })
    .await;
    daemon.stop().await;
}
