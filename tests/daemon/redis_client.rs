//! The `redis` crate, unchanged, against the daemon's RESP listener: the
//! login, read, touch, logout cycle of a session library written for Redis
//! (plain keys and an owner index in a set), and the same cycle with the
//! first-class SESSION.* commands, over RESP2 and RESP3.

use std::collections::HashMap;

use redis::AsyncCommands;
use sessiond_server::{Secret, ServerConfig};

use crate::Daemon;

async fn connect(daemon: &Daemon, query: &str) -> redis::aio::MultiplexedConnection {
    let addr = daemon.resp_addr.expect("a RESP listener");
    let url = format!("redis://:pw-padded-to-the-32-byte-minimum@{addr}/0{query}");
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("the redis crate connects, authenticates and selects db 0")
}

async fn daemon() -> Daemon {
    Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        auth_token: Some(Secret::new("pw-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_session_library_cycle_with_plain_keys() {
    let daemon = daemon().await;
    for query in ["", "?protocol=resp3"] {
        let mut con = connect(&daemon, query).await;
        let (key, index) = ("sess:abc123", "user:42:sessions");
        // Login: the session under its key with a TTL, and in its owner's index.
        let _: () = con.set_ex(key, r#"{"user":42}"#, 1800).await.unwrap();
        let added: i64 = con.sadd(index, "abc123").await.unwrap();
        assert_eq!(added, 1);
        // Read.
        let got: Option<String> = con.get(key).await.unwrap();
        assert_eq!(got.as_deref(), Some(r#"{"user":42}"#));
        let devices: Vec<String> = con.smembers(index).await.unwrap();
        assert_eq!(devices, ["abc123"]);
        // Touch: slide the TTL.
        let slid: bool = con.expire(key, 3600).await.unwrap();
        assert!(slid);
        let ttl: i64 = con.ttl(key).await.unwrap();
        assert!((3590..=3600).contains(&ttl), "{ttl}");
        // Logout.
        let deleted: i64 = con.del(key).await.unwrap();
        assert_eq!(deleted, 1);
        let removed: i64 = con.srem(index, "abc123").await.unwrap();
        assert_eq!(removed, 1);
        let gone: Option<String> = con.get(key).await.unwrap();
        assert_eq!(gone, None);
        let left: i64 = con.scard(index).await.unwrap();
        assert_eq!(left, 0);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cycle_with_the_session_commands() {
    let daemon = daemon().await;
    for query in ["", "?protocol=resp3"] {
        let mut con = connect(&daemon, query).await;
        // Login.
        let id: String = redis::cmd("SESSION.CREATE")
            .arg("user:42")
            .arg("DATA")
            .arg(r#"{"cart":[]}"#)
            .arg("IDLE")
            .arg(1800)
            .arg("LABEL")
            .arg("ua")
            .arg("Firefox")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(id.len(), 22);
        // Read: a map in either protocol (the crate pairs up RESP2's array).
        let session: HashMap<String, redis::Value> = redis::cmd("SESSION.GET")
            .arg(&id)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(
            session["data"],
            redis::Value::BulkString(br#"{"cart":[]}"#.to_vec())
        );
        assert_eq!(session["version"], redis::Value::Int(1));
        let count: i64 = redis::cmd("SESSION.COUNT")
            .arg("user:42")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(count, 1);
        // Write and touch.
        let version: i64 = redis::cmd("SESSION.SET")
            .arg(&id)
            .arg(r#"{"cart":[1]}"#)
            .arg("VERSION")
            .arg(1)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(version, 2);
        let conflict: redis::RedisResult<i64> = redis::cmd("SESSION.SET")
            .arg(&id)
            .arg("x")
            .arg("VERSION")
            .arg(1)
            .query_async(&mut con)
            .await;
        let error = conflict.expect_err("a stale version is refused");
        assert_eq!(error.code(), Some("VERSIONMISMATCH"), "{error}");
        let expires: Option<i64> = redis::cmd("SESSION.TOUCH")
            .arg(&id)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(expires.is_some());
        // Logout.
        let deleted: i64 = redis::cmd("SESSION.DEL")
            .arg(&id)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(deleted, 1);
        let gone: Option<HashMap<String, redis::Value>> = redis::cmd("SESSION.GET")
            .arg(&id)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(gone.is_none());
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_incr_counts_with_a_window_over_resp_and_key_incr_ttl_natively() {
    use sessiond_protocol::wire::{Reply, Request};
    let daemon = daemon().await;
    let mut con = connect(&daemon, "").await;
    let counted: i64 = redis::cmd("COUNTER.INCR")
        .arg("tries:alice")
        .arg(1)
        .arg("EX")
        .arg(900)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(counted, 1);
    let ttl: i64 = con.ttl("tries:alice").await.unwrap();
    assert!((899..=900).contains(&ttl), "{ttl}");
    let again: i64 = redis::cmd("COUNTER.INCR")
        .arg("tries:alice")
        .arg(2)
        .arg("PX")
        .arg(5)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(again, 3);
    let ttl: i64 = con.ttl("tries:alice").await.unwrap();
    assert!(ttl > 800, "a running window is kept: {ttl}");
    for bad in [["EX", "0"], ["XX", "5"]] {
        let refused: redis::RedisResult<i64> = redis::cmd("COUNTER.INCR")
            .arg("tries:bob")
            .arg(1)
            .arg(bad[0])
            .arg(bad[1])
            .query_async(&mut con)
            .await;
        assert!(refused.is_err(), "{bad:?}");
    }
    // The native op: the same store, the same rule.
    let mut raw = crate::Raw::connect(daemon.addr).await;
    let authed = raw
        .call(&Request::Auth {
            token: b"pw-padded-to-the-32-byte-minimum".to_vec(),
        })
        .await;
    assert_eq!(authed, Ok(Reply::Done));
    let reply = raw
        .call(&Request::KeyIncrTtl {
            key: b"tries:alice".to_vec(),
            delta: 1,
            ttl: std::time::Duration::from_secs(60),
        })
        .await;
    assert_eq!(reply, Ok(Reply::Integer(4)));
    let ttl: i64 = con.ttl("tries:alice").await.unwrap();
    assert!(ttl > 800, "the native op keeps a running window too: {ttl}");
}

/// A hash per session (Spring Session's shape) and one hash per user with
/// a field per device and a TTL on each field (Redis 8's), through the
/// crate's own hash commands, over RESP2 and RESP3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_and_field_ttls_through_the_crate_commands() {
    use redis::{ExpireOption, Expiry, FieldExistenceCheck, HashFieldExpirationOptions, SetExpiry};
    let daemon = daemon().await;
    for query in ["", "?protocol=resp3"] {
        let mut con = connect(&daemon, query).await;
        let _: () = con.del(&["spring:s1", "user:42"]).await.unwrap();
        let _: () = con
            .hset_multiple(
                "spring:s1",
                &[("creationTime", "1"), ("maxInactiveInterval", "1800")],
            )
            .await
            .unwrap();
        let added: usize = con
            .hset("spring:s1", "sessionAttr:cart", "[]")
            .await
            .unwrap();
        assert_eq!(added, 1);
        let all: HashMap<String, String> = con.hgetall("spring:s1").await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all["maxInactiveInterval"], "1800");
        let hits: i64 = con.hincr("spring:s1", "hits", 2).await.unwrap();
        assert_eq!(hits, 2);
        let score: f64 = con.hincr("spring:s1", "score", 1.5).await.unwrap();
        assert_eq!(score, 1.5);
        let mut fields: Vec<String> = Vec::new();
        let mut iter: redis::AsyncIter<(String, String)> = con.hscan("spring:s1").await.unwrap();
        while let Some(item) = iter.next_item().await {
            fields.push(item.unwrap().0);
        }
        drop(iter);
        fields.sort();
        assert_eq!(
            fields,
            [
                "creationTime",
                "hits",
                "maxInactiveInterval",
                "score",
                "sessionAttr:cart"
            ]
        );

        // Redis 8's shape: a field per device, each with its TTL.
        let options = HashFieldExpirationOptions::default()
            .set_existence_check(FieldExistenceCheck::FNX)
            .set_expiration(SetExpiry::EX(600));
        let set: bool = con
            .hset_ex("user:42", &options, &[("laptop", "s1"), ("phone", "s2")])
            .await
            .unwrap();
        assert!(set);
        let again: bool = con
            .hset_ex("user:42", &options, &[("phone", "s3")])
            .await
            .unwrap();
        assert!(!again, "FNX with the field present");
        let ttls: Vec<i64> = con.httl("user:42", &["laptop", "nope"]).await.unwrap();
        assert_eq!(ttls, [600, -2]);
        let codes: Vec<i64> = con
            .hexpire("user:42", 900, ExpireOption::GT, &["laptop", "nope"])
            .await
            .unwrap();
        assert_eq!(codes, [1, -2]);
        let values: Vec<Option<String>> = con
            .hget_ex("user:42", &["phone", "nope"], Expiry::PERSIST)
            .await
            .unwrap();
        assert_eq!(values, [Some("s2".to_string()), None]);
        let persisted: Vec<i64> = con.hpersist("user:42", &["phone"]).await.unwrap();
        assert_eq!(persisted, [-1], "HGETEX PERSIST already removed it");
        let devices: usize = con.hlen("user:42").await.unwrap();
        assert_eq!(devices, 2);
        let gone: Vec<Option<String>> =
            con.hget_del("user:42", &["laptop", "phone"]).await.unwrap();
        assert_eq!(gone, [Some("s1".to_string()), Some("s2".to_string())]);
        let exists: bool = con.exists("user:42").await.unwrap();
        assert!(!exists, "the last field took the hash along");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crate_reads_the_string_key_and_set_replies() {
    let daemon = daemon().await;
    for query in ["", "?protocol=resp3"] {
        let mut con = connect(&daemon, query).await;
        let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        let len: usize = con.append("s", "hello").await.unwrap();
        assert_eq!(len, 5);
        let part: String = con.getrange("s", 1, -2).await.unwrap();
        assert_eq!(part, "ell");
        let len: usize = con.setrange("s", 5, "!").await.unwrap();
        assert_eq!(len, 6);
        let sum: f64 = con.incr("f", 2.5f64).await.unwrap();
        assert_eq!(sum, 2.5);
        let text: String = con.get("f").await.unwrap();
        assert_eq!(text, "2.5");
        let set: bool = con.mset_nx(&[("a", "1"), ("b", "2")]).await.unwrap();
        assert!(set);
        let renamed: bool = con.rename_nx("a", "b").await.unwrap();
        assert!(!renamed);
        let at: i64 = redis::cmd("EXPIRETIME")
            .arg("b")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(at, -1);
        let _: usize = con.sadd("x", &["1", "2", "3"]).await.unwrap();
        let _: usize = con.sadd("y", &["2", "3", "4"]).await.unwrap();
        let mut both: Vec<String> = con.sinter(&["x", "y"]).await.unwrap();
        both.sort();
        assert_eq!(both, ["2", "3"]);
        let stored: usize = con.sunionstore("u", &["x", "y"]).await.unwrap();
        assert_eq!(stored, 4);
        let moved: bool = con.smove("x", "y", "1").await.unwrap();
        assert!(moved);
        let found: Vec<bool> = redis::cmd("SMISMEMBER")
            .arg("y")
            .arg("1")
            .arg("9")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(found, [true, false]);
        let popped: Vec<String> = redis::cmd("SPOP")
            .arg("u")
            .arg(3)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(popped.len(), 3);
        let encoding: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("y")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(encoding, "intset");
    }
    daemon.stop().await;
}

/// The `redis` crate's atomic pipeline, and a WATCH retry loop that loses
/// its first round to another client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crates_atomic_pipeline_and_a_watch_retry() {
    let daemon = daemon().await;
    for query in ["", "?protocol=resp3"] {
        let mut con = connect(&daemon, query).await;
        let mut other = connect(&daemon, query).await;
        let _: () = con.del(&["p:a", "p:b"]).await.unwrap();
        let (a, b): (i64, i64) = redis::pipe()
            .atomic()
            .set("p:a", 1)
            .ignore()
            .incr("p:a", 5)
            .incr("p:b", 1)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((a, b), (6, 1));
        let mut rounds = 0;
        let total: i64 = loop {
            rounds += 1;
            assert!(rounds <= 5, "the retry loop never got through");
            let () = redis::cmd("WATCH")
                .arg("p:a")
                .query_async(&mut con)
                .await
                .unwrap();
            let seen: i64 = con.get("p:a").await.unwrap();
            if rounds == 1 {
                let () = other.set("p:a", 100).await.unwrap();
            }
            let done: Option<(i64,)> = redis::pipe()
                .atomic()
                .set("p:a", seen * 2)
                .ignore()
                .get("p:a")
                .query_async(&mut con)
                .await
                .unwrap();
            if let Some((total,)) = done {
                break total;
            }
        };
        assert_eq!((rounds, total), (2, 200));
    }
    daemon.stop().await;
}

/// The crate's `Script`: EVALSHA first, and on NOSCRIPT the body by EVAL;
/// a script's error reply keeps its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_through_the_crate_script_type() {
    let daemon = daemon().await;
    for query in ["", "?protocol=resp3"] {
        let mut con = connect(&daemon, query).await;
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await
            .unwrap();
        let _: () = con.del("hits").await.unwrap();
        let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
        let n: i64 = script
            .key("hits")
            .arg(5)
            .invoke_async(&mut con)
            .await
            .unwrap();
        assert_eq!(n, 5);
        let n: i64 = script
            .key("hits")
            .arg(2)
            .invoke_async(&mut con)
            .await
            .unwrap();
        assert_eq!(n, 7);
        let exists: Vec<bool> = redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(script.get_hash())
            .arg("0000000000000000000000000000000000000000")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(exists, [true, false]);
        let failing = redis::Script::new("return redis.error_reply('MYCODE it failed')");
        let failed: redis::RedisResult<()> = failing.invoke_async(&mut con).await;
        let err = failed.unwrap_err();
        assert_eq!(err.code(), Some("MYCODE"), "{err}");
        let table: Vec<String> = redis::Script::new("return {KEYS[1], ARGV[1], 'x'}")
            .key("k")
            .arg("a")
            .invoke_async(&mut con)
            .await
            .unwrap();
        assert_eq!(table, ["k", "a", "x"]);
    }
    daemon.stop().await;
}
