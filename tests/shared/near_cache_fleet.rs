//! A fleet of app-server processes, each with a strict near cache, driven
//! over pipes: the four-process test (`tests/daemon/near_cache.rs`) and
//! the revoke bench (`clients/rust/benches/near_cache.rs`) both start
//! their own binary again as the app servers, which run [`serve`].
//!
//! An app server reads commands on stdin and answers each with one line
//! on stdout after `@@ ` (a test harness prints its own lines too):
//! - `ping`: `pong`, once its cache is registered;
//! - `hold <id>`: reads the session (now cached) and keeps reading it in
//!   the background;
//! - `revoke <id>`: deletes it; answers `revoked <µs it took>`;
//! - `check <id>`: every read started from now on must refuse it: waits
//!   for three of the background loop's and makes one of its own, and
//!   answers `refused` or what was served;
//! - `stats`: the cache's counters.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sessiond_client::protocol::{SessionId, StoreError};
use sessiond_client::{
    Client, ClientConfig, ClientError, NearCache, NearCacheConfig, SessionStore,
};

/// One app-server process, spoken to over its stdin and stdout.
pub struct App {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl App {
    /// Starts `command`, which must run [`serve`], and waits until its
    /// cache is registered.
    pub fn spawn(mut command: Command) -> App {
        let mut child = command
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
    pub fn ask(&mut self, line: &str) -> String {
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

    /// Sends a signal (`-STOP`, `-CONT`) to the process.
    pub fn signal(&self, signal: &str) {
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

/// An app server's life: a strict near cache on `addr`, commands from
/// stdin until it closes.
pub async fn serve(addr: &str) {
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
