//! Hash-valued keys: HSET and its family, and the field TTLs of Redis 7.4
//! (HEXPIRE, HTTL, HPERSIST, HGETEX, HSETEX, HGETDEL), on [`HashValue`].
//!
//! Redis's rules where they matter: a missing key is an empty hash, a
//! hash whose last field goes (deleted or expired) is deleted, a key of
//! another type is `WrongType`. One difference: an expired field is never
//! counted or shown (Redis's HLEN counts fields it has not reclaimed
//! yet), because every operation reaps a hash's expired fields under the
//! shard lock before it looks (`KeyShard::live`).
//!
//! Writes follow `sets.rs`: memory is reserved for the most a write can
//! add before the lock, the key is logged as it stands after the write
//! under the same lock, and the reservation is settled to the real change.
//! Deadlines are absolute Unix milliseconds, resolved from the store's
//! time ([`Store::now_ms`]), which a replication layer pins to the
//! leader's stamp while it replays: a write replays identically anywhere.

use sessiond_protocol::StoreError;
use sessiond_protocol::decimal::Decimal;
use sessiond_protocol::limits::check_key;

use crate::glob::glob_match;
use crate::hash_numbers::{Rng, float_text, parse_float};
use crate::hash_value::{self, HashValue};
use crate::key_events::KeyEvent;
use crate::keys::{self, KeyEntry, KeyShard, Value};
use crate::keyspace::{Deadline, ExpireCondition, KeyExpiry, SetCondition};
use crate::store::Store;

/// Why a hash increment failed: the engine's errors, and the ones only
/// HINCRBY and HINCRBYFLOAT meet (Redis words them apart from INCR's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// What any write may meet (`WrongType`, memory, the disk).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// HINCRBY on a field whose value is no 64-bit decimal.
    #[error("hash value is not an integer")]
    NotAnInteger,
    /// HINCRBYFLOAT on a field whose value is no number.
    #[error("hash value is not a float")]
    NotAFloat,
    /// HINCRBY past the range of a signed 64-bit integer.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// HINCRBYFLOAT whose result is not finite.
    #[error("increment would produce NaN or Infinity")]
    NotFinite,
}

/// What a field-TTL change did to one field (HEXPIRE's reply codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldExpire {
    /// No such field (or key): -2.
    NoField,
    /// The NX, XX, GT or LT condition did not hold: 0.
    NotMet,
    /// The deadline is set: 1.
    Set,
    /// The deadline was already past, so the field is deleted: 2.
    Deleted,
}

/// What HPERSIST did to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldPersist {
    /// No such field (or key): -2.
    NoField,
    /// The field had no TTL: -1.
    NoTtl,
    /// The TTL is gone: 1.
    Persisted,
}

/// One field's TTL (HTTL and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTtl {
    /// No such field (or key).
    NoField,
    /// The field has no TTL.
    Persistent,
    /// The field dies at this Unix time in milliseconds.
    At(u64),
}

/// The options of [`Store::hash_set_with`] (HSETEX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSetOptions {
    /// `IfAbsent` (FNX): only if none of the fields exists; `IfPresent`
    /// (FXX): only if all of them do.
    pub condition: SetCondition,
    /// The fields' TTL afterwards: `Persist` drops it (HSET's rule),
    /// `Keep` keeps an existing field's (KEEPTTL), `Set` gives every
    /// field this deadline (one already past deletes them).
    pub expiry: KeyExpiry,
}

impl Default for HashSetOptions {
    fn default() -> Self {
        HashSetOptions {
            condition: SetCondition::Always,
            expiry: KeyExpiry::Persist,
        }
    }
}

/// Most bytes of fields and values one HRANDFIELD copies out: repeats
/// would otherwise let a small hash make a reply of any size.
pub(crate) const RANDOM_REPLY_MAX: usize = 64 << 20;

/// A field and its value, as hash reads return them.
pub type FieldValue = (Vec<u8>, Vec<u8>);

impl Store {
    /// Sets fields (HSET, HMSET), creating the hash if missing; an
    /// overwritten field loses its TTL. Returns how many fields were new.
    pub fn hash_set(&self, key: &[u8], pairs: &[(&[u8], &[u8])]) -> Result<usize, StoreError> {
        let created = self.set_fields(key, pairs, HashSetOptions::default())?;
        Ok(created.unwrap_or(0))
    }

    /// Sets `field` only if the hash has no such field (HSETNX).
    pub fn hash_set_if_absent(
        &self,
        key: &[u8],
        field: &[u8],
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let options = HashSetOptions {
            condition: SetCondition::IfAbsent,
            ..HashSetOptions::default()
        };
        Ok(self.set_fields(key, &[(field, value)], options)?.is_some())
    }

    /// Sets fields under a condition, with a TTL choice (HSETEX); says
    /// whether the condition held and the fields were written.
    pub fn hash_set_with(
        &self,
        key: &[u8],
        pairs: &[(&[u8], &[u8])],
        options: HashSetOptions,
    ) -> Result<bool, StoreError> {
        Ok(self.set_fields(key, pairs, options)?.is_some())
    }

    /// A field's value (HGET).
    pub fn hash_get(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_hash(key, None, |hash, _| hash.get(field).map(<[u8]>::to_vec))
    }

    /// Several fields' values, `None` for each missing one (HMGET).
    pub fn hash_get_many(
        &self,
        key: &[u8],
        fields: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let missing = vec![None; fields.len()];
        self.read_hash(key, missing, |hash, _| {
            fields
                .iter()
                .map(|f| hash.get(f).map(<[u8]>::to_vec))
                .collect()
        })
    }

    /// Every live field and value, in field order (HGETALL).
    pub fn hash_entries(&self, key: &[u8]) -> Result<Vec<FieldValue>, StoreError> {
        self.read_hash(key, Vec::new(), |hash, _| {
            hash.iter()
                .map(|(f, v, _)| (f.to_vec(), v.to_vec()))
                .collect()
        })
    }

    /// Every live field's name, in order (HKEYS).
    pub fn hash_fields(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read_hash(key, Vec::new(), |hash, _| {
            hash.iter().map(|(f, ..)| f.to_vec()).collect()
        })
    }

    /// Every live field's value, in field order (HVALS).
    pub fn hash_values(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.read_hash(key, Vec::new(), |hash, _| {
            hash.iter().map(|(_, v, _)| v.to_vec()).collect()
        })
    }

    /// How many live fields the hash has (HLEN): exact, whether or not
    /// the expiry cycle has reached the expired ones.
    pub fn hash_len(&self, key: &[u8]) -> Result<usize, StoreError> {
        self.read_hash(key, 0, |hash, _| hash.len())
    }

    /// Whether the hash has a live `field` (HEXISTS).
    pub fn hash_contains(&self, key: &[u8], field: &[u8]) -> Result<bool, StoreError> {
        self.read_hash(key, false, |hash, _| hash.get(field).is_some())
    }

    /// The length of a field's value, 0 if missing (HSTRLEN).
    pub fn hash_value_len(&self, key: &[u8], field: &[u8]) -> Result<usize, StoreError> {
        self.read_hash(key, 0, |hash, _| hash.get(field).map_or(0, <[u8]>::len))
    }

    /// Removes fields (HDEL); an emptied hash is deleted. Returns how
    /// many were there.
    pub fn hash_remove(&self, key: &[u8], fields: &[&[u8]]) -> Result<usize, StoreError> {
        self.write_hash(key, 0, false, 0, |hash, _, said| {
            let removed = fields.iter().filter(|f| hash.remove(f).is_some()).count();
            said.say_if(removed > 0, KeyEvent::Hdel);
            Ok(removed)
        })
    }

    /// Reads fields and deletes them (HGETDEL).
    pub fn hash_get_del(
        &self,
        key: &[u8],
        fields: &[&[u8]],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.write_hash(key, 0, false, vec![None; fields.len()], |hash, _, said| {
            let values: Vec<_> = fields
                .iter()
                .map(|f| hash.remove(f).map(Vec::from))
                .collect();
            said.say_if(values.iter().any(Option::is_some), KeyEvent::Hdel);
            Ok(values)
        })
    }

    /// Reads fields and changes their TTL (HGETEX): `Keep` leaves it,
    /// `Persist` removes it, a deadline already past deletes the field.
    pub fn hash_get_ex(
        &self,
        key: &[u8],
        fields: &[&[u8]],
        expiry: KeyExpiry,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let deadline = match expiry {
            KeyExpiry::Keep => return self.hash_get_many(key, fields),
            KeyExpiry::Persist => None,
            KeyExpiry::Set(when) => Some(self.inner.deadline(when)?),
        };
        let most = fields
            .iter()
            .map(|f| hash_value::deadline_footprint(f))
            .sum();
        self.write_hash(
            key,
            most,
            false,
            vec![None; fields.len()],
            |hash, now, said| {
                let mut changed = false;
                let values = fields.iter().map(|field| {
                    let value = hash.get(field).map(<[u8]>::to_vec)?;
                    match deadline {
                        Some(d) if d <= now => changed |= hash.remove(field).is_some(),
                        Some(_) => changed |= hash.set_deadline(field, deadline),
                        None => {
                            changed |= matches!(hash.deadline_of(field), Some(Some(_)));
                            hash.set_deadline(field, None);
                        }
                    }
                    Some(value)
                });
                let values = values.collect();
                let event = match deadline {
                    Some(d) if d <= now => KeyEvent::Hdel,
                    Some(_) => KeyEvent::Hexpire,
                    None => KeyEvent::Hpersist,
                };
                said.say_if(changed, event);
                Ok(values)
            },
        )
    }

    /// Adds `delta` to the integer in a field (HINCRBY); a missing field
    /// counts as 0, an existing one keeps its TTL.
    pub fn hash_incr(&self, key: &[u8], field: &[u8], delta: i64) -> Result<i64, HashError> {
        let most = hash_value::field_footprint(field, &[0; 20]);
        self.write_hash(key, most, true, 0, |hash, _, said| {
            let old = match hash.get(field) {
                Some(text) => Decimal::parse(text).ok_or(HashError::NotAnInteger)?,
                None => 0,
            };
            let new = old.checked_add(delta).ok_or(HashError::Overflow)?;
            hash.set(field, Decimal::of(new).as_bytes(), true);
            said.say(KeyEvent::Hincrby);
            Ok(new)
        })
    }

    /// Adds `delta` to the number in a field (HINCRBYFLOAT) and returns
    /// the new value as stored: decimal, without an exponent, at most 17
    /// digits after the point, as Redis writes it. Arithmetic is `f64`
    /// (Redis's is `long double`), so a long fraction may differ in its
    /// last digits.
    pub fn hash_incr_float(
        &self,
        key: &[u8],
        field: &[u8],
        delta: f64,
    ) -> Result<Vec<u8>, HashError> {
        let most = hash_value::field_footprint(field, &[0; 400]);
        self.write_hash(key, most, true, Vec::new(), |hash, _, said| {
            let old = match hash.get(field) {
                Some(text) => parse_float(text).ok_or(HashError::NotAFloat)?,
                None => 0.0,
            };
            let new = old + delta;
            if !new.is_finite() {
                return Err(HashError::NotFinite);
            }
            let text = float_text(new).into_bytes();
            hash.set(field, &text, true);
            said.say(KeyEvent::Hincrbyfloat);
            Ok(text)
        })
    }

    /// One step of a field scan (HSCAN): start at cursor 0 and pass each
    /// returned cursor back until it is 0 again. A hash of at most 128
    /// fields answers in one step (as Redis's small hashes do); a larger
    /// one in steps of about `count` fields, each field present for the
    /// whole scan returned exactly once. Fields not matching `pattern`
    /// are left out, so a step may return fewer than `count`, or none.
    pub fn hash_scan(
        &self,
        key: &[u8],
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<(u64, Vec<FieldValue>), StoreError> {
        self.inner.with_key_shard(key, |shard, now, freed| {
            let hasher = shard.hasher().clone();
            let Some(entry) = shard.live(key, now, freed) else {
                return Ok((0, Vec::new()));
            };
            let hash = hash_of(entry)?;
            let mut out = Vec::new();
            let next = hash.scan(
                cursor,
                count,
                |f| hasher.bytes(f),
                |f, v| {
                    if pattern.is_none_or(|p| glob_match(p, f)) {
                        out.push((f.to_vec(), v.to_vec()));
                    }
                },
            );
            Ok((next.unwrap_or(0), out))
        })
    }

    /// Random fields (HRANDFIELD with a count): up to `count` distinct
    /// ones for a positive count, exactly `-count` drawn with repeats for
    /// a negative one. The caller bounds a negative count: the reply is
    /// that long whatever the hash holds; and a draw whose copies would
    /// pass 64 MiB is refused as `TooLarge` before
    /// anything is copied.
    pub fn hash_random(&self, key: &[u8], count: i64) -> Result<Vec<FieldValue>, StoreError> {
        self.read_hash(key, Ok(Vec::new()), |hash, _| {
            let n = hash.len();
            if n == 0 || count == 0 {
                return Ok(Vec::new());
            }
            let mut rng = Rng::new();
            let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
            let ranks: Vec<usize> = match count > 0 {
                true if wanted >= n => (0..n).collect(),
                true => rng.distinct(wanted, n),
                false => (0..wanted).map(|_| rng.below(n)).collect(),
            };
            let picked = hash.at_ranks(&ranks);
            let len: usize = picked.iter().map(|(f, v)| f.len() + v.len()).sum();
            if len > RANDOM_REPLY_MAX {
                let max = RANDOM_REPLY_MAX;
                return Err(StoreError::TooLarge { len, max });
            }
            Ok(picked
                .into_iter()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect())
        })?
    }

    /// Gives fields a deadline where `condition` allows (HEXPIRE,
    /// HPEXPIRE, HEXPIREAT, HPEXPIREAT; a field without a TTL counts as
    /// one with an infinite TTL, as for keys). A deadline already past
    /// deletes the field. One outcome per field, in order.
    pub fn hash_expire(
        &self,
        key: &[u8],
        fields: &[&[u8]],
        when: Deadline,
        condition: ExpireCondition,
    ) -> Result<Vec<FieldExpire>, StoreError> {
        let deadline = self.inner.deadline(when)?;
        let most = fields
            .iter()
            .map(|f| hash_value::deadline_footprint(f))
            .sum();
        let missing = vec![FieldExpire::NoField; fields.len()];
        self.write_hash(key, most, false, missing, |hash, now, said| {
            let outcomes = fields.iter().map(|field| match hash.deadline_of(field) {
                None => FieldExpire::NoField,
                Some(current) if !condition.allows(current, Some(deadline)) => FieldExpire::NotMet,
                Some(_) if deadline <= now => {
                    hash.remove(field);
                    FieldExpire::Deleted
                }
                Some(_) => {
                    hash.set_deadline(field, Some(deadline));
                    FieldExpire::Set
                }
            });
            let outcomes: Vec<FieldExpire> = outcomes.collect();
            // One event, as Redis sends: `hdel` if any field went.
            if outcomes.contains(&FieldExpire::Deleted) {
                said.say(KeyEvent::Hdel);
            } else {
                said.say_if(outcomes.contains(&FieldExpire::Set), KeyEvent::Hexpire);
            }
            Ok(outcomes)
        })
    }

    /// Removes fields' TTLs (HPERSIST).
    pub fn hash_persist(
        &self,
        key: &[u8],
        fields: &[&[u8]],
    ) -> Result<Vec<FieldPersist>, StoreError> {
        let missing = vec![FieldPersist::NoField; fields.len()];
        self.write_hash(key, 0, false, missing, |hash, _, said| {
            let outcomes = fields.iter().map(|field| match hash.deadline_of(field) {
                None => FieldPersist::NoField,
                Some(None) => FieldPersist::NoTtl,
                Some(Some(_)) => {
                    hash.set_deadline(field, None);
                    FieldPersist::Persisted
                }
            });
            let outcomes: Vec<FieldPersist> = outcomes.collect();
            said.say_if(
                outcomes.contains(&FieldPersist::Persisted),
                KeyEvent::Hpersist,
            );
            Ok(outcomes)
        })
    }

    /// Fields' TTLs (HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME), with the
    /// store's time they were read at, against which a caller counts
    /// what is left.
    pub fn hash_ttl(
        &self,
        key: &[u8],
        fields: &[&[u8]],
    ) -> Result<(Vec<FieldTtl>, u64), StoreError> {
        let now = self.inner.now_ms();
        let ttls = self.read_hash(key, vec![FieldTtl::NoField; fields.len()], |hash, _| {
            let ttl = |field: &&[u8]| match hash.deadline_of(field) {
                None => FieldTtl::NoField,
                Some(None) => FieldTtl::Persistent,
                Some(Some(at)) => FieldTtl::At(at),
            };
            fields.iter().map(ttl).collect()
        })?;
        Ok((ttls, now))
    }

    /// The general set of fields: `None` if the condition did not hold,
    /// else how many fields were new.
    fn set_fields(
        &self,
        key: &[u8],
        pairs: &[(&[u8], &[u8])],
        options: HashSetOptions,
    ) -> Result<Option<usize>, StoreError> {
        let inner = &*self.inner;
        check_key(key)?;
        for (field, value) in pairs {
            inner.check_value(field.len())?;
            inner.check_value(value.len())?;
        }
        let (keep_ttl, deadline) = match options.expiry {
            KeyExpiry::Persist => (false, None),
            KeyExpiry::Keep => (true, None),
            KeyExpiry::Set(when) => (true, Some(inner.deadline(when)?)),
        };
        let most = pairs
            .iter()
            .map(|(f, v)| {
                let ttl = deadline.map_or(0, |_| hash_value::deadline_footprint(f));
                hash_value::field_footprint(f, v) + ttl
            })
            .sum();
        let create = options.condition != SetCondition::IfPresent;
        self.write_hash(key, most, create, None, |hash, now, said| {
            let present = |(f, _): &&(&[u8], &[u8])| hash.get(f).is_some();
            let allowed = match options.condition {
                SetCondition::Always => true,
                SetCondition::IfAbsent => !pairs.iter().any(|p| present(&p)),
                SetCondition::IfPresent => pairs.iter().all(|p| present(&p)),
            };
            if !allowed {
                return Ok(None);
            }
            said.say(KeyEvent::Hset);
            if let Some(d) = deadline {
                said.say(if d <= now {
                    KeyEvent::Hdel
                } else {
                    KeyEvent::Hexpire
                });
            }
            let mut created = 0;
            for (field, value) in pairs {
                created += usize::from(hash.set(field, value, keep_ttl));
                if let Some(d) = deadline {
                    match d <= now {
                        true => drop(hash.remove(field)),
                        false => drop(hash.set_deadline(field, Some(d))),
                    }
                }
            }
            Ok(Some(created))
        })
    }

    /// Reads the hash in `key` under its shard's lock, its expired fields
    /// reaped first: `missing` if there is none, `WrongType` if the key
    /// holds another type.
    fn read_hash<T>(
        &self,
        key: &[u8],
        missing: T,
        f: impl FnOnce(&HashValue, u64) -> T,
    ) -> Result<T, StoreError> {
        self.inner
            .with_key_shard(key, |shard, now, freed| match shard.live(key, now, freed) {
                Some(entry) => hash_of(entry).map(|hash| f(hash, now)),
                None => Ok(missing),
            })
    }

    /// A write to the hash in `key`, logged, with `most` bytes reserved
    /// for what it may add (and a new key's own, when `create`): `f` runs
    /// on the live hash (a new empty one if missing and `create`; else
    /// `missing` is the answer). Afterwards fields it gave a past deadline
    /// are gone, an emptied hash is deleted, the key is rescheduled at its
    /// earliest field deadline and the memory meter follows the change.
    fn write_hash<T, E: From<StoreError>>(
        &self,
        key: &[u8],
        most: usize,
        create: bool,
        missing: T,
        f: impl FnOnce(&mut HashValue, u64, &mut Said) -> Result<T, E>,
    ) -> Result<T, E> {
        let inner = &*self.inner;
        inner.writable()?;
        let most = most + if create { keys::footprint(key, &[]) } else { 0 };
        let reserved = inner.reserve(most)?;
        let outcome = inner.with_key_shard_logged(key, |shard, now, freed| {
            let before: usize = match shard.live(key, now, freed) {
                Some(entry) => hash_of(entry).map(|_| entry.footprint())?,
                None if create => 0,
                None => return Ok((missing, 0)),
            };
            let entry = shard.live_or_insert(key, now, freed, || Value::Hash(HashValue::default()));
            let hash = hash_of_mut(entry)?;
            let mut said = Said::default();
            let out = f(hash, now, &mut said);
            hash.reap(now);
            let kept = (hash.len() > 0).then(|| entry.footprint());
            settle_key(shard, key, kept);
            // What the command announced, then `del` for a hash it
            // emptied, as Redis sends them; a write that changed nothing
            // (HDEL of a missing field) announces nothing.
            if out.is_ok() {
                let events = inner.key_events();
                for event in said.0.into_iter().flatten() {
                    events.emit(key, event);
                }
                if before > 0 && kept.is_none() {
                    events.emit(key, KeyEvent::Del);
                }
            }
            let after = kept.unwrap_or(0);
            // A hash key this write made comes back empty too (a refused
            // condition, a failed increment, a past deadline).
            *freed += before.saturating_sub(after);
            out.map(|out| (out, after.saturating_sub(before)))
        });
        let out = outcome.map(|(out, used)| {
            reserved.settle(used);
            out
        });
        match out {
            Ok(out) => inner.acknowledge(Ok(out)).map_err(E::from),
            Err(e) => Err(e),
        }
    }
}

/// What a hash write announces to the key-change hook (`key_events.rs`),
/// in order: at most two events (HSETEX: `hset`, then `hexpire`), to
/// which [`Store::write_hash`] adds `del` for a hash it emptied.
#[derive(Default)]
struct Said([Option<KeyEvent>; 2]);

impl Said {
    fn say(&mut self, event: KeyEvent) {
        if let Some(free) = self.0.iter_mut().find(|slot| slot.is_none()) {
            *free = Some(event);
        }
    }

    fn say_if(&mut self, changed: bool, event: KeyEvent) {
        if changed {
            self.say(event);
        }
    }
}

/// Ends a write on a hash key: removes it if it is empty now (`kept`
/// `None`), else gives it the wheel entry its earliest deadline needs.
fn settle_key(shard: &mut KeyShard, key: &[u8], kept: Option<usize>) {
    match kept {
        Some(_) => shard.reschedule(key),
        None => drop(shard.remove(key)),
    }
}

/// The hash in an entry, or `WrongType`.
fn hash_of(entry: &KeyEntry) -> Result<&HashValue, StoreError> {
    entry.as_hash().ok_or(StoreError::WrongType)
}

fn hash_of_mut(entry: &mut KeyEntry) -> Result<&mut HashValue, StoreError> {
    entry.as_hash_mut().ok_or(StoreError::WrongType)
}
