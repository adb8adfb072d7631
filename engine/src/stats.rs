//! Counters of what the store holds and what it has done.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the store, from [`crate::Store::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Sessions held (expired ones count until the expiry cycle removes
    /// them, within a second of their deadline).
    pub sessions: u64,
    /// Plain keys held.
    pub keys: u64,
    /// Owners with at least one session.
    pub owners: u64,
    /// Accounted bytes: packed entries plus fixed per-entry overhead.
    pub bytes_used: u64,
    /// The memory limit, if any.
    pub memory_limit: Option<u64>,
    /// Sessions removed because they expired.
    pub expired_sessions: u64,
    /// Keys removed because they expired.
    pub expired_keys: u64,
    /// Sessions evicted to stay under the memory limit.
    pub evicted_sessions: u64,
    /// Sessions ended to keep an owner under its session limit.
    pub limit_evictions: u64,
}

/// Event counters, bumped rarely (on expiry and eviction, not on reads),
/// so plain shared atomics cost nothing on the hot path.
#[derive(Default)]
pub(crate) struct Counters {
    pub expired_sessions: AtomicU64,
    pub expired_keys: AtomicU64,
    pub evicted_sessions: AtomicU64,
    pub limit_evictions: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: usize) {
        if by > 0 {
            counter.fetch_add(by as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
