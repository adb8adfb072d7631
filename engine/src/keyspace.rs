//! The Redis-shaped operations on plain keys: conditional sets, GETDEL and
//! GETEX, conditional expiry, RENAME, type checks, iteration (KEYS, SCAN,
//! DBSIZE, FLUSHALL) and set-valued keys.
//!
//! They live beside `store.rs` rather than in it only to keep files small;
//! they follow its rules. Each holds at most one key-shard lock at a time,
//! memory is reserved before the lock (reserving may evict, which locks
//! session shards) and settled to the exact footprint after it.

use std::time::Duration;

use sessiond_protocol::StoreError;

use crate::glob::glob_match;
use crate::keys::{self, KeyEntry, KeyShard, POSITION_BITS, SetValue, Value, ValueRef};
use crate::persist::Entry;
use sessiond_protocol::limits::check_key;

use crate::store::{Inner, Store};

/// When a key dies: after a time to live, or at a Unix time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// This long from now (must be positive).
    In(Duration),
    /// At this Unix time, in milliseconds; a time already past deletes the
    /// key, as Redis's EXAT, PXAT and EXPIREAT do.
    AtMs(u64),
}

impl Deadline {
    /// A deadline `ms` milliseconds from now, as a relative TTL argument
    /// gives one: zero or less is already past, so the write deletes the
    /// key (Redis's EXPIRE and PEXPIRE with a non-positive time).
    pub fn relative_ms(ms: i64) -> Deadline {
        match u64::try_from(ms) {
            Ok(ms) if ms > 0 => Deadline::In(Duration::from_millis(ms)),
            _ => Deadline::AtMs(0),
        }
    }

    /// A deadline at Unix time `ms`; a time before the epoch is as past as
    /// the epoch (Redis's EXPIREAT and PEXPIREAT with a negative time).
    pub fn absolute_ms(ms: i64) -> Deadline {
        Deadline::AtMs(u64::try_from(ms).unwrap_or(0))
    }
}

/// What a write does to a key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExpiry {
    /// No TTL afterwards (SET's default; GETEX PERSIST).
    Persist,
    /// Whatever TTL the key had (SET KEEPTTL; GETEX without options).
    Keep,
    /// A new deadline.
    Set(Deadline),
}

/// When a conditional set writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Always (plain SET).
    #[default]
    Always,
    /// Only if the key does not exist (NX, SETNX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// The options of [`Store::set_key_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetOptions {
    /// The key's TTL after the write.
    pub expiry: KeyExpiry,
    /// When to write.
    pub condition: SetCondition,
    /// Return the old value (SET GET, GETSET); a key holding a set is then
    /// a [`StoreError::WrongType`] and nothing is written.
    pub return_old: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            expiry: KeyExpiry::Persist,
            condition: SetCondition::Always,
            return_old: false,
        }
    }
}

/// What [`Store::set_key_with`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the condition held and the value was written.
    pub written: bool,
    /// The old value, when asked for and the key existed.
    pub old: Option<Vec<u8>>,
}

/// When a conditional expire applies (Redis 7's EXPIRE options). A key
/// without a TTL counts as one with an infinite TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    /// Always.
    #[default]
    Always,
    /// Only if the key has no TTL (NX).
    IfNoTtl,
    /// Only if the key has a TTL (XX).
    IfTtl,
    /// Only if the new deadline is later than the current one (GT).
    IfLater,
    /// Only if the new deadline is earlier than the current one (LT).
    IfEarlier,
}

impl ExpireCondition {
    /// Whether a key whose deadline is `current` may take `new`.
    fn allows(self, current: Option<u64>, new: u64) -> bool {
        match self {
            ExpireCondition::Always => true,
            ExpireCondition::IfNoTtl => current.is_none(),
            ExpireCondition::IfTtl => current.is_some(),
            ExpireCondition::IfLater => current.is_some_and(|c| new > c),
            ExpireCondition::IfEarlier => current.is_none_or(|c| new < c),
        }
    }
}

/// The kind of value a plain key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A byte string.
    String,
    /// A set of byte strings.
    Set,
}

impl KeyType {
    /// Redis's name for it (TYPE, SCAN TYPE).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Set => "set",
        }
    }

    fn of(entry: &KeyEntry) -> KeyType {
        match entry.value() {
            ValueRef::Str(_) => KeyType::String,
            ValueRef::Set(_) => KeyType::Set,
        }
    }
}

impl Store {
    /// Sets a string key under a condition, with a TTL choice, optionally
    /// returning the old value: SET with all of its options, SETNX and
    /// GETSET in one operation, so that the check and the write happen
    /// under one lock.
    pub fn set_key_with(
        &self,
        key: &[u8],
        value: impl AsRef<[u8]>,
        options: SetOptions,
    ) -> Result<SetOutcome, StoreError> {
        let inner = &*self.inner;
        let value = value.as_ref();
        inner.writable()?;
        check_key(key)?;
        inner.check_value(value.len())?;
        let expiry = inner.resolve(options.expiry)?;
        let bytes = keys::footprint(key, value);
        inner.reserve(bytes)?;
        let outcome = inner.with_key_shard_logged(key, |shard, now, freed| {
            let (exists, old_deadline, old) = match shard.live(key, now, freed) {
                None => (false, None, None),
                Some(entry) => {
                    let old = match options.return_old {
                        true => Some(string_of(entry)?.to_vec()),
                        false => None,
                    };
                    (true, entry.deadline(), old)
                }
            };
            let allowed = match options.condition {
                SetCondition::Always => true,
                SetCondition::IfAbsent => !exists,
                SetCondition::IfPresent => exists,
            };
            if !allowed {
                return Ok((
                    SetOutcome {
                        written: false,
                        old,
                    },
                    0,
                ));
            }
            let deadline = expiry.unwrap_or(old_deadline);
            if deadline.is_some_and(|d| d <= now) {
                *freed += shard.remove(key).map_or(0, |e| e.footprint());
                return Ok((SetOutcome { written: true, old }, 0));
            }
            *freed += shard.set(key, Value::Str(value), deadline);
            Ok((SetOutcome { written: true, old }, bytes))
        });
        inner.acknowledge(inner.settle(bytes, outcome))
    }

    /// A string key's value; `WrongType` for a key holding a set.
    pub fn get_string(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .with_live_key(key, |entry| string_of(entry).map(<[u8]>::to_vec))
            .transpose()
    }

    /// Reads a string key and deletes it (GETDEL). A key holding a set is
    /// a `WrongType` and stays.
    pub fn get_del(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_ex(key, KeyExpiry::Set(Deadline::AtMs(0)))
    }

    /// Reads a string key and changes its TTL (GETEX): `Keep` leaves it,
    /// `Persist` removes it, a deadline already past deletes the key.
    pub fn get_ex(&self, key: &[u8], expiry: KeyExpiry) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = &*self.inner;
        let expiry = inner.resolve(expiry)?;
        if expiry.is_none() {
            return self.get_string(key);
        }
        inner.writable()?;
        let out = inner.with_key_shard_logged(key, |shard, now, freed| {
            let Some(entry) = shard.live(key, now, freed) else {
                return Ok(None);
            };
            let value = string_of(entry)?.to_vec();
            match expiry {
                None => {}
                Some(Some(deadline)) if deadline <= now => {
                    *freed += shard.remove(key).map_or(0, |e| e.footprint());
                }
                Some(deadline) => shard.set_deadline(key, deadline),
            }
            Ok(Some(value))
        });
        inner.acknowledge(out)
    }

    /// Removes a key's TTL (PERSIST); true only if it had one.
    pub fn persist(&self, key: &[u8]) -> bool {
        let had_ttl = self.inner.with_key_shard_logged(key, |shard, now, freed| {
            let had_ttl = shard
                .live(key, now, freed)
                .is_some_and(|e| e.deadline().is_some());
            if had_ttl {
                shard.set_deadline(key, None);
            }
            had_ttl
        });
        self.inner.acknowledge_quietly();
        had_ttl
    }

    /// Whether a live key of any type exists.
    pub fn exists(&self, key: &[u8]) -> bool {
        self.inner.with_live_key(key, |_| ()).is_some()
    }

    /// The kind of value a live key holds.
    pub fn key_type(&self, key: &[u8]) -> Option<KeyType> {
        self.inner.with_live_key(key, KeyType::of)
    }

    /// Gives a key a deadline if `condition` allows (EXPIRE, PEXPIRE,
    /// EXPIREAT, PEXPIREAT with NX, XX, GT, LT). A deadline already past
    /// deletes the key. Says whether the key exists and the condition held.
    pub fn expire_with(
        &self,
        key: &[u8],
        when: Deadline,
        condition: ExpireCondition,
    ) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let deadline = inner.deadline(when)?;
        let applied = inner.with_key_shard_logged(key, |shard, now, freed| {
            let Some(entry) = shard.live(key, now, freed) else {
                return false;
            };
            if !condition.allows(entry.deadline(), deadline) {
                return false;
            }
            if deadline <= now {
                *freed += shard.remove(key).map_or(0, |e| e.footprint());
            } else {
                shard.set_deadline(key, Some(deadline));
            }
            true
        });
        inner.acknowledge(Ok(applied))
    }

    /// Renames a key, keeping its value and TTL and replacing whatever
    /// `to` held (RENAME). `NotFound` if `from` does not exist.
    ///
    /// The key is taken out of its shard and then put into its new one, so
    /// that no two key-shard locks are ever held at once; in between, a
    /// reader of either name sees neither. Redis's RENAME is atomic; the
    /// session libraries that use it rename keys only they know.
    pub fn rename(&self, from: &[u8], to: &[u8]) -> Result<(), StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(to)?;
        if from == to {
            return match self.exists(from) {
                true => Ok(()),
                false => Err(StoreError::NotFound),
            };
        }
        let moved = inner.with_key_shard_logged(from, |shard, now, freed| {
            shard.live(from, now, freed)?;
            shard.remove(from)
        });
        let mut entry = moved.ok_or(StoreError::NotFound)?;
        let deadline = entry.deadline();
        let value = entry.take_value();
        let replaced =
            inner.with_key_shard_logged(to, |shard, _, _| shard.set(to, value, deadline));
        // Same value, new name: only the key's length changes the charge.
        inner.memory.add(to.len());
        inner.memory.release(from.len() + replaced);
        inner.acknowledge(Ok(()))
    }

    /// How many keys the store holds (DBSIZE); like Redis's, the count
    /// includes keys past their deadline that nothing has reclaimed yet.
    pub fn key_count(&self) -> usize {
        self.inner.keys.iter().map(|s| s.lock().len()).sum()
    }

    /// Deletes every plain key and every session (FLUSHDB, FLUSHALL): a
    /// Redis client that flushes its database means all of it, and the
    /// sessions are what the RESP face stores there. Shard by shard, so
    /// writes racing a flush may survive it, as they would have come after.
    pub fn flush_all(&self) {
        let inner = &*self.inner;
        for shard in inner.keys.iter() {
            let mut shard = shard.lock();
            // One end record per key, under the shard's lock: a write that
            // races the flush lands on the same side of it on disk as in
            // memory.
            for entry in shard.entries() {
                inner.log(|| Entry::EndKey { key: entry.key() });
            }
            let freed = shard.clear();
            drop(shard);
            inner.memory.release(freed);
        }
        for shard in inner.sessions.iter() {
            let records = {
                let mut shard = shard.lock();
                let records = shard.take_all();
                for record in &records {
                    inner.log_end(record);
                }
                records
            };
            for record in &records {
                inner.unlink(record);
            }
        }
        inner.acknowledge_quietly();
    }

    /// Every live key matching a Redis glob `pattern` (KEYS). Holds one
    /// shard's lock at a time, but walks them all: SCAN is the way for
    /// large key spaces.
    pub fn keys_matching(&self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let now = self.inner.now_ms();
        let mut out = Vec::new();
        for shard in self.inner.keys.iter() {
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
        let shards = inner.keys.len();
        let mut shard = usize::try_from(cursor >> POSITION_BITS).unwrap_or(usize::MAX);
        let mut from = cursor & ((1 << POSITION_BITS) - 1);
        let (mut out, mut seen) = (Vec::new(), 0);
        let count = count.max(1);
        while shard < shards && seen < count {
            let next = inner.keys[shard].lock().scan(from, count - seen, |e| {
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
        let cursor = match shard < shards {
            true => ((shard as u64) << POSITION_BITS) | from,
            false => 0,
        };
        (cursor, out)
    }

    /// Adds members to the set in `key`, creating it (without a TTL) if
    /// missing (SADD). Returns how many were new.
    pub fn set_add(&self, key: &[u8], members: &[&[u8]]) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(key)?;
        for member in members {
            inner.check_value(member.len())?;
        }
        // At most: a new key and every member new.
        let most = keys::footprint(key, &[])
            + members
                .iter()
                .map(|m| keys::member_footprint(m))
                .sum::<usize>();
        inner.reserve(most)?;
        let outcome = inner.with_key_shard_logged(key, |shard, now, freed| {
            let before = match shard.live(key, now, freed) {
                Some(entry) => set_of(entry).map(|_| entry.footprint())?,
                None => 0,
            };
            let entry = shard.live_or_insert(key, now, freed, || Value::Set(SetValue::default()));
            let set = set_of_mut(entry)?;
            let added = members.iter().filter(|m| set.insert(m)).count();
            Ok((added, entry.footprint() - before))
        });
        inner.acknowledge(inner.settle(most, outcome))
    }

    /// Removes members from the set in `key` (SREM); an emptied set is
    /// deleted, as in Redis. Returns how many were there.
    pub fn set_remove(&self, key: &[u8], members: &[&[u8]]) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let removed = inner.with_key_shard_logged(key, |shard, now, freed| {
            let Some(entry) = shard.live(key, now, freed) else {
                return Ok(0);
            };
            let before = entry.footprint();
            let set = set_of_mut(entry)?;
            let removed = members.iter().filter(|m| set.remove(m)).count();
            let empty = set.len() == 0;
            *freed += before - entry.footprint();
            if empty {
                *freed += shard.remove(key).map_or(0, |e| e.footprint());
            }
            Ok(removed)
        });
        inner.acknowledge(removed)
    }

    /// The members of the set in `key`, in byte order (SMEMBERS); empty
    /// for a missing key.
    pub fn set_members(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with_set(key, Vec::new(), |set| {
            set.members().map(<[u8]>::to_vec).collect()
        })
    }

    /// Whether `member` is in the set in `key` (SISMEMBER).
    pub fn set_contains(&self, key: &[u8], member: &[u8]) -> Result<bool, StoreError> {
        self.with_set(key, false, |set| set.contains(member))
    }

    /// How many members the set in `key` has (SCARD); 0 for a missing key.
    pub fn set_len(&self, key: &[u8]) -> Result<usize, StoreError> {
        self.with_set(key, 0, SetValue::len)
    }

    /// Reads the set in `key`: `missing` if there is none, `WrongType` if
    /// the key holds a string.
    fn with_set<T>(
        &self,
        key: &[u8],
        missing: T,
        f: impl FnOnce(&SetValue) -> T,
    ) -> Result<T, StoreError> {
        self.inner
            .with_live_key(key, |entry| set_of(entry).map(f))
            .unwrap_or(Ok(missing))
    }
}

impl Inner {
    /// Locks `key`'s shard and runs `f` with the time; bytes `f` adds to
    /// `freed` (expired entries found, replaced or removed values) are
    /// released after the lock is let go.
    pub(crate) fn with_key_shard<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(&mut KeyShard, u64, &mut usize) -> T,
    ) -> T {
        let (now, mut freed) = (self.now_ms(), 0);
        let mut shard = self.key_shard(key).lock();
        let out = f(&mut shard, now, &mut freed);
        drop(shard);
        self.memory.release(freed);
        out
    }

    /// [`Inner::with_key_shard`] for a write: logs the key as `f` left it,
    /// under the same lock.
    pub(crate) fn with_key_shard_logged<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(&mut KeyShard, u64, &mut usize) -> T,
    ) -> T {
        self.with_key_shard(key, |shard, now, freed| {
            let out = f(shard, now, freed);
            self.log_key(shard, key);
            out
        })
    }

    /// A deadline in Unix milliseconds.
    fn deadline(&self, when: Deadline) -> Result<u64, StoreError> {
        match when {
            Deadline::In(ttl) => self.deadline_after(ttl),
            Deadline::AtMs(ms) => Ok(ms),
        }
    }

    /// A write's TTL choice resolved: `None` to keep the key's, else the
    /// deadline to set (`Some(None)`: no TTL).
    fn resolve(&self, expiry: KeyExpiry) -> Result<Option<Option<u64>>, StoreError> {
        Ok(match expiry {
            KeyExpiry::Keep => None,
            KeyExpiry::Persist => Some(None),
            KeyExpiry::Set(when) => Some(Some(self.deadline(when)?)),
        })
    }

    /// Settles a write that reserved `reserved` bytes and used `used` of
    /// them: gives the rest back, and all of it on error.
    fn settle<T>(
        &self,
        reserved: usize,
        outcome: Result<(T, usize), StoreError>,
    ) -> Result<T, StoreError> {
        let used = outcome.as_ref().map_or(0, |(_, used)| *used);
        self.memory.release(reserved - used);
        outcome.map(|(out, _)| out)
    }
}

/// The string in an entry, or `WrongType`.
fn string_of(entry: &KeyEntry) -> Result<&[u8], StoreError> {
    entry.as_str().ok_or(StoreError::WrongType)
}

/// The set in an entry, or `WrongType`.
fn set_of(entry: &KeyEntry) -> Result<&SetValue, StoreError> {
    entry.as_set().ok_or(StoreError::WrongType)
}

fn set_of_mut(entry: &mut KeyEntry) -> Result<&mut SetValue, StoreError> {
    entry.as_set_mut().ok_or(StoreError::WrongType)
}
