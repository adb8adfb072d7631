//! Keyspace notifications heard through the `redis` crate's pub/sub, as an
//! app hears them: `expired` when a deadline passes with nobody reading
//! the key, the hash field-TTL events of Redis 7.4/8 (which redis-server
//! 7.0, the differential test's, does not have), and Spring Session's
//! cleanup of its principal index on `expired` events.
//! (`differential_notify.rs` compares the events of Redis 7.0's commands
//! with redis-server's byte for byte.)

use std::time::{Duration, Instant};

use redis::Commands;
use sessiond_server::ServerConfig;

use crate::resp::resp_daemon;

/// A blocking connection, with `classes` in force, and a connection for
/// pub/sub (subscribe through one `as_pubsub()` kept for the test: the
/// crate unsubscribes when it is dropped).
fn listen(addr: std::net::SocketAddr, classes: &str) -> (redis::Connection, redis::Connection) {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(classes)
        .query(&mut con)
        .unwrap();
    let sub = client.get_connection().unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    (con, sub)
}

/// The next `n` keyevent messages as (event, key), each within the read
/// timeout.
fn events(pubsub: &mut redis::PubSub<'_>, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let message = pubsub.get_message().expect("a notification in time");
            let channel = message.get_channel_name().to_string();
            let event = channel
                .strip_prefix("__keyevent@0__:")
                .expect("a keyevent channel");
            (event.to_string(), message.get_payload::<String>().unwrap())
        })
        .collect()
}

fn ev(event: &str, key: &str) -> (String, String) {
    (event.into(), key.into())
}

async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_fires_within_a_second_of_the_deadline_with_no_read() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let late = run(move || {
        let (mut con, mut sub) = listen(addr, "Ex");
        let mut sub = sub.as_pubsub();
        sub.psubscribe("__keyevent@0__:*").unwrap();
        let mut worst = Duration::ZERO;
        for round in 0..3 {
            let key = format!("token:{round}");
            let _: () = con.pset_ex(&key, "v", 250).unwrap();
            let deadline = Instant::now() + Duration::from_millis(250);
            assert_eq!(events(&mut sub, 1), [ev("expired", &key)]);
            worst = worst.max(Instant::now().saturating_duration_since(deadline));
        }
        worst
    })
    .await;
    daemon.stop().await;
    // The wheel's second buckets and the 100 ms tick bound it at about a
    // second; a loaded CI machine gets a second more.
    assert!(
        late < Duration::from_millis(2000),
        "expired {late:?} after the deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_field_ttl_events_follow_redis_8() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    run(move || {
        let (mut con, mut sub) = listen(addr, "Egh");
        let mut sub = sub.as_pubsub();
        sub.psubscribe("__keyevent@0__:*").unwrap();
        let mut call = |args: &[&str]| -> redis::Value {
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            cmd.query(&mut con).unwrap()
        };
        call(&["HSET", "h", "a", "1", "b", "2"]);
        call(&["HEXPIRE", "h", "100", "FIELDS", "1", "a"]);
        call(&["HPERSIST", "h", "FIELDS", "1", "a"]);
        call(&["HPERSIST", "h", "FIELDS", "1", "a"]);
        call(&["HPEXPIRE", "h", "100", "FIELDS", "1", "a"]);
        assert_eq!(
            events(&mut sub, 5),
            [ev("hset", "h"), ev("hexpire", "h"), ev("hpersist", "h"), ev("hexpire", "h"), ev("hexpired", "h")],
            "a second HPERSIST changes nothing and says nothing; a field's deadline passing says hexpired"
        );
        assert_eq!(call(&["HLEN", "h"]), redis::Value::Int(1));
        call(&["HPEXPIRE", "h", "100", "FIELDS", "1", "b"]);
        assert_eq!(
            events(&mut sub, 3),
            [ev("hexpire", "h"), ev("hexpired", "h"), ev("del", "h")],
            "the last field's expiry takes the hash"
        );
        call(&["HSETEX", "h2", "PX", "100000", "FIELDS", "1", "f", "v"]);
        call(&["HGETEX", "h2", "PERSIST", "FIELDS", "1", "f"]);
        call(&["HGETDEL", "h2", "FIELDS", "1", "f"]);
        call(&["HSET", "h3", "f", "v", "g", "w"]);
        call(&["HINCRBY", "h3", "n", "1"]);
        call(&["HDEL", "h3", "nosuch"]);
        call(&["HEXPIRE", "h3", "0", "FIELDS", "2", "f", "g"]);
        call(&["HDEL", "h3", "n"]);
        assert_eq!(
            events(&mut sub, 10),
            [
                ev("hset", "h2"),
                ev("hexpire", "h2"),
                ev("hpersist", "h2"),
                ev("hdel", "h2"),
                ev("del", "h2"),
                ev("hset", "h3"),
                ev("hincrby", "h3"),
                ev("hdel", "h3"),
                ev("hdel", "h3"),
                ev("del", "h3"),
            ]
        );
    })
    .await;
    daemon.stop().await;
}

/// Spring Session's Redis repository: each session a hash with a TTL five
/// minutes past its own, an `expires` key with the session's TTL, and a
/// principal index set; on the `expires` key's `expired` event the
/// repository reads the session (still there), takes it out of the index
/// and deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_sessions_principal_index_is_cleaned_on_expired_events() {
    const PREFIX: &str = "spring:session:sessions:";
    const INDEX: &str = "spring:session:index:org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME:alice";
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    run(move || {
        let (mut con, mut sub) = listen(addr, "Egx");
        let mut sub = sub.as_pubsub();
        sub.psubscribe("__keyevent@*__:expired").unwrap();
        let save = |con: &mut redis::Connection, id: &str, seconds: i64| {
            let key = format!("{PREFIX}{id}");
            let _: () = redis::pipe()
                .cmd("HMSET")
                .arg(&key)
                .arg("creationTime")
                .arg(1_700_000_000_000_i64)
                .arg("lastAccessedTime")
                .arg(1_700_000_000_000_i64)
                .arg("maxInactiveInterval")
                .arg(seconds)
                .arg("sessionAttr:SPRING_SECURITY_CONTEXT")
                .arg("alice")
                .ignore()
                .expire(&key, seconds + 300)
                .ignore()
                .set_ex(format!("{PREFIX}expires:{id}"), "", seconds as u64)
                .ignore()
                .sadd(INDEX, id)
                .ignore()
                .query(con)
                .unwrap();
        };
        for id in ["s1", "s2", "s3"] {
            save(&mut con, id, 1);
        }
        save(&mut con, "kept", 3600);
        // The repository's listener: three expiries to clean up.
        let mut cleaned = Vec::new();
        while cleaned.len() < 3 {
            let message = sub.get_message().expect("an expired event within 3 s");
            let key: String = message.get_payload().unwrap();
            let Some(id) = key
                .strip_prefix(&format!("{PREFIX}expires:"))
                .map(str::to_string)
            else {
                continue;
            };
            let session: std::collections::HashMap<String, String> =
                con.hgetall(format!("{PREFIX}{id}")).unwrap();
            assert_eq!(
                session["sessionAttr:SPRING_SECURITY_CONTEXT"], "alice",
                "{id}"
            );
            let _: () = con.srem(INDEX, &id).unwrap();
            let _: () = con.del(format!("{PREFIX}{id}")).unwrap();
            cleaned.push(id);
        }
        cleaned.sort();
        assert_eq!(cleaned, ["s1", "s2", "s3"]);
        let left: Vec<String> = con.smembers(INDEX).unwrap();
        assert_eq!(left, ["kept"]);
        for id in ["s1", "s2", "s3"] {
            let exists: bool = con.exists(format!("{PREFIX}{id}")).unwrap();
            assert!(!exists, "{id}'s hash is gone");
        }
    })
    .await;
    daemon.stop().await;
}

/// Redis 8's way: one hash per user, a field per session with its own
/// TTL, refreshed on use by HGETEX; HLEN is the device count, exact the
/// moment a field's deadline passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hash_per_user_counts_devices_exactly_after_expiry() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    run(move || {
        let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let mut con = client.get_connection().unwrap();
        let mut call = |args: &[&str]| -> redis::Value {
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            cmd.query(&mut con).unwrap()
        };
        for device in ["phone", "laptop", "tablet"] {
            call(&[
                "HSETEX",
                "user:alice:sessions",
                "PX",
                "600",
                "FIELDS",
                "1",
                device,
                "{}",
            ]);
        }
        assert_eq!(call(&["HLEN", "user:alice:sessions"]), redis::Value::Int(3));
        // The phone keeps being used: each request slides its TTL.
        let started = Instant::now();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(150));
            call(&[
                "HGETEX",
                "user:alice:sessions",
                "PX",
                "600",
                "FIELDS",
                "1",
                "phone",
            ]);
        }
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert_eq!(
            call(&["HLEN", "user:alice:sessions"]),
            redis::Value::Int(1),
            "laptop and tablet passed their deadline: not counted, whether or not swept"
        );
        let ttl = call(&[
            "HPTTL",
            "user:alice:sessions",
            "FIELDS",
            "2",
            "phone",
            "laptop",
        ]);
        let redis::Value::Array(ttls) = ttl else {
            panic!("{ttl:?}")
        };
        assert!(
            matches!(ttls[0], redis::Value::Int(ms) if ms > 0 && ms <= 600),
            "{ttls:?}"
        );
        assert_eq!(ttls[1], redis::Value::Int(-2));
    })
    .await;
    daemon.stop().await;
}
