//! The rest of Redis's string commands: APPEND, STRLEN, GETRANGE,
//! SETRANGE, INCRBYFLOAT, and MSET, MSETNX and MGET, which Redis makes
//! atomic. Like `keyspace.rs`, each reserves memory before its lock, holds
//! one key-shard lock (the multi-key ones: every shard their keys live in,
//! `multi_key.rs`), logs the key as it left it under that lock, and frees
//! what it replaced after.

use std::collections::HashMap;

use sessiond_protocol::StoreError;
use sessiond_protocol::limits::check_key;

use crate::key_events::KeyEvent;
use crate::keys::{self, Value};
use crate::long_double::LongDouble;
use crate::store::Store;

/// Why INCRBYFLOAT failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FloatError {
    /// The key, the store or the memory limit refused (`WrongType`, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The value or the increment is not a float as Redis reads one.
    #[error("value is not a valid float")]
    NotAFloat,
    /// The sum is infinite or not a number.
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
}

/// Bytes INCRBYFLOAT reserves for its result: Redis's longest float text.
const FLOAT_TEXT: usize = 5 * 1024;

impl Store {
    /// Appends `suffix` to the string in `key`, creating it (without a
    /// TTL) if missing (APPEND); the new length. The TTL is kept.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize, StoreError> {
        self.rewrite_string(key, suffix.len(), KeyEvent::Append, |old| {
            let old = old.unwrap_or_default();
            let mut value = Vec::with_capacity(old.len() + suffix.len());
            value.extend_from_slice(old);
            value.extend_from_slice(suffix);
            let len = value.len();
            Ok((Some(value), len))
        })
    }

    /// The length of the string in `key`, 0 if missing (STRLEN).
    pub fn string_len(&self, key: &[u8]) -> Result<usize, StoreError> {
        Ok(self.get_string(key)?.map_or(0, |v| v.len()))
    }

    /// Bytes `start` to `end` of the string in `key`, both inclusive,
    /// negative ones counting from the end, clamped as Redis's GETRANGE
    /// clamps them; empty for a missing key.
    pub fn get_range(&self, key: &[u8], start: i64, end: i64) -> Result<Vec<u8>, StoreError> {
        let range = |value: &[u8]| -> Vec<u8> {
            let len = value.len() as i64;
            if start < 0 && end < 0 && start > end {
                return Vec::new();
            }
            let from = if start < 0 { len + start } else { start }.max(0);
            let to = if end < 0 { len + end } else { end }.max(0).min(len - 1);
            if from > to || len == 0 {
                return Vec::new();
            }
            value[from as usize..=to as usize].to_vec()
        };
        self.inner
            .with_live_key(key, |entry| entry.as_str().map(range))
            .map_or(Ok(Vec::new()), |v| v.ok_or(StoreError::WrongType))
    }

    /// Overwrites the string in `key` from byte `offset` with `bytes`,
    /// padding with zero bytes if it was shorter (SETRANGE); the new
    /// length. A missing key is created unless `bytes` is empty, in which
    /// case nothing changes (Redis answers the length then, 0 if missing).
    pub fn set_range(&self, key: &[u8], offset: usize, bytes: &[u8]) -> Result<usize, StoreError> {
        let end = offset.saturating_add(bytes.len());
        if !bytes.is_empty() {
            self.inner.check_value(end)?;
        }
        let grow = if bytes.is_empty() { 0 } else { end };
        self.rewrite_string(key, grow, KeyEvent::Setrange, |old| {
            if bytes.is_empty() {
                return Ok((None, old.map_or(0, <[u8]>::len)));
            }
            let old = old.unwrap_or_default();
            let mut value = old.to_vec();
            if value.len() < end {
                value.resize(end, 0);
            }
            value[offset..end].copy_from_slice(bytes);
            let len = value.len();
            Ok((Some(value), len))
        })
    }

    /// Adds `increment` to the float in `key` (a missing key is 0) as
    /// Redis's INCRBYFLOAT does, in 80-bit long double arithmetic, and
    /// stores and returns the sum as Redis prints it (`long_double.rs`).
    /// The TTL is kept.
    pub fn incr_by_float(&self, key: &[u8], increment: &[u8]) -> Result<Vec<u8>, FloatError> {
        self.rewrite_string(key, FLOAT_TEXT, KeyEvent::Incrbyfloat, |old| {
            let value = match old {
                Some(text) => LongDouble::parse(text).ok_or(FloatError::NotAFloat)?,
                None => LongDouble::parse(b"0").expect("0 is a float"),
            };
            let increment = LongDouble::parse(increment).ok_or(FloatError::NotAFloat)?;
            let sum = value
                .add(increment)
                .filter(|sum| !sum.is_infinite())
                .ok_or(FloatError::NanOrInfinity)?;
            let text = sum.to_human().into_bytes();
            Ok((Some(text.clone()), text))
        })
    }

    /// Sets every pair's key to its value (MSET), all at once: no other
    /// client sees some set and not the others, and a crash keeps all or
    /// none. A key's TTL goes, and a key of another type is replaced, as
    /// SET does. A key named twice takes its last value, as in Redis.
    pub fn set_many(&self, pairs: &[(&[u8], &[u8])]) -> Result<(), StoreError> {
        self.write_many(pairs, false).map(|_| ())
    }

    /// Sets every pair's key to its value if none of the keys exists
    /// (MSETNX), all at once, as [`Store::set_many`]. Says whether it
    /// wrote.
    pub fn set_many_if_absent(&self, pairs: &[(&[u8], &[u8])]) -> Result<bool, StoreError> {
        self.write_many(pairs, true)
    }

    /// The string values of `keys` (MGET), read at one instant: every
    /// key's shard is locked before any is read, so a [`Store::set_many`]
    /// is seen whole or not at all. A missing key, or one of another
    /// type, is `None`.
    pub fn get_many(&self, keys: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        self.inner.with_key_shards(keys, |locked, now, freed| {
            keys.iter()
                .map(|key| {
                    let entry = locked.shard(key).live(key, now, freed)?;
                    entry.as_str().map(<[u8]>::to_vec)
                })
                .collect()
        })
    }

    /// MSET and MSETNX: writes every pair unless `only_if_absent` and a
    /// key exists; says whether it wrote.
    fn write_many(
        &self,
        pairs: &[(&[u8], &[u8])],
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        for (key, value) in pairs {
            check_key(key)?;
            inner.check_value(value.len())?;
        }
        // The last value of each key, in the order keys first appear (a
        // map, so that many pairs cost linear time).
        let mut last: Vec<(&[u8], &[u8])> = Vec::with_capacity(pairs.len());
        let mut at: HashMap<&[u8], usize> = HashMap::with_capacity(pairs.len());
        for &(key, value) in pairs {
            match at.get(key) {
                Some(&i) => last[i].1 = value,
                None => {
                    at.insert(key, last.len());
                    last.push((key, value));
                }
            }
        }
        let most = last.iter().map(|(k, v)| keys::footprint(k, v)).sum();
        let reserved = inner.reserve(most)?;
        let keys: Vec<&[u8]> = last.iter().map(|(k, _)| *k).collect();
        let written = inner.with_key_shards(&keys, |locked, now, freed| {
            // Every key is looked at, so that an expired one is reaped
            // (and announced) as SET would before replacing it.
            let mut any_live = false;
            for key in &keys {
                any_live |= locked.shard(key).live(key, now, freed).is_some();
            }
            if only_if_absent && any_live {
                return false;
            }
            for (key, value) in &last {
                *freed += locked.shard(key).set(key, Value::Str(value), None);
            }
            // One event per pair, in the order given, a repeated key
            // too: Redis announces each pair as it sets it.
            for (key, _) in pairs {
                inner.key_events().emit(key, KeyEvent::Set);
            }
            locked.log(&keys);
            true
        });
        reserved.settle(if written { most } else { 0 });
        inner.acknowledge(Ok(written))
    }

    /// Rewrites a string key by `f`, announced as `event`, which sees its
    /// value (`None` if missing) and returns the new value (`None`: leave
    /// the key as it is) and the answer. `grow` bytes (and a new key's overhead) are
    /// reserved first; a key holding a set is `WrongType`.
    fn rewrite_string<T, E: From<StoreError>>(
        &self,
        key: &[u8],
        grow: usize,
        event: KeyEvent,
        f: impl FnOnce(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T), E>,
    ) -> Result<T, E> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(key)?;
        let reserved = inner.reserve(keys::footprint(key, &[]).saturating_add(grow))?;
        let outcome = inner.with_key_shard(key, |shard, now, freed| {
            let old = match shard.live(key, now, freed) {
                Some(entry) => Some(entry.as_str().ok_or(StoreError::WrongType)?.to_vec()),
                None => None,
            };
            let (new, answer) = f(old.as_deref())?;
            let Some(new) = new else {
                return Ok((answer, 0));
            };
            inner.check_value(new.len())?;
            let used = match shard.live(key, now, freed) {
                Some(entry) => {
                    *freed += entry.footprint();
                    entry.replace_str(&new);
                    entry.footprint()
                }
                None => {
                    shard.set(key, Value::Str(&new), None);
                    keys::footprint(key, &new)
                }
            };
            inner.log_key(shard, key);
            inner.key_events().emit(key, event);
            Ok((answer, used))
        });
        let answer = outcome.map(|(answer, used)| {
            reserved.settle(used);
            answer
        });
        match answer {
            Ok(answer) => inner.acknowledge(Ok(answer)).map_err(E::from),
            Err(e) => Err(e),
        }
    }
}
