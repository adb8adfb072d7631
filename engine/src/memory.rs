//! Memory accounting: the bytes the store holds, against its limit.
//!
//! The meter counts what the store allocates for each entry (its packed
//! bytes) plus a fixed estimate of per-entry overhead (table slot,
//! allocator header, index and wheel entries). It is an estimate of the
//! engine's own footprint, cheap to keep exact under concurrency with one
//! atomic; the process's real RSS is measured by `sessiond-bench`.
//!
//! Bytes enter the count in one of two ways and leave it in one:
//! - a write that may still fail takes a [`Reservation`] first (under the
//!   limit, evicting by policy), and either settles it once the write is
//!   made (to the entry's real size, which the write may only then know)
//!   or drops it, which gives the bytes back: an error path cannot forget;
//! - an entry that exists whatever the limit says (replayed from disk,
//!   renamed in place) is [`MemoryMeter::charge`]d;
//! - an entry that is gone (removed, replaced, expired, evicted) is
//!   [`MemoryMeter::free`]d, once, by whoever took it out of its table.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use sessiond_protocol::StoreError;

use crate::config::MemoryPolicy;

/// Bytes a session adds beyond its packed record: allocator header and
/// rounding, hash-table slot, wheel entry and owner-index handle.
pub(crate) const SESSION_OVERHEAD: usize = 56;

/// `limit`'s value for "no limit".
const NO_LIMIT: u64 = u64::MAX;

/// The accounted bytes, and the limit they must stay under.
///
/// The limit and the policy are atomics, not fixed settings, because an
/// operator may change them while the store runs (RESP's `CONFIG SET
/// maxmemory`); a write reads them once, relaxed, as it reserves.
pub(crate) struct MemoryMeter {
    used: AtomicU64,
    /// [`NO_LIMIT`] for none.
    limit: AtomicU64,
    /// A [`MemoryPolicy`] as `policy_code` spells it.
    policy: AtomicU8,
}

fn policy_code(policy: MemoryPolicy) -> u8 {
    match policy {
        MemoryPolicy::Reject => 0,
        MemoryPolicy::EvictNearestDeadline => 1,
    }
}

impl MemoryMeter {
    /// An empty meter; `None` for no limit.
    pub(crate) fn new(limit: Option<u64>, policy: MemoryPolicy) -> Self {
        MemoryMeter {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(limit.unwrap_or(NO_LIMIT)),
            policy: AtomicU8::new(policy_code(policy)),
        }
    }

    /// Changes the limit from the next reservation on. Lowering it below
    /// what is held evicts nothing at once: the next writes that need
    /// memory evict (or are refused) by policy.
    pub(crate) fn set_limit(&self, limit: Option<u64>) {
        self.limit
            .store(limit.unwrap_or(NO_LIMIT), Ordering::Relaxed);
    }

    /// What happens at the limit, from the next reservation on.
    pub(crate) fn set_policy(&self, policy: MemoryPolicy) {
        self.policy.store(policy_code(policy), Ordering::Relaxed);
    }

    /// The policy in force.
    pub(crate) fn policy(&self) -> MemoryPolicy {
        match self.policy.load(Ordering::Relaxed) {
            0 => MemoryPolicy::Reject,
            _ => MemoryPolicy::EvictNearestDeadline,
        }
    }

    /// The bytes counted now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit, if there is one.
    pub(crate) fn limit(&self) -> Option<u64> {
        match self.limit.load(Ordering::Relaxed) {
            NO_LIMIT => None,
            limit => Some(limit),
        }
    }

    /// Reserves `bytes` for a write about to be made. If they do not fit
    /// and `policy` allows, calls `evict` (which frees one entry's bytes,
    /// or returns false when there is nothing left to evict) until they
    /// do. Refuses with [`StoreError::OutOfMemory`] otherwise.
    ///
    /// A write larger than the whole limit is refused at once: evicting
    /// cannot make room for it, so it costs nobody their session.
    pub(crate) fn reserve(
        &self,
        bytes: usize,
        mut evict: impl FnMut() -> bool,
    ) -> Result<Reservation<'_>, StoreError> {
        let policy = self.policy();
        let mut refused = match self.try_take(bytes) {
            Ok(()) => return Ok(Reservation { meter: self, bytes }),
            Err(refused) => refused,
        };
        let hopeless = self.limit().is_some_and(|limit| bytes as u64 > limit);
        if policy == MemoryPolicy::Reject || hopeless {
            return Err(refused);
        }
        while evict() {
            match self.try_take(bytes) {
                Ok(()) => return Ok(Reservation { meter: self, bytes }),
                Err(e) => refused = e,
            }
        }
        Err(refused)
    }

    /// Counts the bytes of an entry that exists whatever the limit says:
    /// one replayed from disk (history already passed the limit), or a
    /// key that only changed its name.
    pub(crate) fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Gives back the bytes of entries that are gone: removed, replaced,
    /// expired or evicted. Called once, by whoever took them out of their
    /// table, after its lock is let go.
    pub(crate) fn free(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Takes `bytes` if they fit under the limit.
    fn try_take(&self, bytes: usize) -> Result<(), StoreError> {
        let bytes = bytes as u64;
        let Some(limit) = self.limit() else {
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
}

/// Bytes taken from the meter for a write not yet made. Settle it when
/// the write is made; dropped unsettled (the write failed, or an error
/// returned early), it gives the bytes back.
#[must_use = "a reservation dropped at once gives its bytes straight back"]
pub(crate) struct Reservation<'m> {
    meter: &'m MemoryMeter,
    bytes: usize,
}

impl Reservation<'_> {
    /// The write is made and holds `used` bytes: the rest goes back, or,
    /// if the entry came out larger than reserved (an owner's first
    /// session also made its index entry; a record's header around new
    /// data), the difference is charged. Either way one atomic at most.
    pub(crate) fn settle(mut self, used: usize) {
        match used.cmp(&self.bytes) {
            std::cmp::Ordering::Less => self.meter.free(self.bytes - used),
            std::cmp::Ordering::Greater => self.meter.charge(used - self.bytes),
            std::cmp::Ordering::Equal => {}
        }
        self.bytes = 0;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.meter.free(self.bytes);
    }
}
