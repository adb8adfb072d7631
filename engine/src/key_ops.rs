//! The rest of Redis's commands on keys of any type: DEL and EXISTS of several keys,
//! RENAME and RENAMENX (atomic, `multi_key.rs`), COPY, TOUCH, EXPIRETIME,
//! RANDOMKEY, and what OBJECT and MEMORY USAGE report about a key.

use sessiond_protocol::StoreError;
use sessiond_protocol::decimal::Decimal;
use sessiond_protocol::limits::check_key;

use crate::key_events::KeyEvent;
use crate::keys::{KeyEntry, SetValue, Value, ValueRef};
use crate::store::Store;

/// A set of integers holds at most this many members in Redis 7.0's
/// compact encoding (`set-max-intset-entries`' default).
const MAX_INTSET_ENTRIES: usize = 512;

/// Fields, and bytes of a field or value, a hash may have and still be a
/// listpack in Redis 7.0 (`hash-max-listpack-entries`, `-value`).
const MAX_LISTPACK_ENTRIES: usize = 128;
const MAX_LISTPACK_VALUE: usize = 64;
/// Redis keeps a string of at most this many bytes in one allocation with
/// its header (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
const MAX_EMBSTR: usize = 44;

/// What OBJECT says about a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Redis's name for the encoding it would use for this value (OBJECT
    /// ENCODING): `int`, `embstr` or `raw` for a string, `intset` or
    /// `hashtable` for a set, `listpack` or `hashtable` for a hash. Redis also keeps an encoding a value once
    /// had (a string appended to stays `raw`, a set that held a word
    /// stays `hashtable`); this is the one it would pick for the value as
    /// it is now.
    pub encoding: &'static str,
    /// OBJECT REFCOUNT: Redis shares the integers 0 to 9999 (and says
    /// `i32::MAX` for them); everything else has one reference.
    pub refcount: i64,
}

/// A key's absolute deadline (EXPIRETIME, PEXPIRETIME).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDeadline {
    /// No such key.
    Missing,
    /// The key has no TTL.
    Persistent,
    /// It dies at this Unix time, in milliseconds.
    AtMs(u64),
}

impl Store {
    /// Renames a key, keeping its value and TTL (RENAME, and RENAMENX
    /// with `only_if_absent`), atomically: both names' shards are locked
    /// together, so no reader sees the key under neither name, and both
    /// changes are one log record. `NotFound` if `from` does not exist;
    /// false if `only_if_absent` and `to` exists (or is `from`).
    pub fn rename_with(
        &self,
        from: &[u8],
        to: &[u8],
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(to)?;
        let renamed = inner.with_key_shards(&[from, to], |locked, now, freed| {
            if locked.shard(from).live(from, now, freed).is_none() {
                return Err(StoreError::NotFound);
            }
            if from == to {
                return Ok(!only_if_absent);
            }
            if only_if_absent && locked.shard(to).live(to, now, freed).is_some() {
                return Ok(false);
            }
            let mut entry = locked.shard(from).remove(from).expect("live above");
            let deadline = entry.deadline();
            let value = entry.take_value();
            *freed += locked.shard(to).set(to, value, deadline);
            // Same value, new name: only the key's length changes.
            inner.memory().charge(to.len());
            *freed += from.len();
            inner.key_events().emit(from, KeyEvent::RenameFrom);
            inner.key_events().emit(to, KeyEvent::RenameTo);
            locked.log(&[from, to]);
            Ok(true)
        });
        inner.acknowledge(renamed)
    }

    /// Deletes keys of any type (DEL and UNLINK of several keys), all at
    /// once as Redis does: every key's shard is locked before any is
    /// touched, so no other client sees some gone and not the others, and
    /// a crash keeps all the deletes or none. Says how many live ones were
    /// there (a key named twice counts once). Refused while the data
    /// directory refuses writes.
    pub fn delete_keys(&self, keys: &[&[u8]]) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let (live, removed) = inner.with_key_shards(keys, |locked, now, freed| {
            let (mut live, mut removed) = (0, Vec::new());
            for key in keys {
                let Some(entry) = locked.shard(key).remove(key) else {
                    continue;
                };
                *freed += entry.footprint();
                let was_live = !entry.is_expired(now);
                live += usize::from(was_live);
                let event = if was_live {
                    KeyEvent::Del
                } else {
                    KeyEvent::Expired
                };
                inner.key_events().emit(key, event);
                removed.push(*key);
            }
            locked.log(&removed);
            (live, !removed.is_empty())
        });
        match removed {
            true => inner.acknowledge(Ok(live)),
            false => Ok(0),
        }
    }

    /// Copies `from`'s value and TTL to `to` (COPY); false if `from` is
    /// missing, or `to` exists and not `replace`. The caller refuses
    /// `from == to` (Redis's error).
    pub fn copy_key(&self, from: &[u8], to: &[u8], replace: bool) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(to)?;
        // What the copy will cost, looked at first: memory is reserved
        // before any lock, and the copy settles it to the real size.
        let Some(size) = inner.with_live_key(from, KeyEntry::footprint) else {
            return Ok(false);
        };
        let most = size - from.len() + to.len();
        let reserved = inner.reserve(most)?;
        let copied = inner.with_key_shards(&[from, to], |locked, now, freed| {
            let (value, deadline) = {
                let Some(entry) = locked.shard(from).live(from, now, freed) else {
                    return (false, 0);
                };
                (owned_value(entry), entry.deadline())
            };
            let shard = locked.shard(to);
            if !replace && shard.live(to, now, freed).is_some() {
                return (false, 0);
            }
            let used = match value {
                Owned::Str(bytes) => {
                    *freed += shard.set(to, Value::Str(&bytes), deadline);
                    crate::keys::footprint(to, &bytes)
                }
                Owned::Set(set) => {
                    let value = Value::Set(set);
                    let used = crate::keys::footprint(to, &[]) + value.bytes();
                    *freed += shard.set(to, value, deadline);
                    used
                }
                Owned::Hash(hash) => {
                    let value = Value::Hash(hash);
                    let used = crate::keys::footprint(to, &[]) + value.bytes();
                    *freed += shard.set(to, value, deadline);
                    used
                }
            };
            inner.log_key(shard, to);
            inner.key_events().emit(to, KeyEvent::CopyTo);
            (true, used)
        });
        reserved.settle(copied.1);
        inner.acknowledge(Ok(copied.0))
    }

    /// How many of `keys` exist, a key named twice counting twice (EXISTS,
    /// and TOUCH: the engine keeps no access time to update), counted at
    /// one instant as Redis does: every key's shard is locked first, so a
    /// concurrent MSET or DEL counts whole or not at all.
    pub fn count_existing(&self, keys: &[&[u8]]) -> usize {
        self.inner.with_key_shards(keys, |locked, now, freed| {
            keys.iter()
                .filter(|key| locked.shard(key).live(key, now, freed).is_some())
                .count()
        })
    }

    /// A key's absolute deadline.
    pub fn key_deadline(&self, key: &[u8]) -> KeyDeadline {
        self.inner
            .with_live_key(key, |entry| match entry.deadline() {
                None => KeyDeadline::Persistent,
                Some(ms) => KeyDeadline::AtMs(ms),
            })
            .unwrap_or(KeyDeadline::Missing)
    }

    /// A key picked at random (RANDOMKEY); `None` if there are none
    /// live. From a random shard on (empty ones are skipped at no cost),
    /// the first live key from a random place in the shard: a pick costs
    /// one pass over a shard, and only a key space of nearly all expired
    /// keys (which the expiry cycle reclaims within a second or so) makes
    /// it walk more.
    pub fn random_key(&self) -> Option<Vec<u8>> {
        let inner = &*self.inner;
        let shards = inner.key_shards();
        let mut random = crate::set_ops::Random::for_read();
        let start = random.below(shards.len());
        let now = inner.now_ms();
        (0..shards.len()).find_map(|i| {
            let shard = shards[(start + i) % shards.len()].lock();
            let n = shard.len();
            if n == 0 {
                return None;
            }
            let from = random.below(n);
            shard
                .entries()
                .skip(from)
                .chain(shard.entries().take(from))
                .find(|entry| !entry.is_expired(now))
                .map(|entry| entry.key().to_vec())
        })
    }

    /// What OBJECT ENCODING and REFCOUNT say of a key; `None` if missing.
    pub fn object_info(&self, key: &[u8]) -> Option<ObjectInfo> {
        self.inner.with_live_key(key, |entry| match entry.value() {
            ValueRef::Str(value) => {
                let int = (value.len() <= 20).then(|| Decimal::parse(value)).flatten();
                let encoding = match int {
                    Some(_) => "int",
                    None if value.len() <= MAX_EMBSTR => "embstr",
                    None => "raw",
                };
                let shared = int.is_some_and(|n| (0..10_000).contains(&n));
                ObjectInfo {
                    encoding,
                    refcount: if shared { i64::from(i32::MAX) } else { 1 },
                }
            }
            ValueRef::Set(set) => {
                let ints = set.len() <= MAX_INTSET_ENTRIES
                    && set.members().all(|m| Decimal::parse(m).is_some());
                ObjectInfo {
                    encoding: if ints { "intset" } else { "hashtable" },
                    refcount: 1,
                }
            }
            // Redis 7.0's hash-max-listpack-entries and -value defaults.
            ValueRef::Hash(hash) => {
                let small = hash.len() <= MAX_LISTPACK_ENTRIES
                    && hash.iter().all(|(f, v, _)| {
                        f.len() <= MAX_LISTPACK_VALUE && v.len() <= MAX_LISTPACK_VALUE
                    });
                ObjectInfo {
                    encoding: if small { "listpack" } else { "hashtable" },
                    refcount: 1,
                }
            }
        })
    }

    /// The bytes the memory meter charges for a key, its name, value and
    /// overhead included (MEMORY USAGE); `None` if missing.
    pub fn key_memory(&self, key: &[u8]) -> Option<usize> {
        self.inner.with_live_key(key, KeyEntry::footprint)
    }
}

/// A key's value copied out of its entry, for COPY.
enum Owned {
    Str(Vec<u8>),
    Set(SetValue),
    Hash(crate::hash_value::HashValue),
}

fn owned_value(entry: &KeyEntry) -> Owned {
    match entry.value() {
        ValueRef::Str(bytes) => Owned::Str(bytes.to_vec()),
        ValueRef::Set(set) => Owned::Set(set.clone()),
        ValueRef::Hash(hash) => Owned::Hash(hash.clone()),
    }
}
