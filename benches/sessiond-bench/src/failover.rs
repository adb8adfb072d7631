//! `--failover NODES`: one client writing to a replication group without
//! pause, so that a script can kill the leader and read off how long the
//! group took to acknowledge writes again.
//!
//! The client does what SPEC.md §13 asks of a failover-aware client: each
//! write is a CREATE with an id it chose (so a retry after an unknown
//! outcome is safe, and `ID_TAKEN` after one means the earlier attempt
//! made it), `NOT_LEADER` sends it to the leader named, an unknown leader
//! or a dead node sends it to the next member after a short pause, and
//! every write gives up after [`WRITE_BOUND`].
//!
//! This process cannot know when the leader was killed, so it reports on
//! a shared clock instead: one JSON line on stdout whenever an
//! acknowledgement follows failures or comes from another node than the
//! last one, with the wall-clock time of the acknowledgement (Unix
//! nanoseconds) and what went wrong since the previous one. The script
//! notes the time of its `kill -9` and takes the first acknowledgement
//! from another node after it. A summary line ends the run, which lasts
//! `--duration` or until standard input closes, whichever is first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sessiond::{NewSession, SessionId, StoreError};
use sessiond_protocol::wire::{Reply, Request, ServerError};

use crate::error::Result;
use crate::native::{Sessiond, SessiondConnection, SessiondSpec};

/// How long one write is retried before it counts as given up.
const WRITE_BOUND: Duration = Duration::from_secs(30);
/// How long a read or write on one connection may block: above the
/// server's own 3 s bound on a write waiting for a majority, after which
/// it answers UNAVAILABLE, so a timeout here means a node went silent.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before trying again when no node is known to lead. Short, as
/// it is the resolution of the measured failover time.
const BACKOFF: Duration = Duration::from_millis(10);
/// Idle timeout of the sessions written: long enough that none expires
/// during a run, so expiry adds no writes of its own.
const SESSION_IDLE: Duration = Duration::from_secs(1800);
/// Distinct error messages kept per report line, to show without flooding.
const MESSAGES_KEPT: usize = 4;

/// What went wrong between two acknowledgements.
#[derive(Debug, Default)]
struct Failures {
    /// Connecting (or the handshake) failed: the node is down.
    connect_failed: u64,
    /// A request was sent and the connection failed before its answer
    /// (closed, reset or timed out): the write's outcome is unknown.
    lost: u64,
    /// NOT_LEADER naming the leader.
    redirected: u64,
    /// NOT_LEADER with no leader known: an election is under way.
    no_leader: u64,
    /// UNAVAILABLE: the outcome is unknown.
    unavailable: u64,
    /// Any other error answer; the write is abandoned and a new one begun.
    other: u64,
    /// Writes abandoned after [`WRITE_BOUND`].
    gave_up: u64,
    /// A few of the messages seen, for the report.
    messages: Vec<String>,
}

impl Failures {
    fn any(&self) -> bool {
        self.connect_failed
            + self.lost
            + self.redirected
            + self.no_leader
            + self.unavailable
            + self.other
            + self.gave_up
            > 0
    }

    fn note(&mut self, message: String) {
        if self.messages.len() < MESSAGES_KEPT && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "connect_failed": self.connect_failed,
            "lost": self.lost,
            "redirected": self.redirected,
            "no_leader": self.no_leader,
            "unavailable": self.unavailable,
            "other": self.other,
            "gave_up": self.gave_up,
            "messages": self.messages,
        })
    }
}

/// A client of the whole group, connected to at most one member.
struct GroupWriter {
    nodes: Vec<String>,
    conn: Option<(String, SessiondConnection)>,
    /// The member tried when no leader is known: round robin.
    next: usize,
    data: Vec<u8>,
    /// Since the last report line.
    failures: Failures,
    /// Writes abandoned over the whole run.
    abandoned: u64,
}

impl GroupWriter {
    /// Connects to `addr`, or notes why not.
    fn connect(&mut self, addr: &str) -> bool {
        let opened = SessiondSpec::parse_addr(addr)
            .and_then(Sessiond::new)
            .and_then(|target| SessiondConnection::open(&target))
            .and_then(|conn| conn.set_io_timeout(IO_TIMEOUT).map(|()| conn));
        match opened {
            Ok(conn) => {
                self.conn = Some((addr.to_owned(), conn));
                true
            }
            Err(error) => {
                self.failures.connect_failed += 1;
                self.failures.note(format!("connect {addr}: {error}"));
                false
            }
        }
    }

    /// The next member in turn.
    fn next_node(&mut self) -> String {
        self.next = (self.next + 1) % self.nodes.len();
        self.nodes[self.next].clone()
    }

    /// Creates one session with a fresh id, retrying as the module docs
    /// say; the address of the node that acknowledged it, or `None` if it
    /// was abandoned.
    fn write(&mut self, stop: &AtomicBool) -> Option<String> {
        let id = SessionId::random();
        let mut new = NewSession::new(b"user:failover".to_vec())
            .data(self.data.clone())
            .idle_timeout(SESSION_IDLE);
        new.id = Some(id);
        let request = Request::Create(new);
        let started = Instant::now();
        let mut uncertain = false;
        let mut target: Option<String> = None;
        while started.elapsed() < WRITE_BOUND && !stop.load(Ordering::Relaxed) {
            if self.conn.is_none() {
                let addr = target.take().unwrap_or_else(|| self.next_node());
                if !self.connect(&addr) {
                    sleep(BACKOFF);
                    continue;
                }
            }
            let (addr, conn) = self.conn.as_mut().expect("connected above");
            let addr = addr.clone();
            let answer = conn.exchange(&request);
            match answer {
                Ok(Ok(Reply::Id(got))) if got == id => return Some(addr),
                Ok(Err(ServerError::Store(StoreError::IdTaken))) if uncertain => {
                    return Some(addr);
                }
                Ok(Err(ServerError::NotLeader {
                    leader: Some(leader),
                })) => {
                    self.failures.redirected += 1;
                    self.conn = None;
                    target = Some(leader);
                }
                Ok(Err(ServerError::NotLeader { leader: None })) => {
                    self.failures.no_leader += 1;
                    self.conn = None;
                    sleep(BACKOFF);
                }
                Ok(Err(ServerError::Unavailable(message))) => {
                    self.failures.unavailable += 1;
                    self.failures
                        .note(format!("{addr}: unavailable: {message}"));
                    uncertain = true;
                    self.conn = None;
                    sleep(BACKOFF);
                }
                Ok(other) => {
                    self.failures.other += 1;
                    self.failures.note(format!("{addr}: {other:?}"));
                    self.abandoned += 1;
                    return None;
                }
                Err(error) => {
                    self.failures.lost += 1;
                    self.failures.note(format!("{addr}: {error}"));
                    uncertain = true;
                    self.conn = None;
                }
            }
        }
        if !stop.load(Ordering::Relaxed) {
            self.failures.gave_up += 1;
            self.abandoned += 1;
        }
        None
    }
}

/// Nanoseconds since the Unix epoch: the clock the script's `date +%s%N`
/// reads too.
fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
}

/// Writes to the group of `nodes` (native `host:port` each) until
/// `duration` has passed or standard input closes; prints the report
/// lines the module docs describe.
pub fn run(nodes: &[String], duration: Duration, data: Vec<u8>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Whatever comes in is ignored: only the end of it matters.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut writer = GroupWriter {
        nodes: nodes.to_vec(),
        conn: None,
        next: 0,
        data,
        failures: Failures::default(),
        abandoned: 0,
    };
    let started = Instant::now();
    let mut acked: u64 = 0;
    let mut switches: u64 = 0;
    let mut longest = Duration::ZERO;
    let mut last: Option<(String, u128)> = None;
    while started.elapsed() < duration && !stop.load(Ordering::Relaxed) {
        let write_started = Instant::now();
        let Some(by) = writer.write(&stop) else {
            continue;
        };
        let took = write_started.elapsed();
        longest = longest.max(took);
        acked += 1;
        let at = unix_ns();
        let switched = last.as_ref().is_some_and(|(node, _)| *node != by);
        if switched || writer.failures.any() {
            switches += u64::from(switched);
            let line = json!({
                "event": if switched { "switch" } else { "resume" },
                "at_unix_ns": at.to_string(),
                "by": by,
                "from": last.as_ref().map(|(node, _)| node),
                "gap_ms": last.as_ref().map(|(_, t)| round_ms(at.saturating_sub(*t))),
                "write_ms": round_ms(took.as_nanos()),
                "failures": writer.failures.to_json(),
            });
            println!("{line}");
            writer.failures = Failures::default();
        }
        last = Some((by, at));
    }
    let elapsed = started.elapsed();
    let summary = json!({
        "event": "summary",
        "acked": acked,
        "acked_per_sec": (acked as f64 / elapsed.as_secs_f64()).round(),
        "switches": switches,
        "abandoned": writer.abandoned,
        "longest_write_ms": round_ms(longest.as_nanos()),
        "elapsed_secs": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "unreported_failures": writer.failures.to_json(),
    });
    println!("{summary}");
    Ok(())
}

/// Nanoseconds as milliseconds with three decimals.
fn round_ms(ns: u128) -> f64 {
    (ns as f64 / 1_000.0).round() / 1_000.0
}
