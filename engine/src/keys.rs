//! One shard of the plain key space: keys with values and optional TTLs.
//!
//! Apps keep small things beside sessions here: revoked-JWT denylists and
//! login-attempt counters. Deadlines have millisecond resolution (as
//! Redis's PX), and the same lazily rescheduled wheel as sessions reclaims
//! them; a key read after its deadline is removed on the spot.

use crate::growing::GrowingTable;
use crate::hash_value::HashValue;
use crate::hashing::Hasher;
use crate::key_events::{KeyEvent, KeyEvents};
use crate::thin::ThinBytes;
use crate::wheel::Wheel;

use std::collections::BTreeSet;
use std::sync::Arc;

/// Bytes a key adds beyond its key and value: its packed header (26
/// bytes), the allocation's header and rounding (~16), its share of the
/// table (~20 to ~40 as the table fills and doubles) and its wheel entry
/// (8). Measured: 295 bytes of RSS for a 16-byte key and a 200-byte value.
pub(crate) const KEY_OVERHEAD: usize = 80;

/// Bytes a set member adds beyond its own bytes: its boxed slice and its
/// share of a B-tree node (which also covers the set's own small box).
pub(crate) const MEMBER_OVERHEAD: usize = 40;

/// Bits of a SCAN cursor that hold a key's position within its shard; the
/// bits above hold the shard's index (at most 4096 shards: 12 bits).
pub(crate) const POSITION_BITS: u32 = 52;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;

/// Most SCAN steps a shard takes, whatever the COUNT (see [`KeyShard::scan`]).
pub(crate) const SCAN_PASSES: usize = 64;

/// A value on its way into the table: a string (copied into the key's
/// packed record) or a set (moved in).
pub(crate) enum Value<'a> {
    /// A byte string (GET, SET, INCR).
    Str(&'a [u8]),
    /// A set of byte strings (SADD, SMEMBERS): the owner-index pattern of
    /// Redis session libraries.
    Set(SetValue),
    /// A hash of fields, each with an optional deadline (HSET, HEXPIRE).
    Hash(HashValue),
}

impl Value<'_> {
    /// Bytes charged for the value itself.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.len(),
            Value::Set(set) => set.bytes,
            Value::Hash(hash) => hash.bytes(),
        }
    }
}

/// A stored key's value, borrowed.
pub(crate) enum ValueRef<'a> {
    Str(&'a [u8]),
    Set(&'a SetValue),
    Hash(&'a HashValue),
}

/// A set value, with its accounted bytes kept alongside so that charging
/// it never walks the members. A B-tree rather than a hash set: members
/// come back in a stable, sorted order, and no second seeded hasher is
/// needed to keep clients from aiming members at one bucket.
#[derive(Default, Clone)]
pub(crate) struct SetValue {
    members: BTreeSet<Box<[u8]>>,
    bytes: usize,
}

impl SetValue {
    /// Adds a member; says whether it was new.
    pub(crate) fn insert(&mut self, member: &[u8]) -> bool {
        // Looked up first: a member already there (an index re-added on
        // every save) then costs no allocation and free.
        if self.members.contains(member) {
            return false;
        }
        self.members.insert(member.into());
        self.bytes += member_footprint(member);
        true
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

/// One stored key, packed for memory: plain keys are the other thing
/// people keep in a session store by the million (denylists, counters),
/// and Redis holds a 16-byte key with a 200-byte value in some 340 bytes.
///
/// Everything but a set sits in one [`ThinBytes`] allocation:
///
/// ```text
/// offset  size  field
///      0     8  hash       the key's seeded hash (table growth, SCAN order)
///      8     8  deadline   Unix milliseconds, 0 = no TTL
///     16     4  wheel at   bucket of the live wheel entry, 0 = none
///     20     2  key length
///     22     …  key, then a string value's bytes
/// ```
///
/// A set or a hash is boxed beside it ([`SetValue`], [`HashValue`]), so
/// the table slot is two
/// pointers: 16 bytes, against some 90 for a struct of boxed
/// key, value enum and times.
pub(crate) struct KeyEntry {
    packed: ThinBytes,
    set: Option<Box<Boxed>>,
}

/// A value kept beside the packed record: a set or a hash.
enum Boxed {
    Set(SetValue),
    Hash(HashValue),
}

const HASH: usize = 0;
const DEADLINE: usize = 8;
const WHEEL_AT: usize = 16;
const KEY_LEN: usize = 20;
const KEY: usize = 22;

impl KeyEntry {
    /// A new entry without a TTL.
    fn new(key: &[u8], hash: u64, value: Value<'_>) -> Self {
        let (string, set) = match value {
            Value::Str(bytes) => (bytes, None),
            Value::Set(set) => (&[][..], Some(Box::new(Boxed::Set(set)))),
            Value::Hash(hash) => (&[][..], Some(Box::new(Boxed::Hash(hash)))),
        };
        KeyEntry {
            packed: pack(hash, 0, key, string),
            set,
        }
    }

    /// Bytes charged to memory accounting.
    pub(crate) fn footprint(&self) -> usize {
        self.key().len() + self.value_bytes() + KEY_OVERHEAD
    }

    fn value_bytes(&self) -> usize {
        match self.value() {
            ValueRef::Str(bytes) => bytes.len(),
            ValueRef::Set(set) => set.bytes,
            ValueRef::Hash(hash) => hash.bytes(),
        }
    }

    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        self.packed.as_slice()[at..at + N]
            .try_into()
            .expect("field within the header")
    }

    fn hash(&self) -> u64 {
        u64::from_le_bytes(self.field(HASH))
    }

    fn key_len(&self) -> usize {
        usize::from(u16::from_le_bytes(self.field(KEY_LEN)))
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.packed.as_slice()[KEY..self.string_at()]
    }

    /// Where a string value starts in the packed bytes (it runs to their
    /// end; a set's entry has nothing there).
    fn string_at(&self) -> usize {
        KEY + self.key_len()
    }

    fn string(&self) -> &[u8] {
        &self.packed.as_slice()[self.string_at()..]
    }

    /// The value, borrowed.
    pub(crate) fn value(&self) -> ValueRef<'_> {
        match self.set.as_deref() {
            Some(Boxed::Set(set)) => ValueRef::Set(set),
            Some(Boxed::Hash(hash)) => ValueRef::Hash(hash),
            None => ValueRef::Str(self.string()),
        }
    }

    /// The string, or `None` for a set.
    pub(crate) fn as_str(&self) -> Option<&[u8]> {
        self.set.is_none().then(|| self.string())
    }

    /// The set, or `None` for another type.
    pub(crate) fn as_set(&self) -> Option<&SetValue> {
        match self.set.as_deref() {
            Some(Boxed::Set(set)) => Some(set),
            _ => None,
        }
    }

    /// The set, mutably, or `None` for another type.
    pub(crate) fn as_set_mut(&mut self) -> Option<&mut SetValue> {
        match self.set.as_deref_mut() {
            Some(Boxed::Set(set)) => Some(set),
            _ => None,
        }
    }

    /// The hash, or `None` for another type.
    pub(crate) fn as_hash(&self) -> Option<&HashValue> {
        match self.set.as_deref() {
            Some(Boxed::Hash(hash)) => Some(hash),
            _ => None,
        }
    }

    /// The hash, mutably, or `None` for another type. A caller that
    /// changes field deadlines reschedules the key (`KeyShard::reschedule`).
    pub(crate) fn as_hash_mut(&mut self) -> Option<&mut HashValue> {
        match self.set.as_deref_mut() {
            Some(Boxed::Hash(hash)) => Some(hash),
            _ => None,
        }
    }

    /// Reaps a hash's expired fields; returns the bytes freed (0 for
    /// other types).
    fn reap(&mut self, now_ms: u64) -> usize {
        self.as_hash_mut().map_or(0, |hash| hash.reap(now_ms))
    }

    /// When the wheel must next look at the key: its deadline or its
    /// hash's earliest field deadline, whichever comes first.
    fn next_due(&self) -> Option<u64> {
        let field = self.as_hash().and_then(HashValue::next_deadline);
        match (self.deadline(), field) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Replaces a string value (INCR); the key, deadline and wheel entry
    /// stay. A value of the same length (a counter that kept its number of
    /// digits) is written in place.
    pub(crate) fn replace_str(&mut self, value: &[u8]) {
        debug_assert!(self.set.is_none(), "replace_str on a set");
        let at = self.string_at();
        if self.packed.len() - at == value.len() {
            self.packed.as_mut_slice()[at..].copy_from_slice(value);
            return;
        }
        let header = self.packed.as_slice();
        let deadline = u64::from_le_bytes(self.field(DEADLINE));
        let mut packed = pack(self.hash(), deadline, self.key(), value);
        packed.as_mut_slice()[WHEEL_AT..KEY_LEN].copy_from_slice(&header[WHEEL_AT..KEY_LEN]);
        self.packed = packed;
    }

    /// Moves the value out for RENAME: a string borrowed from the entry, a
    /// set taken whole.
    pub(crate) fn take_value(&mut self) -> Value<'_> {
        match self.set.take().map(|boxed| *boxed) {
            Some(Boxed::Set(set)) => Value::Set(set),
            Some(Boxed::Hash(hash)) => Value::Hash(hash),
            None => Value::Str(self.string()),
        }
    }

    /// Unix milliseconds at which the key is dead; `None` for no TTL.
    pub(crate) fn deadline(&self) -> Option<u64> {
        Some(u64::from_le_bytes(self.field(DEADLINE))).filter(|d| *d != 0)
    }

    fn set_deadline(&mut self, deadline: Option<u64>) {
        // 0 means "none"; a deadline of 0 ms is as past as one of 1 ms.
        let raw = deadline.map_or(0, |d| d.max(1));
        self.packed.as_mut_slice()[DEADLINE..DEADLINE + 8].copy_from_slice(&raw.to_le_bytes());
    }

    fn wheel_at(&self) -> u32 {
        u32::from_le_bytes(self.field(WHEEL_AT))
    }

    fn set_wheel_at(&mut self, second: u32) {
        self.packed.as_mut_slice()[WHEEL_AT..KEY_LEN].copy_from_slice(&second.to_le_bytes());
    }

    /// Whether the key is dead: past its deadline, or a hash none of
    /// whose fields is alive.
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline().is_some_and(|d| now_ms >= d)
            || self.as_hash().is_some_and(|h| h.all_expired(now_ms))
    }

    /// How the removal of an entry that [`KeyEntry::is_expired`] is
    /// announced: `expired` if the key's own deadline passed, else (every
    /// field of its hash passed theirs) `hexpired` and `del`.
    fn expiry_event(&self, now_ms: u64) -> KeyEvent {
        match self.deadline().is_some_and(|d| now_ms >= d) {
            true => KeyEvent::Expired,
            false => KeyEvent::HexpiredAll,
        }
    }

    /// The key's position in SCAN order within its shard: fixed for the
    /// key's life, whatever the table does.
    fn position(&self) -> u64 {
        self.hash() & POSITION_MASK
    }
}

/// Gives `entry` its new deadline, and a wheel entry if it has none due by
/// then: a later deadline is picked up when the current entry comes due;
/// only an earlier one needs a new entry.
fn schedule(wheel: &mut Wheel, entry: &mut KeyEntry, hash: u64, deadline: Option<u64>) {
    entry.set_deadline(deadline);
    let Some(due) = entry.next_due() else {
        return;
    };
    // Bucket 0 would read as "no wheel entry": the clamped deadline is 1.
    let due = bucket_of(due);
    if entry.wheel_at() == 0 || due < entry.wheel_at() {
        entry.set_wheel_at(due);
        wheel.schedule(due, hash);
    }
}

/// Packs a key's header, key and string bytes into one allocation.
fn pack(hash: u64, deadline: u64, key: &[u8], string: &[u8]) -> ThinBytes {
    let key_len = u16::try_from(key.len()).expect("keys are at most MAX_KEY_LEN bytes");
    let mut packed = ThinBytes::zeroed(KEY + key.len() + string.len());
    let bytes = packed.as_mut_slice();
    bytes[HASH..HASH + 8].copy_from_slice(&hash.to_le_bytes());
    bytes[DEADLINE..DEADLINE + 8].copy_from_slice(&deadline.to_le_bytes());
    bytes[KEY_LEN..KEY].copy_from_slice(&key_len.to_le_bytes());
    bytes[KEY..KEY + key.len()].copy_from_slice(key);
    bytes[KEY + key.len()..].copy_from_slice(string);
    packed
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
    table: GrowingTable<KeyEntry>,
    wheel: Wheel,
    /// Told of keys removed at their deadline here (`key_events.rs`).
    events: Arc<KeyEvents>,
}

impl KeyShard {
    pub(crate) fn new(hasher: Hasher, events: Arc<KeyEvents>) -> Self {
        KeyShard {
            hasher,
            table: GrowingTable::default(),
            wheel: Wheel::default(),
            events,
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
        let entry = self.table.find_entry(hash, |e| e.key() == key)?;
        if entry.get().is_expired(now_ms) {
            let event = entry.get().expiry_event(now_ms);
            *freed += entry.remove().0.footprint();
            self.events.emit(key, event);
            return None;
        }
        let entry = entry.into_mut();
        let reaped = entry.reap(now_ms);
        if reaped > 0 {
            *freed += reaped;
            self.events.emit(key, KeyEvent::Hexpired);
        }
        Some(entry)
    }

    /// Prefetches the record of every entry `key`'s hash may be, reading
    /// none of them (the table's slots hold only pointers).
    pub(crate) fn prefetch(&self, key: &[u8]) {
        let hash = self.hasher.bytes(key);
        self.table.find(hash, |entry| {
            entry.packed.prefetch();
            false
        });
    }

    /// The entry for `key`, expired or not, without side effects.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&KeyEntry> {
        let hash = self.hasher.bytes(key);
        self.table.find(hash, |e| e.key() == key)
    }

    /// Sets a key's value and deadline; returns the old entry's footprint.
    ///
    /// A string overwritten by one of the same length (a cache entry or a
    /// token rewritten, a benchmark's one key) is rewritten in place: no
    /// second probe, no allocation.
    pub(crate) fn set(&mut self, key: &[u8], value: Value<'_>, deadline: Option<u64>) -> usize {
        let hash = self.hasher.bytes(key);
        let old = match self.table.find_entry(hash, |e| e.key() == key) {
            Some(found) => match value {
                Value::Str(bytes) if found.get().as_str().map(<[u8]>::len) == Some(bytes.len()) => {
                    let entry = found.into_mut();
                    let old = entry.footprint();
                    entry.replace_str(bytes);
                    schedule(&mut self.wheel, entry, hash, deadline);
                    return old;
                }
                _ => found.remove().0.footprint(),
            },
            None => 0,
        };
        let entry = self
            .table
            .insert_unique(hash, KeyEntry::new(key, hash, value), KeyEntry::hash)
            .into_mut();
        schedule(&mut self.wheel, entry, hash, deadline);
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
        make: impl FnOnce() -> Value<'static>,
    ) -> &mut KeyEntry {
        if self.live(key, now_ms, freed).is_none() {
            self.set(key, make(), None);
        }
        // Not `live` again: a new empty hash reads as expired until the
        // caller gives it a field.
        let hash = self.hasher.bytes(key);
        self.table
            .find_mut(hash, |e| e.key() == key)
            .expect("inserted above")
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
            .find_mut(hash, |e| e.key() == key)
            .expect("caller checked the key exists");
        schedule(&mut self.wheel, entry, hash, deadline);
    }

    /// Gives a key whose hash's field deadlines changed the wheel entry
    /// its earliest one needs. The key must exist.
    pub(crate) fn reschedule(&mut self, key: &[u8]) {
        let deadline = self.get(key).and_then(KeyEntry::deadline);
        self.set_deadline(key, deadline);
    }

    /// The shard's seeded hasher (HSCAN's field positions).
    pub(crate) fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// Moves on a doubling of the table, if one is under way (see
    /// `growing.rs`); the expiry cycle calls it on each visit.
    pub(crate) fn settle(&mut self, moves: usize) -> usize {
        self.table.settle(moves, KeyEntry::hash)
    }

    /// Removes a key whatever its deadline, returning it.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<KeyEntry> {
        let hash = self.hasher.bytes(key);
        let entry = self.table.find_entry(hash, |e| e.key() == key)?;
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
            while let Some(entry) = self
                .table
                .find_entry(hash, |e| e.hash() == hash && e.wheel_at() == second)
            {
                let key = entry.get();
                if key.is_expired(now_ms) {
                    out.removed += 1;
                    let event = key.expiry_event(now_ms);
                    let removed = entry.remove().0;
                    self.events.emit(removed.key(), event);
                    out.bytes += removed.footprint();
                } else {
                    let key = entry.into_mut();
                    let reaped = key.reap(now_ms);
                    if reaped > 0 {
                        out.bytes += reaped;
                        self.events.emit(key.key(), KeyEvent::Hexpired);
                    }
                    match key.next_due().map(bucket_of) {
                        Some(due) => {
                            key.set_wheel_at(due);
                            self.wheel.schedule(due, hash);
                        }
                        None => key.set_wheel_at(0),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> KeyShard {
        KeyShard::new(Hasher::random(), Arc::default())
    }

    #[test]
    fn an_entry_is_two_pointers() {
        assert_eq!(size_of::<KeyEntry>(), 2 * size_of::<usize>());
    }

    #[test]
    fn strings_keep_key_value_and_deadline_apart() {
        let mut shard = shard();
        shard.set(b"k", Value::Str(b"value"), Some(5_000));
        let entry = shard.get(b"k").expect("set above");
        assert_eq!(entry.key(), b"k");
        assert_eq!(entry.as_str(), Some(&b"value"[..]));
        assert_eq!(entry.deadline(), Some(5_000));
        assert!(!entry.is_expired(4_999) && entry.is_expired(5_000));

        let mut freed = 0;
        let entry = shard.live(b"k", 0, &mut freed).expect("live");
        entry.replace_str(b"a longer value than before");
        assert_eq!(entry.as_str(), Some(&b"a longer value than before"[..]));
        assert_eq!(entry.deadline(), Some(5_000), "INCR keeps the TTL");
        assert_eq!(entry.key(), b"k");
    }

    #[test]
    fn an_overwrite_in_place_takes_the_new_deadline() {
        let mut shard = shard();
        shard.set(b"k", Value::Str(b"aaa"), Some(5_000));
        assert_eq!(
            shard.set(b"k", Value::Str(b"bbb"), None),
            footprint(b"k", b"aaa")
        );
        assert_eq!(
            shard.get(b"k").and_then(KeyEntry::as_str),
            Some(&b"bbb"[..])
        );
        assert_eq!(shard.get(b"k").and_then(KeyEntry::deadline), None);
        assert_eq!(shard.expire(6_000, 100).removed, 0, "no TTL any more");

        shard.set(b"k", Value::Str(b"ccc"), Some(9_000));
        shard.set(b"k", Value::Str(b"ddd"), Some(7_000));
        assert_eq!(
            shard.expire(8_000, 100).removed,
            1,
            "the earlier deadline holds"
        );
        assert!(shard.get(b"k").is_none());
    }

    #[test]
    fn a_deadline_at_the_epoch_is_past_not_absent() {
        let mut shard = shard();
        shard.set(b"k", Value::Str(b""), Some(0));
        let entry = shard.get(b"k").expect("set above");
        assert!(entry.deadline().is_some());
        assert!(entry.is_expired(1));
        assert_eq!(entry.as_str(), Some(&b""[..]));
        assert_eq!(
            shard.expire(2_000, 100).removed,
            1,
            "and the wheel knows it"
        );
    }

    #[test]
    fn sets_live_beside_the_packed_key() {
        let mut shard = shard();
        let mut set = SetValue::default();
        set.insert(b"a");
        shard.set(b"owner", Value::Set(set), None);
        let mut entry = shard.remove(b"owner").expect("set above");
        assert!(entry.as_str().is_none());
        assert_eq!(entry.deadline(), None);
        match entry.take_value() {
            Value::Set(set) => assert!(set.contains(b"a")),
            _ => panic!("a set came back as another type"),
        }
    }

    #[test]
    fn expiry_removes_due_keys_and_keeps_moved_ones() {
        let mut shard = shard();
        shard.set(b"due", Value::Str(b"x"), Some(1_000));
        shard.set(b"later", Value::Str(b"y"), Some(1_000));
        shard.set_deadline(b"later", Some(9_000));
        let out = shard.expire(2_000, 100);
        assert_eq!(out.removed, 1);
        assert!(shard.get(b"due").is_none());
        assert_eq!(
            shard.get(b"later").and_then(KeyEntry::deadline),
            Some(9_000)
        );
        assert_eq!(shard.expire(9_500, 100).removed, 1);
        assert_eq!(shard.len(), 0);
    }
}
