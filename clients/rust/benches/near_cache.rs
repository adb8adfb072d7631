//! What the near cache buys and what strict mode costs, in one run
//! against a daemon in this process (docs/events.md, "Near cache"):
//!
//! - a session read answered from the near cache against the same read
//!   as a loopback round trip (p50, p99, each read timed alone, one clock
//!   read included);
//! - revoke-to-refused across four app-server processes with strict
//!   caches: how long a revoke takes to return, by when no app server
//!   serves the session any more (p50, p99), each round checked.
//!
//! `cargo bench -p sessiond-client --bench near_cache` (or
//! `benches/near-cache.sh`). The app servers are this binary again, run
//! with `NEAR_CACHE_APP_SERVER` set (`tests/shared/near_cache_fleet.rs`).
//! `ROUNDS` (default 500) sets the revoke rounds.

#[path = "../../../tests/shared/near_cache_fleet.rs"]
#[allow(dead_code, reason = "the bench stops no app server (App::signal)")]
mod fleet;

use std::process::Command;
use std::time::{Duration, Instant};

use sessiond::{Store, StoreConfig};
use sessiond_client::protocol::NewSession;
use sessiond_client::{Client, ClientConfig, NearCache, NearCacheConfig, SessionStore};
use sessiond_server::{Server, ServerConfig};

const HITS: usize = 200_000;
const ROUND_TRIPS: usize = 20_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(addr) = std::env::var("NEAR_CACHE_APP_SERVER") {
        runtime.block_on(fleet::serve(&addr));
        return;
    }
    let rounds = std::env::var("ROUNDS").map_or(500, |r| r.parse().expect("ROUNDS is a number"));
    runtime.block_on(bench(rounds));
}

async fn bench(rounds: usize) {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config, Store::new(StoreConfig::default()))
        .await
        .expect("bind");
    let addr = server.local_addr().to_string();
    tokio::spawn(server.run_until(std::future::pending::<()>()));
    let client = Client::connect(ClientConfig::new(addr.clone()))
        .await
        .unwrap();
    let cache = NearCache::connect(client.clone(), NearCacheConfig::strict())
        .await
        .unwrap();
    let id = client
        .create(NewSession::new("user:bench").data(vec![b'x'; 200]))
        .await
        .unwrap();
    cache.get(&id).await.unwrap();

    let mut hits = Vec::with_capacity(HITS);
    for _ in 0..HITS {
        let started = Instant::now();
        std::hint::black_box(cache.get(&id).await.unwrap());
        hits.push(started.elapsed());
    }
    let stats = cache.stats();
    assert!(stats.hits as usize >= HITS * 99 / 100, "{stats:?}");
    let mut trips = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        std::hint::black_box(client.get(&id).await.unwrap());
        trips.push(started.elapsed());
    }
    // A delete with no cache to wait for, to compare the fleet's with.
    drop(cache);
    let mut plain = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let id = client.create(NewSession::new("user:plain")).await.unwrap();
        let started = Instant::now();
        client.delete(&id).await.unwrap();
        plain.push(started.elapsed());
    }

    let mut apps: Vec<fleet::App> = (0..4)
        .map(|_| {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command.env("NEAR_CACHE_APP_SERVER", &addr);
            fleet::App::spawn(command)
        })
        .collect();
    let mut revokes = Vec::with_capacity(rounds);
    let mut violations = 0;
    for round in 0..rounds {
        let id = client.create(NewSession::new("user:fleet")).await.unwrap();
        for app in &mut apps {
            assert_eq!(app.ask(&format!("hold {id}")), "held");
        }
        let answer = apps[round % 4].ask(&format!("revoke {id}"));
        let us: u64 = answer.strip_prefix("revoked ").unwrap().parse().unwrap();
        revokes.push(Duration::from_micros(us));
        for app in &mut apps {
            if app.ask(&format!("check {id}")) != "refused" {
                violations += 1;
            }
        }
    }
    drop(apps);

    println!("near cache, {HITS} hits and {ROUND_TRIPS} round trips of a 200-byte session");
    println!("| read | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| near cache hit | {} | {} |",
        show(&mut hits, 0.5),
        show(&mut hits, 0.99)
    );
    println!(
        "| loopback round trip | {} | {} |",
        show(&mut trips, 0.5),
        show(&mut trips, 0.99)
    );
    println!(
        "revoke-to-refused, 4 app-server processes with strict caches, {rounds} rounds: \
         p50 {}, p99 {}, {violations} violations",
        show(&mut revokes, 0.5),
        show(&mut revokes, 0.99)
    );
    println!(
        "delete with no near cache connected: p50 {}, p99 {}",
        show(&mut plain, 0.5),
        show(&mut plain, 0.99)
    );
    assert_eq!(violations, 0);
}

/// The `p` quantile, in the unit that reads best.
fn show(samples: &mut [Duration], p: f64) -> String {
    samples.sort_unstable();
    let at = samples[((samples.len() - 1) as f64 * p) as usize];
    if at < Duration::from_micros(10) {
        format!("{} ns", at.as_nanos())
    } else {
        format!("{:.1} µs", at.as_nanos() as f64 / 1000.0)
    }
}
