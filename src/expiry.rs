//! The expiry cycle: reclaiming the memory of expired sessions and keys.
//!
//! Reads never return an expired entry: every lookup checks the deadline.
//! But an entry that is never read again must still give its memory back,
//! and promptly: within a second of its deadline. This module does that.
//!
//! Every session and expiring key sits in its shard's timer wheel, in the
//! bucket of the second it falls due (see `wheel.rs`). A cycle walks the
//! shards and, in each, settles the entries whose second has come: expired
//! ones are removed (and, for sessions, unlinked from the owner index),
//! ones whose deadline moved later are put back at their real second. No
//! cycle ever scans the keyspace; it only touches entries that are due.
//!
//! Two bounds keep it from hurting traffic, as in Redis's `activeExpireCycle`:
//! - a shard lock is held for one batch of at most [`BATCH`] entries, so no
//!   request waits on expiry for more than a few microseconds, even when a
//!   million sessions fall due in the same second;
//! - a cycle stops after its time budget and remembers where it stopped,
//!   so the next cycle resumes there and no shard starves.
//!
//! The background thread runs a cycle every [`TICK`] with a budget of
//! [`CYCLE_BUDGET`], a quarter of one core at most. At roughly 0.2 µs per
//! expired session that reclaims over a million sessions a second, enough
//! for the within-a-second promise at that scale. Tests turn the thread off
//! and call [`crate::Store::run_expiry_cycle`] with a manual clock.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::Store;
use crate::stats::Counters;
use crate::store::Inner;

/// How often the background thread runs a cycle.
pub const TICK: Duration = Duration::from_millis(100);
/// The time budget of one background cycle.
pub const CYCLE_BUDGET: Duration = Duration::from_millis(25);
/// Most wheel entries settled under one shard lock.
pub const BATCH: usize = 64;

/// What one expiry cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Sessions removed.
    pub sessions_expired: u64,
    /// Keys removed.
    pub keys_expired: u64,
    /// Wheel entries looked at.
    pub examined: u64,
    /// The longest time one shard lock was held.
    pub longest_lock_hold: Duration,
    /// Whether every due entry was settled (false: the budget ran out).
    pub complete: bool,
}

impl Store {
    /// Runs one expiry cycle now, for at most about `budget`.
    ///
    /// The background thread does this on its own; call it yourself when
    /// `background_expiry` is off, or in tests with a manual clock.
    pub fn run_expiry_cycle(&self, budget: Duration) -> ExpiryReport {
        self.inner.expiry_cycle(budget)
    }
}

impl Inner {
    pub(crate) fn expiry_cycle(&self, budget: Duration) -> ExpiryReport {
        let started = Instant::now();
        let (now_ms, now_s) = (self.now_ms(), self.now_s());
        let shards = self.sessions.len();
        let first = self.expiry_cursor.load(Ordering::Relaxed);
        let mut report = ExpiryReport::default();
        let mut removed = Vec::with_capacity(BATCH);
        for step in 0..shards {
            let i = (first + step) % shards;
            loop {
                let (sessions, more_sessions) = {
                    let mut shard = self.sessions[i].lock();
                    let held = Instant::now();
                    let out = shard.expire(now_s, BATCH, &mut removed);
                    report.longest_lock_hold = report.longest_lock_hold.max(held.elapsed());
                    out
                };
                let keys = {
                    let mut shard = self.keys[i].lock();
                    let held = Instant::now();
                    let out = shard.expire(now_ms, BATCH);
                    report.longest_lock_hold = report.longest_lock_hold.max(held.elapsed());
                    out
                };
                report.examined += (sessions + keys.examined) as u64;
                report.sessions_expired += removed.len() as u64;
                report.keys_expired += keys.removed as u64;
                Counters::bump(&self.counters.expired_sessions, removed.len());
                Counters::bump(&self.counters.expired_keys, keys.removed);
                self.memory.release(keys.bytes);
                for session in removed.drain(..) {
                    self.unlink(session);
                }
                let more = more_sessions || keys.more;
                let last_shard = step + 1 == shards;
                if started.elapsed() >= budget && (more || !last_shard) {
                    // Resume here next time: this shard if it still has
                    // due entries, else the next one.
                    let next = if more { i } else { i + 1 };
                    self.expiry_cursor.store(next % shards, Ordering::Relaxed);
                    return report;
                }
                if !more {
                    break;
                }
            }
        }
        report.complete = true;
        report
    }
}

/// Starts the background expiry thread. It holds only a weak reference,
/// so it ends by itself within a tick of the last `Store` handle's drop.
pub(crate) fn spawn_background(store: Weak<Inner>) {
    std::thread::Builder::new()
        .name("sessiond-expiry".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                let Some(inner) = store.upgrade() else { return };
                inner.expiry_cycle(CYCLE_BUDGET);
            }
        })
        .expect("spawning the expiry thread");
}
