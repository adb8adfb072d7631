//! Commands on several keys at once that Redis makes atomic (MSETNX,
//! RENAMENX, COPY, SMOVE, the set STORE forms): every shard they touch is
//! locked before any is read, in ascending shard index, so no other
//! client sees half of the change and two such commands never deadlock.
//! This is the one place that holds more than one key-shard lock (see the
//! lock order in ARCHITECTURE.md); a key-shard lock is still never held
//! with a lock of another kind, and the journal's lock is still taken
//! last, inside.

use parking_lot::MutexGuard;

use crate::keys::KeyShard;
use crate::persist::{self, Entry};
use crate::store::Inner;

/// The locked shards of one multi-key command.
pub(crate) struct Locked<'a> {
    inner: &'a Inner,
    /// Shard index and guard, sorted by index.
    guards: Vec<(usize, MutexGuard<'a, KeyShard>)>,
}

impl Locked<'_> {
    /// The shard of `key`, which must be one of the keys locked.
    pub(crate) fn shard(&mut self, key: &[u8]) -> &mut KeyShard {
        let index = self.inner.key_shard_index(key);
        let at = self
            .guards
            .binary_search_by_key(&index, |(i, _)| *i)
            .expect("the key's shard was locked");
        &mut self.guards[at].1
    }

    /// The shard of `key`, to read.
    pub(crate) fn shard_ref(&self, key: &[u8]) -> &KeyShard {
        let index = self.inner.key_shard_index(key);
        let at = self
            .guards
            .binary_search_by_key(&index, |(i, _)| *i)
            .expect("the key's shard was locked");
        &self.guards[at].1
    }

    /// Logs each of `keys` as it now is (or that it is gone), together:
    /// nothing else comes between the records, and they are written in
    /// one go (see `Journal::append_all`). The caller tells the
    /// key-change observer itself, with the events its command names.
    pub(crate) fn log(&mut self, keys: &[&[u8]]) {
        if !self.inner.has_journal() {
            return;
        }
        let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
        for key in keys {
            let mut body = Vec::new();
            match self.shard(key).get(key) {
                Some(entry) => persist::with_key_entry(entry, |record| record.encode(&mut body)),
                None => Entry::EndKey { key }.encode(&mut body),
            }
            bodies.push(body);
        }
        self.inner.log_encoded(&bodies);
    }
}

impl Inner {
    /// Locks the shards of every key in `keys` (each once, in ascending
    /// index) and runs `f` with them and the time; bytes `f` adds to
    /// `freed` are freed once the locks are let go.
    pub(crate) fn with_key_shards<T>(
        &self,
        keys: &[&[u8]],
        f: impl FnOnce(&mut Locked<'_>, u64, &mut usize) -> T,
    ) -> T {
        let mut indices: Vec<usize> = keys.iter().map(|k| self.key_shard_index(k)).collect();
        indices.sort_unstable();
        indices.dedup();
        let (now, mut freed) = (self.now_ms(), 0);
        let guards = indices
            .into_iter()
            .map(|i| (i, self.key_shards()[i].lock()))
            .collect();
        let mut locked = Locked {
            inner: self,
            guards,
        };
        let out = f(&mut locked, now, &mut freed);
        drop(locked);
        self.memory().free(freed);
        out
    }
}
