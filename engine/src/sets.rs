//! Set-valued keys: SADD, SREM, SMEMBERS, SISMEMBER, SCARD. Redis session
//! libraries keep each user's session ids in one (the owner-index pattern
//! done by hand), so these follow Redis where it matters: a missing key is
//! an empty set, an emptied set is deleted, a string key is `WrongType`.

use sessiond_protocol::StoreError;
use sessiond_protocol::limits::check_key;

use crate::key_events::KeyEvent;
use crate::keys::{self, KeyEntry, SetValue, Value};
use crate::store::Store;

impl Store {
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
        let reserved = inner.reserve(most)?;
        let outcome = inner.with_key_shard(key, |shard, now, freed| {
            let before = match shard.live(key, now, freed) {
                Some(entry) => set_of(entry).map(|_| entry.footprint())?,
                None => 0,
            };
            let entry = shard.live_or_insert(key, now, freed, || Value::Set(SetValue::default()));
            let set = set_of_mut(entry)?;
            let added = members.iter().filter(|m| set.insert(m)).count();
            let used = entry.footprint() - before;
            // Members that were all there change nothing: nothing to log
            // (the log holds a set whole, so this spares a rewrite of it).
            if added > 0 {
                inner.log_key(shard, key);
                inner.key_events().emit(key, KeyEvent::Sadd);
            }
            Ok((added, used))
        });
        let added = outcome.map(|(added, used)| {
            reserved.settle(used);
            added
        });
        inner.acknowledge(added)
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
            if removed > 0 {
                inner.key_events().emit(key, KeyEvent::Srem);
            }
            if empty {
                *freed += shard.remove(key).map_or(0, |e| e.footprint());
                inner.key_events().emit(key, KeyEvent::Del);
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

/// The set in an entry, or `WrongType`.
fn set_of(entry: &KeyEntry) -> Result<&SetValue, StoreError> {
    entry.as_set().ok_or(StoreError::WrongType)
}

fn set_of_mut(entry: &mut KeyEntry) -> Result<&mut SetValue, StoreError> {
    entry.as_set_mut().ok_or(StoreError::WrongType)
}
