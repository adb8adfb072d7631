//! Operations on the whole key space: DBSIZE, FLUSHALL, KEYS and SCAN.
//! Each holds one shard's lock at a time while it walks them all.

use sessiond_protocol::{EndReason, StoreError};

use crate::glob::glob_match;
use crate::key_events::KeyEvent;
use crate::keys::POSITION_BITS;
use crate::keyspace::KeyType;
use crate::persist::Entry;
use crate::store::Store;

/// What [`Store::key_ttl_summary`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTtlSummary {
    /// Keys with a deadline still ahead.
    pub with_ttl: u64,
    /// The mean time left to those deadlines, in milliseconds.
    pub avg_ttl_ms: u64,
}

impl Store {
    /// How many keys the store holds (DBSIZE); like Redis's, the count
    /// includes keys past their deadline that nothing has reclaimed yet.
    pub fn key_count(&self) -> usize {
        self.inner.key_shards().iter().map(|s| s.lock().len()).sum()
    }

    /// How many keys have a deadline still ahead, and the mean time left
    /// to them in milliseconds (0 when none), as Redis's `INFO keyspace`
    /// reports `expires` and `avg_ttl`. A walk of every key, one shard
    /// lock at a time: for INFO, not for a request's path.
    pub fn key_ttl_summary(&self) -> KeyTtlSummary {
        let now = self.now_ms();
        let (mut with_ttl, mut total_left) = (0u64, 0u128);
        for shard in self.inner.key_shards() {
            let shard = shard.lock();
            for deadline in shard.entries().filter_map(|e| e.deadline()) {
                if deadline > now {
                    with_ttl += 1;
                    total_left += u128::from(deadline - now);
                }
            }
        }
        let avg_ttl_ms = match with_ttl {
            0 => 0,
            n => u64::try_from(total_left / u128::from(n)).unwrap_or(u64::MAX),
        };
        KeyTtlSummary {
            with_ttl,
            avg_ttl_ms,
        }
    }

    /// Deletes every plain key and every session (FLUSHDB, FLUSHALL): a
    /// Redis client that flushes its database means all of it, and the
    /// sessions are what the RESP face stores there. Shard by shard, so
    /// writes racing a flush may survive it, as they would have come after.
    /// Refused while the data directory refuses writes.
    pub fn flush_all(&self) -> Result<(), StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let now = inner.now_s();
        for shard in inner.key_shards() {
            let mut shard = shard.lock();
            // One end record per key, under the shard's lock: a write that
            // races the flush lands on the same side of it on disk as in
            // memory.
            for entry in shard.entries() {
                inner.log(|| Entry::EndKey { key: entry.key() });
                inner.key_events().emit(entry.key(), KeyEvent::Flushed);
            }
            let freed = shard.clear();
            drop(shard);
            inner.memory().free(freed);
        }
        for shard in inner.session_shards() {
            let records = {
                let mut shard = shard.lock();
                let records = shard.take_all();
                for record in &records {
                    inner.log_end(record, EndReason::Deleted, None, now);
                }
                records
            };
            for record in &records {
                inner.unlink(record);
            }
        }
        inner.acknowledge(Ok(()))
    }

    /// Every live key matching a Redis glob `pattern` (KEYS). Holds one
    /// shard's lock at a time, but walks them all: SCAN is the way for
    /// large key spaces.
    pub fn keys_matching(&self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let now = self.inner.now_ms();
        let mut out = Vec::new();
        for shard in self.inner.key_shards() {
            let shard = shard.lock();
            out.extend(
                shard
                    .entries()
                    .filter(|e| !e.is_expired(now) && glob_match(pattern, e.key()))
                    .map(|e| e.key().to_vec()),
            );
        }
        out
    }

    /// One step of a key scan (SCAN): start at cursor 0 and pass each
    /// returned cursor back until it is 0 again. Looks at about `count`
    /// keys per step (more in a large shard, so that a whole scan costs a
    /// bounded number of passes over each shard) and returns the live ones
    /// matching `pattern` and `kind`, so a step may return fewer than
    /// `count`, or none.
    ///
    /// The cursor holds a shard index (top 12 bits) and a position within
    /// that shard (low 52 bits of the key's seeded hash). Shards are walked
    /// in order and each in position order, and a position never changes,
    /// so every key present for the whole scan is returned exactly once,
    /// however the tables grow or shrink; a key added or removed meanwhile
    /// may or may not be. Each step costs a pass over one or more shards.
    pub fn scan_keys(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        kind: Option<KeyType>,
    ) -> (u64, Vec<Vec<u8>>) {
        let inner = &*self.inner;
        let now = inner.now_ms();
        let shards = inner.key_shards();
        let mut shard = usize::try_from(cursor >> POSITION_BITS).unwrap_or(usize::MAX);
        let mut from = cursor & ((1 << POSITION_BITS) - 1);
        let (mut out, mut seen) = (Vec::new(), 0);
        let count = count.max(1);
        while shard < shards.len() && seen < count {
            let next = shards[shard].lock().scan(from, count - seen, |e| {
                seen += 1;
                let wanted = !e.is_expired(now)
                    && pattern.is_none_or(|p| glob_match(p, e.key()))
                    && kind.is_none_or(|k| k == KeyType::of(e));
                if wanted {
                    out.push(e.key().to_vec());
                }
            });
            match next {
                Some(position) => from = position,
                None => (shard, from) = (shard + 1, 0),
            }
        }
        let cursor = match shard < shards.len() {
            true => ((shard as u64) << POSITION_BITS) | from,
            false => 0,
        };
        (cursor, out)
    }
}
