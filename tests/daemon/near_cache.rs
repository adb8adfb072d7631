//! The near cache (docs/events.md, "Near cache") against a real server:
//! hits without a round trip, invalidation by other clients' writes, and
//! strict mode's promise across processes: once a revoke returns, no app
//! server serves the session, including one that was stopped (SIGSTOP)
//! while it happened.

use std::process::Command;
use std::time::{Duration, Instant};

use sessiond_client::protocol::{NewSession, StoreError};
use sessiond_client::{
    Client, ClientConfig, ClientError, NearCache, NearCacheConfig, SessionStore,
};
use sessiond_protocol::wire::{CacheMode, Reply, Request, ServerError};
use sessiond_server::ServerConfig;

use crate::near_cache_fleet::{self as fleet, App};
use crate::{Daemon, Raw, stat};

const BOUND: Duration = Duration::from_millis(200);

async fn daemon() -> Daemon {
    Daemon::start(ServerConfig {
        near_cache_bound: BOUND,
        ..ServerConfig::default()
    })
    .await
}

async fn client(daemon: &Daemon) -> Client {
    Client::connect(ClientConfig::new(daemon.addr.to_string()))
        .await
        .unwrap()
}

fn gone<T: std::fmt::Debug>(outcome: Result<T, ClientError>) -> bool {
    matches!(outcome, Err(ClientError::Store(StoreError::NotFound)))
}

#[tokio::test]
async fn hits_need_no_round_trip_and_other_clients_writes_invalidate() {
    let daemon = daemon().await;
    let other = client(&daemon).await;
    let cached = NearCache::connect(client(&daemon).await, NearCacheConfig::strict())
        .await
        .unwrap();
    assert_eq!(stat(&other, "near_caches_strict").await, 1);

    let id = other
        .create(NewSession::new("user:1").data(b"v1".to_vec()))
        .await
        .unwrap();
    assert_eq!(cached.get(&id).await.unwrap().data, b"v1");
    let gets = stat(&other, "ops_get").await;
    for _ in 0..100 {
        assert_eq!(cached.get(&id).await.unwrap().data, b"v1");
    }
    assert_eq!(
        stat(&other, "ops_get").await,
        gets,
        "hits went to the server"
    );
    let stats = cached.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (100, 1, 1));

    // Another client's update: strict, so gone from the cache on return.
    other.update(&id, b"v2", None).await.unwrap();
    assert_eq!(cached.get(&id).await.unwrap().data, b"v2");

    // Rotation: the old id is refused at once.
    let new_id = other.rotate(&id).await.unwrap();
    assert!(gone(cached.get(&id).await));
    cached.get(&new_id).await.unwrap();

    // A kick of the owner's sessions.
    let second = other.create(NewSession::new("user:1")).await.unwrap();
    cached.get(&second).await.unwrap();
    other.delete_owner(b"user:1", None).await.unwrap();
    assert!(gone(cached.get(&new_id).await));
    assert!(gone(cached.get(&second).await));
    assert!(cached.stats().invalidations >= 3, "{:?}", cached.stats());
    daemon.stop().await;
}

#[tokio::test]
async fn a_cache_that_does_not_acknowledge_is_cut_off_and_the_write_goes_on() {
    let daemon = daemon().await;
    let app = client(&daemon).await;
    // A registered cache that then reads nothing: stuck.
    let mut stuck = Raw::connect(daemon.addr).await;
    let registered = stuck
        .call(&Request::CacheRegister {
            mode: CacheMode::Strict,
        })
        .await;
    assert!(matches!(registered, Ok(Reply::Cache { bound, .. }) if bound == BOUND));

    let id = app.create(NewSession::new("user:2")).await.unwrap();
    let started = Instant::now();
    assert!(app.delete(&id).await.unwrap());
    let waited = started.elapsed();
    // Its registration was its last word: cut off a bound after it.
    assert!(waited <= BOUND + Duration::from_millis(800), "{waited:?}");
    assert_eq!(stat(&app, "near_cache_closed").await, 1);
    assert_eq!(stat(&app, "near_caches_strict").await, 0);
    // The next write waits for nobody.
    let id = app.create(NewSession::new("user:2")).await.unwrap();
    let started = Instant::now();
    app.delete(&id).await.unwrap();
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    daemon.stop().await;
}

#[tokio::test]
async fn a_cache_connection_takes_no_writes_and_needs_the_event_log() {
    let daemon = daemon().await;
    let app = client(&daemon).await;
    let id = app.create(NewSession::new("user:6")).await.unwrap();
    let mut cache = Raw::connect(daemon.addr).await;
    let strict = Request::CacheRegister {
        mode: CacheMode::Strict,
    };
    let Ok(Reply::Cache { head, .. }) = cache.call(&strict).await else {
        panic!("registered")
    };
    // A write on the cache's own connection would wait for its own next
    // read: refused, and nothing is deleted.
    let refused = cache.call(&Request::Delete { id }).await;
    assert!(
        matches!(refused, Err(ServerError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(app.peek(&id).await.is_ok());
    // Registering again answers what it acknowledged, not a newer head.
    app.create(NewSession::new("user:6")).await.unwrap();
    let again = cache
        .call(&Request::CacheRegister {
            mode: CacheMode::Relaxed,
        })
        .await;
    assert!(
        matches!(again, Ok(Reply::Cache { head: h, .. }) if h == head),
        "{again:?}"
    );
    daemon.stop().await;

    // With the event log off there is nothing to invalidate by.
    let store = sessiond::Store::new(sessiond::StoreConfig {
        events_max: 0,
        ..sessiond::StoreConfig::default()
    });
    let daemon = Daemon::over(store, ServerConfig::default()).await;
    let mut cache = Raw::connect(daemon.addr).await;
    let refused = cache.call(&strict).await;
    assert!(
        matches!(refused, Err(ServerError::Unavailable(_))),
        "{refused:?}"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn relaxed_caches_are_not_waited_for_but_still_invalidated() {
    let daemon = daemon().await;
    let other = client(&daemon).await;
    let cached = NearCache::connect(client(&daemon).await, NearCacheConfig::relaxed())
        .await
        .unwrap();
    assert_eq!(stat(&other, "near_caches_relaxed").await, 1);
    let id = other.create(NewSession::new("user:3")).await.unwrap();
    cached.get(&id).await.unwrap();
    other.delete(&id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while cached.stats().invalidations == 0 {
        assert!(Instant::now() < deadline, "never invalidated");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(gone(cached.get(&id).await));
    daemon.stop().await;
}

#[tokio::test]
async fn served_sessions_stay_alive_through_coalesced_touches() {
    let daemon = daemon().await;
    let other = client(&daemon).await;
    let cached = NearCache::connect(client(&daemon).await, NearCacheConfig::strict())
        .await
        .unwrap();
    let id = other
        .create(NewSession::new("user:4").idle_timeout(Duration::from_secs(2)))
        .await
        .unwrap();
    let touches = stat(&other, "ops_touch").await;
    let until = Instant::now() + Duration::from_secs(4);
    let mut reads = 0;
    while Instant::now() < until {
        cached.get(&id).await.unwrap();
        reads += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Alive on the server after twice its idle timeout of cache-only use,
    // with about one TOUCH a second rather than one per read.
    other.peek(&id).await.unwrap();
    let sent = stat(&other, "ops_touch").await - touches;
    assert!(reads > 500, "{reads}");
    assert!((2..=8).contains(&sent), "{sent} touches for {reads} reads");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_faces_session_writes_wait_for_strict_caches_too() {
    let daemon = Daemon::start(ServerConfig {
        near_cache_bound: BOUND,
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let url = format!("redis://{}/0", daemon.resp_addr.unwrap());
    let mut redis = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let cached = NearCache::connect(client(&daemon).await, NearCacheConfig::strict())
        .await
        .unwrap();
    let session = |redis: &mut redis::aio::MultiplexedConnection| {
        let mut redis = redis.clone();
        async move {
            let id: String = redis::cmd("SESSION.CREATE")
                .arg("user:5")
                .arg("DATA")
                .arg("v1")
                .query_async(&mut redis)
                .await
                .unwrap();
            id.parse::<sessiond_protocol::SessionId>().unwrap()
        }
    };
    // SESSION.SET, SESSION.ROTATE, SESSION.DEL and a kick inside MULTI:
    // each answered once the cache has let go.
    let id = session(&mut redis).await;
    cached.get(&id).await.unwrap();
    let _: () = redis::cmd("SESSION.SET")
        .arg(id.to_string())
        .arg("v2")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(cached.get(&id).await.unwrap().data, b"v2");
    let new_id: String = redis::cmd("SESSION.ROTATE")
        .arg(id.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(gone(cached.get(&id).await));
    let new_id: sessiond_protocol::SessionId = new_id.parse().unwrap();
    cached.get(&new_id).await.unwrap();
    let _: i64 = redis::cmd("SESSION.DEL")
        .arg(new_id.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(gone(cached.get(&new_id).await));
    let id = session(&mut redis).await;
    cached.get(&id).await.unwrap();
    let _: (i64,) = redis::pipe()
        .atomic()
        .cmd("SESSION.DELOWNER")
        .arg("user:5")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(gone(cached.get(&id).await));

    // And a stuck cache holds a RESP delete for about the bound: until a
    // bound after its registration, its last word, at least.
    let mut stuck = Raw::connect(daemon.addr).await;
    let registering = Instant::now();
    let registered = stuck
        .call(&Request::CacheRegister {
            mode: CacheMode::Strict,
        })
        .await;
    assert!(registered.is_ok());
    let id = session(&mut redis).await;
    let started = Instant::now();
    let _: i64 = redis::cmd("SESSION.DEL")
        .arg(id.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(registering.elapsed() >= BOUND, "{waited:?}");
    assert!(waited <= BOUND + Duration::from_millis(800), "{waited:?}");
    daemon.stop().await;
}

// ---------------------------------------------------------------------
// Four app-server processes
// ---------------------------------------------------------------------

/// Strict mode across processes: 1,000 rounds, each revoking a session
/// that all four app servers hold (and read in a loop) from one of them;
/// once the revoke returns, a read started in any of them must refuse
/// it. Every 100th round one app server is stopped with SIGSTOP during
/// the revoke and continued after it: the revoke returns (within about
/// the bound) and the stopped one, continued, refuses the session too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_holds_across_four_app_server_processes() {
    let daemon = daemon().await;
    let addr = daemon.addr.to_string();
    let owner = client(&daemon).await;
    let mut apps: Vec<App> = (0..4)
        .map(|_| {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .args(["near_cache::app_server", "--exact", "--ignored"])
                .args(["--nocapture", "--test-threads=1"])
                .env("NEAR_CACHE_APP_SERVER", &addr);
            App::spawn(command)
        })
        .collect();
    let mut violations = Vec::new();
    let mut revoke_us = Vec::new();
    let rounds = 1000;
    for round in 0..rounds {
        let id = owner.create(NewSession::new("user:fleet")).await.unwrap();
        for app in &mut apps {
            assert_eq!(app.ask(&format!("hold {id}")), "held", "round {round}");
        }
        let revoker = round % 4;
        let stopped = (round % 100 == 99).then_some((revoker + 1) % 4);
        if let Some(s) = stopped {
            apps[s].signal("-STOP");
        }
        let answer = apps[revoker].ask(&format!("revoke {id}"));
        let us: u64 = answer.strip_prefix("revoked ").unwrap().parse().unwrap();
        if let Some(s) = stopped {
            assert!(
                us < 2_000_000,
                "a stopped app server held the revoke {us} µs"
            );
            apps[s].signal("-CONT");
        } else {
            revoke_us.push(us);
        }
        for (n, app) in apps.iter_mut().enumerate() {
            let verdict = app.ask(&format!("check {id}"));
            if verdict != "refused" {
                violations.push(format!("round {round}, app {n}: {verdict}"));
            }
        }
    }
    revoke_us.sort_unstable();
    let pct = |p: f64| revoke_us[((revoke_us.len() - 1) as f64 * p) as usize];
    println!(
        "near cache strict fleet: {rounds} rounds, {} violations; revoke p50 {} µs, p99 {} µs (debug build)",
        violations.len(),
        pct(0.5),
        pct(0.99)
    );
    assert!(violations.is_empty(), "{violations:#?}");
    for app in &mut apps {
        let stats = app.ask("stats");
        assert!(stats.contains("resets"), "{stats}");
    }
    drop(apps);
    daemon.stop().await;
}

/// The app-server process of
/// [`strict_mode_holds_across_four_app_server_processes`], which starts
/// it with the server's address in `NEAR_CACHE_APP_SERVER`
/// (`tests/shared/near_cache_fleet.rs` says what it answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "an app-server process that strict_mode_holds_across_four_app_server_processes starts"]
async fn app_server() {
    let addr = std::env::var("NEAR_CACHE_APP_SERVER")
        .expect("started by strict_mode_holds_across_four_app_server_processes");
    fleet::serve(&addr).await;
}
