//! One shard of the session table: sessions by id, and their expiry wheel.
//!
//! Sessions are found by the first 8 bytes of their id (the store keeps
//! those unique), and a lookup then checks all 16, so that the owner index
//! and the wheel can hold 8-byte handles instead of whole ids.

use sessiond_protocol::SessionId;

use crate::growing::GrowingTable;
use crate::hashing::Hasher;
use crate::record::SessionRecord;
use crate::wheel::Wheel;

pub(crate) struct SessionShard {
    hasher: Hasher,
    table: GrowingTable<SessionRecord>,
    wheel: Wheel,
}

impl SessionShard {
    pub(crate) fn new(hasher: Hasher) -> Self {
        SessionShard {
            hasher,
            table: GrowingTable::default(),
            wheel: Wheel::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Takes every session out, and empties the wheel with them (FLUSHALL).
    /// The caller unlinks each from its owner, after letting this lock go.
    pub(crate) fn take_all(&mut self) -> Vec<SessionRecord> {
        self.wheel = Wheel::default();
        self.table.drain().collect()
    }

    /// Every session, expired or not, in no particular order.
    pub(crate) fn records(&self) -> impl Iterator<Item = &SessionRecord> {
        self.table.iter()
    }

    /// The session holding this prefix, whatever the rest of its id.
    pub(crate) fn by_prefix(&self, prefix: u64) -> Option<&SessionRecord> {
        let hash = self.hasher.prefix(prefix);
        self.table.find(hash, |r| r.prefix() == prefix)
    }

    /// Prefetches the record of every session this id's prefix may be,
    /// reading none of them.
    pub(crate) fn prefetch(&self, id: &SessionId) {
        let hash = self.hasher.prefix(id.prefix());
        self.table.find(hash, |record| {
            record.prefetch();
            false
        });
    }

    /// The session with exactly this id.
    pub(crate) fn get(&self, id: &SessionId) -> Option<&SessionRecord> {
        let hash = self.hasher.prefix(id.prefix());
        self.table.find(hash, |r| r.has_id(id))
    }

    pub(crate) fn get_mut(&mut self, id: &SessionId) -> Option<&mut SessionRecord> {
        let hash = self.hasher.prefix(id.prefix());
        self.table.find_mut(hash, |r| r.has_id(id))
    }

    /// Adds a session whose prefix the caller checked is free, and
    /// schedules its expiry.
    pub(crate) fn insert(&mut self, mut record: SessionRecord) {
        let due = record.due_second();
        record.set_wheel_at(due);
        self.wheel.schedule(due, record.prefix());
        let hasher = &self.hasher;
        let hash = hasher.prefix(record.prefix());
        self.table
            .insert_unique(hash, record, |r| hasher.prefix(r.prefix()));
    }

    /// Replaces the record of a session in place (same id, new contents);
    /// its wheel entry stays valid.
    pub(crate) fn replace(&mut self, record: SessionRecord) -> Option<SessionRecord> {
        let slot = self.get_mut(&record.id())?;
        let wheel_at = slot.wheel_at();
        let mut record = record;
        record.set_wheel_at(wheel_at);
        Some(std::mem::replace(slot, record))
    }

    /// Removes the session with exactly this id.
    pub(crate) fn remove(&mut self, id: &SessionId) -> Option<SessionRecord> {
        let hash = self.hasher.prefix(id.prefix());
        let entry = self.table.find_entry(hash, |r| r.has_id(id))?;
        Some(entry.remove().0)
    }

    /// Removes the session holding this prefix if `pick` accepts it.
    pub(crate) fn remove_prefix_if(
        &mut self,
        prefix: u64,
        pick: impl FnOnce(&SessionRecord) -> bool,
    ) -> Option<SessionRecord> {
        let hash = self.hasher.prefix(prefix);
        let entry = self.table.find_entry(hash, |r| r.prefix() == prefix)?;
        if !pick(entry.get()) {
            return None;
        }
        Some(entry.remove().0)
    }

    /// Runs up to `max` due wheel entries: expired sessions are moved out
    /// into `removed` (to be unlinked and freed after the lock is let go),
    /// live ones are rescheduled at their real deadline.
    /// Returns how many entries it looked at and whether more are due.
    pub(crate) fn expire(
        &mut self,
        now: u32,
        max: usize,
        removed: &mut Vec<SessionRecord>,
    ) -> (usize, bool) {
        let mut due = Vec::with_capacity(max.min(64));
        let more = self.wheel.take_due(now, max, &mut due);
        for &(second, prefix) in &due {
            let Some(record) = self.live_entry(second, prefix) else {
                continue;
            };
            if record.is_expired(now) {
                removed.push(self.remove_prefix_if(prefix, |_| true).expect("found"));
            } else {
                self.reschedule(prefix);
            }
        }
        (due.len(), more)
    }

    /// Moves on a doubling of the table, if one is under way (see
    /// `growing.rs`); the expiry cycle calls it on each visit.
    pub(crate) fn settle(&mut self, moves: usize) -> usize {
        let hasher = &self.hasher;
        self.table.settle(moves, |r| hasher.prefix(r.prefix()))
    }

    /// The earliest second in this shard's wheel, for eviction.
    pub(crate) fn first_due(&self) -> Option<u32> {
        self.wheel.first_second()
    }

    /// Evicts the session nearest its deadline. Wheel entries that turn out
    /// to belong to sessions touched since (so due later) are rescheduled;
    /// at most `tries` entries are looked at.
    pub(crate) fn evict_nearest(&mut self, tries: usize) -> Option<SessionRecord> {
        for _ in 0..tries {
            let (second, prefix) = self.wheel.pop_first()?;
            let Some(record) = self.live_entry(second, prefix) else {
                continue;
            };
            let real_due = record.due_second();
            if self.wheel.first_second().is_some_and(|s| s < real_due) {
                self.reschedule(prefix);
                continue;
            }
            return self.remove_prefix_if(prefix, |_| true);
        }
        None
    }

    /// The session a wheel entry stands for, unless the entry is stale (its
    /// session is gone, or its live entry sits in another bucket).
    fn live_entry(&self, second: u32, prefix: u64) -> Option<&SessionRecord> {
        self.by_prefix(prefix).filter(|r| r.wheel_at() == second)
    }

    fn reschedule(&mut self, prefix: u64) {
        let hash = self.hasher.prefix(prefix);
        let record = self
            .table
            .find_mut(hash, |r| r.prefix() == prefix)
            .expect("caller found it");
        let due = record.due_second();
        record.set_wheel_at(due);
        self.wheel.schedule(due, prefix);
    }
}
