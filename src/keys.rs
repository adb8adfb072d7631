//! One shard of the plain key space: keys with values and optional TTLs.
//!
//! Apps keep small things beside sessions here: revoked-JWT denylists and
//! login-attempt counters. Deadlines have millisecond resolution (as
//! Redis's PX), and the same lazily rescheduled wheel as sessions reclaims
//! them; a key read after its deadline is removed on the spot.

use hashbrown::HashTable;

use crate::hashing::Hasher;
use crate::wheel::Wheel;

/// Bytes a key adds beyond its key and value: the table slot, allocation
/// headers and its wheel entry.
pub(crate) const KEY_OVERHEAD: usize = 96;

pub(crate) struct KeyEntry {
    key: Box<[u8]>,
    pub(crate) value: Box<[u8]>,
    hash: u64,
    /// Unix milliseconds at which the key is dead; `None` for no TTL.
    pub(crate) deadline: Option<u64>,
    /// Bucket of the key's live wheel entry; 0 when it has none.
    wheel_at: u32,
}

impl KeyEntry {
    /// Bytes charged to memory accounting.
    pub(crate) fn footprint(&self) -> usize {
        footprint(&self.key, &self.value)
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline.is_some_and(|d| now_ms >= d)
    }
}

pub(crate) fn footprint(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + KEY_OVERHEAD
}

/// The wheel bucket of a millisecond deadline: the first whole second at
/// or after it.
fn bucket_of(deadline_ms: u64) -> u32 {
    u32::try_from(deadline_ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

pub(crate) struct KeyShard {
    hasher: Hasher,
    table: HashTable<KeyEntry>,
    wheel: Wheel,
}

impl KeyShard {
    pub(crate) fn new(hasher: Hasher) -> Self {
        KeyShard {
            hasher,
            table: HashTable::new(),
            wheel: Wheel::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The live entry for `key`. An entry found past its deadline is
    /// removed here, and its footprint added to `freed`.
    pub(crate) fn live(
        &mut self,
        key: &[u8],
        now_ms: u64,
        freed: &mut usize,
    ) -> Option<&mut KeyEntry> {
        let hash = self.hasher.bytes(key);
        let entry = self.table.find_entry(hash, |e| *e.key == *key).ok()?;
        if entry.get().is_expired(now_ms) {
            *freed += entry.remove().0.footprint();
            return None;
        }
        Some(entry.into_mut())
    }

    /// Sets a key's value and deadline; returns the old entry's footprint.
    pub(crate) fn set(&mut self, key: &[u8], value: Box<[u8]>, deadline: Option<u64>) -> usize {
        let hasher = &self.hasher;
        let hash = hasher.bytes(key);
        let old = match self.table.find_entry(hash, |e| *e.key == *key) {
            Ok(entry) => entry.remove().0.footprint(),
            Err(_) => 0,
        };
        self.table.insert_unique(
            hash,
            KeyEntry {
                key: key.into(),
                value,
                hash,
                deadline: None,
                wheel_at: 0,
            },
            |e| e.hash,
        );
        self.set_deadline(key, deadline);
        old
    }

    /// Changes the deadline of an existing key (`None`: no TTL). The key
    /// must exist.
    pub(crate) fn set_deadline(&mut self, key: &[u8], deadline: Option<u64>) {
        let hash = self.hasher.bytes(key);
        let entry = self
            .table
            .find_mut(hash, |e| *e.key == *key)
            .expect("caller checked the key exists");
        entry.deadline = deadline;
        let Some(deadline) = deadline else { return };
        let due = bucket_of(deadline);
        // A later deadline is picked up when the current entry comes due;
        // only an earlier one needs a new entry.
        if entry.wheel_at == 0 || due < entry.wheel_at {
            entry.wheel_at = due;
            self.wheel.schedule(due, hash);
        }
    }

    /// Removes a key whatever its deadline, returning it.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<KeyEntry> {
        let hash = self.hasher.bytes(key);
        let entry = self.table.find_entry(hash, |e| *e.key == *key).ok()?;
        Some(entry.remove().0)
    }

    /// Runs up to `max` due wheel entries, removing expired keys and
    /// rescheduling the rest. Returns entries looked at, whether more are
    /// due, and how many keys and bytes were removed.
    pub(crate) fn expire(&mut self, now_ms: u64, max: usize) -> ExpiredKeys {
        let now = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        let mut due = Vec::with_capacity(max.min(64));
        let more = self.wheel.take_due(now, max, &mut due);
        let mut out = ExpiredKeys {
            examined: due.len(),
            more,
            ..ExpiredKeys::default()
        };
        for (second, hash) in due {
            // Distinct keys practically never share a 64-bit seeded hash,
            // but if they do, each is settled here in turn.
            while let Ok(entry) = self
                .table
                .find_entry(hash, |e| e.hash == hash && e.wheel_at == second)
            {
                let key = entry.get();
                if key.is_expired(now_ms) {
                    out.removed += 1;
                    out.bytes += entry.remove().0.footprint();
                } else {
                    let key = entry.into_mut();
                    match key.deadline {
                        Some(d) => {
                            key.wheel_at = bucket_of(d);
                            self.wheel.schedule(key.wheel_at, hash);
                        }
                        None => key.wheel_at = 0,
                    }
                }
            }
        }
        out
    }
}

/// What one pass of key expiry did.
#[derive(Default)]
pub(crate) struct ExpiredKeys {
    pub examined: usize,
    pub more: bool,
    pub removed: usize,
    pub bytes: usize,
}
