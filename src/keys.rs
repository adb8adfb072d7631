//! One shard of the plain key space: keys with values and optional TTLs.
//!
//! Apps keep small things beside sessions here: revoked-JWT denylists and
//! login-attempt counters. Deadlines have millisecond resolution (as
//! Redis's PX), and the same lazily rescheduled wheel as sessions reclaims
//! them; a key read after its deadline is removed on the spot.

use hashbrown::HashTable;

use crate::hashing::Hasher;
use crate::wheel::Wheel;

use std::collections::BTreeSet;

/// Bytes a key adds beyond its key and value: the table slot, allocation
/// headers and its wheel entry.
pub(crate) const KEY_OVERHEAD: usize = 96;

/// Bytes a set member adds beyond its own bytes: its boxed slice and its
/// share of a B-tree node.
pub(crate) const MEMBER_OVERHEAD: usize = 40;

/// Bits of a SCAN cursor that hold a key's position within its shard; the
/// bits above hold the shard's index (at most 4096 shards: 12 bits).
pub(crate) const POSITION_BITS: u32 = 52;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;

/// Most SCAN steps a shard takes, whatever the COUNT (see [`KeyShard::scan`]).
pub(crate) const SCAN_PASSES: usize = 64;

/// What a plain key holds.
pub(crate) enum Value {
    /// A byte string (GET, SET, INCR).
    Str(Box<[u8]>),
    /// A set of byte strings (SADD, SMEMBERS): the owner-index pattern of
    /// Redis session libraries.
    Set(SetValue),
}

impl Value {
    /// The string, or `None` for a set.
    pub(crate) fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(bytes) => Some(bytes),
            Value::Set(_) => None,
        }
    }

    /// Bytes charged for the value itself.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
            Value::Set(set) => set.bytes,
        }
    }
}

/// A set value, with its accounted bytes kept alongside so that charging
/// it never walks the members. A B-tree rather than a hash set: members
/// come back in a stable, sorted order, and no second seeded hasher is
/// needed to keep clients from aiming members at one bucket.
#[derive(Default)]
pub(crate) struct SetValue {
    members: BTreeSet<Box<[u8]>>,
    bytes: usize,
}

impl SetValue {
    /// Adds a member; says whether it was new.
    pub(crate) fn insert(&mut self, member: &[u8]) -> bool {
        let added = self.members.insert(member.into());
        if added {
            self.bytes += member_footprint(member);
        }
        added
    }

    /// Removes a member; says whether it was there.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        let removed = self.members.remove(member);
        if removed {
            self.bytes -= member_footprint(member);
        }
        removed
    }

    pub(crate) fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &[u8]> {
        self.members.iter().map(|m| &**m)
    }
}

pub(crate) struct KeyEntry {
    key: Box<[u8]>,
    pub(crate) value: Value,
    hash: u64,
    /// Unix milliseconds at which the key is dead; `None` for no TTL.
    pub(crate) deadline: Option<u64>,
    /// Bucket of the key's live wheel entry; 0 when it has none.
    wheel_at: u32,
}

impl KeyEntry {
    /// Bytes charged to memory accounting.
    pub(crate) fn footprint(&self) -> usize {
        self.key.len() + self.value.bytes() + KEY_OVERHEAD
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline.is_some_and(|d| now_ms >= d)
    }

    /// The key's position in SCAN order within its shard: fixed for the
    /// key's life, whatever the table does.
    fn position(&self) -> u64 {
        self.hash & POSITION_MASK
    }
}

/// Bytes charged for a string-valued key.
pub(crate) fn footprint(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + KEY_OVERHEAD
}

/// Bytes charged for one set member.
pub(crate) fn member_footprint(member: &[u8]) -> usize {
    member.len() + MEMBER_OVERHEAD
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

    /// The entry for `key`, expired or not, without side effects.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&KeyEntry> {
        let hash = self.hasher.bytes(key);
        self.table.find(hash, |e| *e.key == *key)
    }

    /// Sets a key's value and deadline; returns the old entry's footprint.
    pub(crate) fn set(&mut self, key: &[u8], value: Value, deadline: Option<u64>) -> usize {
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

    /// The live entry for `key`, created by `make` (without a TTL) if
    /// there is none. Like [`KeyShard::live`], an expired entry found on
    /// the way is removed and its footprint added to `freed`.
    pub(crate) fn live_or_insert(
        &mut self,
        key: &[u8],
        now_ms: u64,
        freed: &mut usize,
        make: impl FnOnce() -> Value,
    ) -> &mut KeyEntry {
        if self.live(key, now_ms, freed).is_none() {
            self.set(key, make(), None);
        }
        self.live(key, now_ms, freed).expect("inserted above")
    }

    /// Removes every key and empties the wheel; returns the bytes freed.
    pub(crate) fn clear(&mut self) -> usize {
        self.wheel = Wheel::default();
        self.table.drain().map(|e| e.footprint()).sum()
    }

    /// Every entry, expired or not, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.table.iter()
    }

    /// One step of a SCAN over this shard: visits up to `count` entries
    /// (more only when several share the last position) whose position is
    /// `from` or later, in position order, expired ones included. Returns
    /// where the next step starts, or `None` when the shard is done.
    ///
    /// Positions come from the key's seeded hash, not from its bucket, so
    /// a table that grows or shrinks between steps changes nothing: a key
    /// present for the whole scan is visited exactly once.
    ///
    /// Each step costs one pass over the shard, so a step visits at least
    /// 1/[`SCAN_PASSES`] of it, whatever `count` asks: a whole scan then
    /// costs at most that many passes rather than one per `count` keys
    /// (COUNT is only a hint in Redis too).
    pub(crate) fn scan(
        &self,
        from: u64,
        count: usize,
        mut visit: impl FnMut(&KeyEntry),
    ) -> Option<u64> {
        let count = count.max(1).max(self.table.len() / SCAN_PASSES);
        let mut ahead: Vec<(u64, &KeyEntry)> = self
            .table
            .iter()
            .map(|e| (e.position(), e))
            .filter(|(position, _)| *position >= from)
            .collect();
        if ahead.len() <= count {
            ahead.iter().for_each(|(_, e)| visit(e));
            return None;
        }
        ahead.select_nth_unstable_by_key(count - 1, |(position, _)| *position);
        let last = ahead[count - 1].0;
        // Ties with the last position go out in this step too, so that the
        // next step can start strictly after it.
        ahead
            .iter()
            .filter(|(position, _)| *position <= last)
            .for_each(|(_, e)| visit(e));
        (last < POSITION_MASK).then_some(last + 1)
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
