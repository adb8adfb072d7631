//! The operations on plain keys and their TTLs: SET in all its forms,
//! GET, GETDEL and GETEX, DEL, EXPIRE in all its forms, PERSIST, TTL,
//! INCR, RENAME, EXISTS and TYPE. The simple forms (`set_key`,
//! `expire_key`) are the general ones (`set_key_with`, `expire_with`) with
//! fixed options, so each rule is written once.
//!
//! Each holds at most one key-shard lock at a time (RENAME goes through
//! `multi_key.rs`, which locks both names' shards); memory is reserved
//! before the lock (reserving may evict, which locks session shards) and
//! settled to the exact footprint after it, and what a write replaced or
//! found expired is freed once the lock is let go (`with_key_shard`).

use std::time::Duration;

use sessiond_protocol::StoreError;

use sessiond_protocol::KeyTtl;
use sessiond_protocol::decimal::Decimal;
use sessiond_protocol::limits::check_key;

use crate::key_events::KeyEvent;
use crate::keys::{self, KeyEntry, KeyShard, Value, ValueRef};
use crate::persist::Entry;
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
    /// Whether a key whose deadline is `current` may take `new` (`None`
    /// for either: no TTL, which counts as an infinite one).
    pub(crate) fn allows(self, current: Option<u64>, new: Option<u64>) -> bool {
        match (self, current, new) {
            (ExpireCondition::Always, _, _) => true,
            (ExpireCondition::IfNoTtl, current, _) => current.is_none(),
            (ExpireCondition::IfTtl, current, _) => current.is_some(),
            (ExpireCondition::IfLater, Some(c), Some(n)) => n > c,
            (ExpireCondition::IfLater, current, None) => current.is_some(),
            (ExpireCondition::IfLater, None, Some(_)) => false,
            (ExpireCondition::IfEarlier, Some(c), Some(n)) => n < c,
            (ExpireCondition::IfEarlier, None, Some(_)) => true,
            (ExpireCondition::IfEarlier, _, None) => false,
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
    /// A hash of fields with values (and optional field TTLs).
    Hash,
}

impl KeyType {
    /// Redis's name for it (TYPE, SCAN TYPE).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Set => "set",
            KeyType::Hash => "hash",
        }
    }

    /// The kind of value in `entry`.
    pub(crate) fn of(entry: &KeyEntry) -> KeyType {
        match entry.value() {
            ValueRef::Str(_) => KeyType::String,
            ValueRef::Set(_) => KeyType::Set,
            ValueRef::Hash(_) => KeyType::Hash,
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
        let reserved = inner.reserve(bytes)?;
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
                if exists {
                    inner.key_events().emit(key, KeyEvent::Del);
                }
                return Ok((SetOutcome { written: true, old }, 0));
            }
            *freed += shard.set(key, Value::Str(value), deadline);
            inner.key_events().emit(key, KeyEvent::Set);
            if matches!(expiry, Some(Some(_))) {
                inner.key_events().emit(key, KeyEvent::Expire);
            }
            Ok((SetOutcome { written: true, old }, bytes))
        });
        let outcome = outcome.map(|(outcome, used)| {
            reserved.settle(used);
            outcome
        });
        inner.acknowledge(outcome)
    }

    /// Sets a plain key, with a time to live or none: [`Store::set_key_with`]
    /// with the default options.
    pub fn set_key(
        &self,
        key: &[u8],
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let expiry = match ttl {
            Some(ttl) => KeyExpiry::Set(Deadline::In(ttl)),
            None => KeyExpiry::Persist,
        };
        let options = SetOptions {
            expiry,
            ..SetOptions::default()
        };
        self.set_key_with(key, value, options).map(drop)
    }

    /// A plain key's value; `None` also for a key holding a set, which
    /// [`Store::get_string`] tells apart.
    pub fn get_key(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get_string(key).ok().flatten()
    }

    /// Starts bringing `key`'s record into the CPU's cache for a read that
    /// comes soon: a server calls it for each read of a pipelined batch
    /// before it answers the first, so that the batch waits for memory
    /// once (docs/benchmarks.md, "Prefetching a batch"). It changes
    /// nothing, and a key that is not there costs a probe.
    pub fn prefetch_key(&self, key: &[u8]) {
        self.inner.key_shard(key).lock().prefetch(key);
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
            let had_ttl = entry.deadline().is_some();
            let event = match expiry {
                None => None,
                Some(Some(deadline)) if deadline <= now => {
                    *freed += shard.remove(key).map_or(0, |e| e.footprint());
                    Some(KeyEvent::Del)
                }
                Some(deadline) => {
                    shard.set_deadline(key, deadline);
                    match deadline {
                        Some(_) => Some(KeyEvent::Expire),
                        None => had_ttl.then_some(KeyEvent::Persist),
                    }
                }
            };
            if let Some(event) = event {
                inner.key_events().emit(key, event);
            }
            Ok(Some(value))
        });
        inner.acknowledge(out)
    }

    /// Deletes a plain key of any type; says whether a live one was there.
    /// Refused while the data directory refuses writes.
    pub fn delete_key(&self, key: &[u8]) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let live = inner.with_key_shard(key, |shard, now, freed| {
            let entry = shard.remove(key)?;
            inner.log(|| Entry::EndKey { key });
            *freed += entry.footprint();
            let live = !entry.is_expired(now);
            let event = if live {
                KeyEvent::Del
            } else {
                KeyEvent::Expired
            };
            inner.key_events().emit(key, event);
            Some(live)
        });
        match live {
            Some(live) => inner.acknowledge(Ok(live)),
            None => Ok(false),
        }
    }

    /// Removes a key's TTL (PERSIST); true only if it had one. Refused
    /// while the data directory refuses writes.
    pub fn persist(&self, key: &[u8]) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let had_ttl = inner.change_deadline(key, None, ExpireCondition::IfTtl);
        inner.acknowledge(Ok(had_ttl))
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
        let applied = inner.change_deadline(key, Some(deadline), condition);
        inner.acknowledge(Ok(applied))
    }

    /// Sets (`Some`) or removes (`None`) a plain key's time to live; a zero
    /// TTL deletes the key. Says whether the key exists.
    pub fn expire_key(&self, key: &[u8], ttl: Option<Duration>) -> Result<bool, StoreError> {
        match ttl {
            Some(Duration::ZERO) => {
                self.expire_with(key, Deadline::AtMs(0), ExpireCondition::Always)
            }
            Some(ttl) => self.expire_with(key, Deadline::In(ttl), ExpireCondition::Always),
            None => {
                let inner = &*self.inner;
                inner.writable()?;
                let exists = inner.change_deadline(key, None, ExpireCondition::Always);
                inner.acknowledge(Ok(exists))
            }
        }
    }

    /// A plain key's time to live.
    pub fn ttl(&self, key: &[u8]) -> KeyTtl {
        let now = self.inner.now_ms();
        self.inner
            .with_live_key(key, |entry| match entry.deadline() {
                None => KeyTtl::Persistent,
                Some(d) => KeyTtl::ExpiresIn(Duration::from_millis(d - now)),
            })
            .unwrap_or(KeyTtl::Missing)
    }

    /// Adds `delta` to the integer in a plain key (a missing key counts as
    /// 0 and is created without a TTL; an existing TTL is kept), and
    /// returns the result. The value is stored as decimal text.
    pub fn incr(&self, key: &[u8], delta: i64) -> Result<i64, StoreError> {
        self.add_to(key, delta, None)
    }

    /// INCRBY that also gives the key a time to live if it has none (a new
    /// counter, or one left without a TTL): the attempt counter of a rate
    /// limiter, whose window starts with its first attempt. One change and
    /// one log record, so a crash can never leave the counter without its
    /// TTL, as separate `incr` and `expire_key` calls could.
    pub fn incr_with_ttl(&self, key: &[u8], delta: i64, ttl: Duration) -> Result<i64, StoreError> {
        if ttl.is_zero() {
            return Err(StoreError::BadTimeout(
                "a counter's TTL must be positive".into(),
            ));
        }
        self.add_to(key, delta, Some(ttl))
    }

    /// INCRBY, and with `ttl` the TTL a key without one gets.
    fn add_to(&self, key: &[u8], delta: i64, ttl: Option<Duration>) -> Result<i64, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(key)?;
        // The longest i64 is 20 characters: reserve for that, settle after.
        let reserved = inner.reserve(keys::footprint(key, &[0; 20]))?;
        let outcome = inner.with_key_shard(key, |shard, now, freed| {
            let deadline = ttl
                .map(|ttl| now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)));
            let outcome = match shard.live(key, now, freed) {
                Some(entry) => string_of(entry)
                    .and_then(|text| Decimal::parse(text).ok_or(StoreError::NotAnInteger))
                    .and_then(|n| n.checked_add(delta).ok_or(StoreError::Overflow))
                    .map(|n| {
                        *freed += entry.footprint();
                        entry.replace_str(Decimal::of(n).as_bytes());
                        (n, entry.footprint(), entry.deadline().is_none())
                    })
                    .map(|(n, used, without_ttl)| {
                        if without_ttl && deadline.is_some() {
                            shard.set_deadline(key, deadline);
                        }
                        (n, used)
                    }),
                None => {
                    let text = Decimal::of(delta);
                    *freed += shard.set(key, Value::Str(text.as_bytes()), deadline);
                    Ok((delta, keys::footprint(key, text.as_bytes())))
                }
            };
            // Logged only if it changed: a refused INCR writes nothing.
            if outcome.is_ok() {
                inner.log_key(shard, key);
                inner.key_events().emit(key, KeyEvent::Incrby);
            }
            outcome
        });
        let n = outcome.map(|(n, used)| {
            reserved.settle(used);
            n
        });
        inner.acknowledge(n)
    }

    /// Renames a key, keeping its value and TTL and replacing whatever
    /// `to` held (RENAME). `NotFound` if `from` does not exist. Atomic:
    /// see [`Store::rename_with`].
    pub fn rename(&self, from: &[u8], to: &[u8]) -> Result<(), StoreError> {
        self.rename_with(from, to, false).map(drop)
    }
}

impl Inner {
    /// Runs `f` on a key's entry if it is live, under the shard's lock; an
    /// expired entry found on the way is removed and freed.
    pub(crate) fn with_live_key<T>(&self, key: &[u8], f: impl FnOnce(&KeyEntry) -> T) -> Option<T> {
        self.with_key_shard(key, |shard, now, freed| {
            shard.live(key, now, freed).map(|e| f(e))
        })
    }

    /// Locks `key`'s shard and runs `f` with the time; bytes `f` adds to
    /// `freed` (expired entries found, replaced or removed values) are
    /// freed after the lock is let go.
    pub(crate) fn with_key_shard<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(&mut KeyShard, u64, &mut usize) -> T,
    ) -> T {
        let (now, mut freed) = (self.now_ms(), 0);
        let mut shard = self.key_shard(key).lock();
        let out = f(&mut shard, now, &mut freed);
        drop(shard);
        self.memory().free(freed);
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

    /// Gives a live key the deadline `deadline` (`None`: no TTL) if
    /// `condition` allows; a deadline already past deletes the key. Says
    /// whether the key was there and the condition held. EXPIRE in every
    /// form, PERSIST, and `expire_key` are this with their arguments.
    fn change_deadline(
        &self,
        key: &[u8],
        deadline: Option<u64>,
        condition: ExpireCondition,
    ) -> bool {
        self.with_key_shard_logged(key, |shard, now, freed| {
            let Some(entry) = shard.live(key, now, freed) else {
                return false;
            };
            let had_ttl = entry.deadline().is_some();
            if !condition.allows(entry.deadline(), deadline) {
                return false;
            }
            let event = match deadline {
                Some(d) if d <= now => {
                    *freed += shard.remove(key).map_or(0, |e| e.footprint());
                    Some(KeyEvent::Del)
                }
                _ => {
                    shard.set_deadline(key, deadline);
                    match deadline {
                        Some(_) => Some(KeyEvent::Expire),
                        None => had_ttl.then_some(KeyEvent::Persist),
                    }
                }
            };
            if let Some(event) = event {
                self.key_events().emit(key, event);
            }
            true
        })
    }

    /// A deadline in Unix milliseconds.
    pub(crate) fn deadline(&self, when: Deadline) -> Result<u64, StoreError> {
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
}

/// The string in an entry, or `WrongType`.
fn string_of(entry: &KeyEntry) -> Result<&[u8], StoreError> {
    entry.as_str().ok_or(StoreError::WrongType)
}
