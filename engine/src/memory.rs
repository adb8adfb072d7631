//! Memory accounting: the bytes the store holds, against its limit.
//!
//! The meter counts what the store allocates for each entry (its packed
//! bytes) plus a fixed estimate of per-entry overhead (table slot,
//! allocator header, index and wheel entries). It is an estimate of the
//! engine's own footprint, cheap to keep exact under concurrency with one
//! atomic; the process's real RSS is measured by `sessiond-bench`.

use std::sync::atomic::{AtomicU64, Ordering};

use sessiond_protocol::StoreError;

/// Bytes a session adds beyond its packed record: allocator header and
/// rounding, hash-table slot, wheel entry and owner-index handle.
pub(crate) const SESSION_OVERHEAD: usize = 56;

pub(crate) struct MemoryMeter {
    used: AtomicU64,
    limit: Option<u64>,
}

impl MemoryMeter {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        MemoryMeter {
            used: AtomicU64::new(0),
            limit,
        }
    }

    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Takes `bytes` if they fit under the limit.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Result<(), StoreError> {
        let bytes = bytes as u64;
        let Some(limit) = self.limit else {
            self.used.fetch_add(bytes, Ordering::Relaxed);
            return Ok(());
        };
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= limit).then_some(used + bytes)
            })
            .map(drop)
            .map_err(|used| StoreError::OutOfMemory {
                used,
                limit,
                needed: bytes,
            })
    }

    /// Takes `bytes` regardless of the limit (bookkeeping of entries that
    /// already exist, like a new owner's index entry).
    pub(crate) fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Gives `bytes` back.
    pub(crate) fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes as u64, Ordering::Relaxed);
    }
}
