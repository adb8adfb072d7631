//! The near cache (docs/events.md, "Near cache") against a real server:
//! hits without a round trip, invalidation by other clients' writes, and
//! strict mode's promise across processes: once a revoke returns, no app
//! server serves the session, including one that was stopped (SIGSTOP)
//! while it happened.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sessiond_client::protocol::{NewSession, StoreError};
use sessiond_client::{
    Client, ClientConfig, ClientError, NearCache, NearCacheConfig, SessionStore,
};
use sessiond_protocol::SessionId;
use sessiond_protocol::wire::{CacheMode, Reply, Request};
use sessiond_server::ServerConfig;

use crate::{Daemon, Raw};

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

async fn stat(client: &Client, name: &str) -> u64 {
    let stats = client.stats().await.unwrap();
    stats
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no statistic {name}"))
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
    assert!(waited <= BOUND + Duration::from_millis(300), "{waited:?}");
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

// ---------------------------------------------------------------------
// Four app-server processes
// ---------------------------------------------------------------------

/// One app-server process: this test binary again, running
/// [`app_server`], spoken to over its stdin and stdout.
struct App {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl App {
    fn spawn(addr: &str) -> App {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "near_cache::app_server",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("NEAR_CACHE_APP_SERVER", addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn an app server");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut app = App {
            child,
            input,
            output,
        };
        assert_eq!(app.ask("ping"), "pong");
        app
    }

    /// Sends one command and returns its answer line. Blocks, so the
    /// runtime is told (`block_in_place`): the daemon's accept loop may
    /// sit in this worker's queue.
    fn ask(&mut self, line: &str) -> String {
        tokio::task::block_in_place(|| self.ask_blocking(line))
    }

    fn ask_blocking(&mut self, line: &str) -> String {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
        loop {
            let mut answer = String::new();
            let n = self.output.read_line(&mut answer).unwrap();
            assert!(n > 0, "the app server ended");
            // The test harness prints its own lines too, and the first
            // answer follows its "test … " without a line break.
            if let Some(at) = answer.find("@@ ") {
                return answer[at + 3..].trim_end().to_owned();
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let mut apps: Vec<App> = (0..4).map(|_| App::spawn(&addr)).collect();
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
/// it with the server's address in `NEAR_CACHE_APP_SERVER`. Commands on
/// stdin, answers on stdout after `@@ `:
/// - `hold <id>`: reads the session (it is now cached) and keeps reading
///   it in the background;
/// - `revoke <id>`: deletes it; answers with how long that took;
/// - `check <id>`: reads started from now on must all refuse it: waits
///   for three of the background loop's and one of its own, and answers
///   `refused` or what was served;
/// - `stats`: the cache's counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "an app-server process that strict_mode_holds_across_four_app_server_processes starts"]
async fn app_server() {
    let addr = std::env::var("NEAR_CACHE_APP_SERVER")
        .expect("started by strict_mode_holds_across_four_app_server_processes");
    let client = Client::connect(ClientConfig::new(addr)).await.unwrap();
    let cache = NearCache::connect(client, NearCacheConfig::strict())
        .await
        .unwrap();
    // The background reader: the session held now, and how many reads it
    // started since the last check began that were served.
    let held = Arc::new(std::sync::Mutex::new(None::<SessionId>));
    let generation = Arc::new(AtomicU64::new(0));
    let served_after_check = Arc::new(AtomicU64::new(0));
    let reads_after_check = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    {
        let (cache, held, generation) = (cache.clone(), held.clone(), generation.clone());
        let (served, reads) = (served_after_check.clone(), reads_after_check.clone());
        let running = running.clone();
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let id = *held.lock().unwrap();
                let Some(id) = id else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let started_in = generation.load(Ordering::Acquire);
                let outcome = cache.get(&id).await;
                if started_in % 2 == 1 {
                    // Started after a check began: must be refused.
                    reads.fetch_add(1, Ordering::AcqRel);
                    if outcome.is_ok() {
                        served.fetch_add(1, Ordering::AcqRel);
                    }
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        });
    }
    // Commands come through a thread of their own, so that no worker of
    // the runtime blocks on stdin.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let (command, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let answer = match command {
            "ping" => "pong".to_owned(),
            "hold" => {
                let id: SessionId = arg.parse().unwrap();
                cache.get(&id).await.unwrap();
                // Even generation: reads are not being checked.
                let g = generation.load(Ordering::Acquire);
                generation.store(g + g % 2, Ordering::Release);
                *held.lock().unwrap() = Some(id);
                "held".to_owned()
            }
            "revoke" => {
                let id: SessionId = arg.parse().unwrap();
                let started = Instant::now();
                cache.delete(&id).await.unwrap();
                format!("revoked {}", started.elapsed().as_micros())
            }
            "check" => {
                let id: SessionId = arg.parse().unwrap();
                served_after_check.store(0, Ordering::Release);
                reads_after_check.store(0, Ordering::Release);
                generation.fetch_add(1, Ordering::AcqRel);
                let own = cache.get(&id).await;
                let deadline = Instant::now() + Duration::from_secs(5);
                while reads_after_check.load(Ordering::Acquire) < 3 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let served = served_after_check.load(Ordering::Acquire);
                let g = generation.fetch_add(1, Ordering::AcqRel);
                debug_assert_eq!(g % 2, 1);
                *held.lock().unwrap() = None;
                match own {
                    Err(ClientError::Store(StoreError::NotFound)) if served == 0 => {
                        "refused".to_owned()
                    }
                    own => format!("served: own read {own:?}, {served} background reads"),
                }
            }
            "stats" => format!("{:?}", cache.stats()),
            other => format!("unknown command {other}"),
        };
        println!("@@ {answer}");
    }
    running.store(false, Ordering::Relaxed);
}
