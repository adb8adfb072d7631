//! WATCH: which connections watch which keys, and marking them when a key
//! changes, whoever changed it and however.
//!
//! The registry hears of key changes from the server's key hook
//! (`key_hook.rs`, over `engine/src/key_events.rs`): every write of the
//! key space, the expiry of a key (by the cycle or by a
//! read that finds it past its deadline) and FLUSHALL call it with the
//! key. A connection watching that key is marked dirty, and its EXEC
//! answers the null array. The registry wants the store's events only
//! while some connection watches a key, so a server nobody uses WATCH (or
//! notifications) on pays one relaxed load per write.
//!
//! Redis 7's rules, kept here: a key that was already past its deadline
//! when it was watched does not count as changed when it is then removed
//! for it (no logical change: it was gone and is gone), nor when FLUSHALL
//! removes it; EXEC counts a watched key whose deadline has passed since
//! as changed, even if nothing has removed it yet (it reads each watched
//! key first, which removes it and marks the connection).
//!
//! The registry's lock is a leaf: it is taken inside a key shard's lock
//! (the observer is called there) and nothing is locked inside it, apart
//! from the key hook's demand lock (`key_hook.rs`), a leaf.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use sessiond::{KeyEvent, Store};

use crate::key_hook::{Demand, Want};

/// Every watched key and its watchers.
pub(crate) struct Watches {
    keys: Mutex<HashMap<Box<[u8]>, Vec<Watcher>>>,
    /// Asks for the store's events with the first watched key and lets
    /// them go with the last (`key_hook.rs`).
    demand: Arc<Demand>,
}

struct Watcher {
    /// The watching connection's `CLIENT ID`.
    client: u64,
    /// Set while WATCH reads the key: the key may be past its deadline,
    /// and its removal for that is no change.
    reading: bool,
    dirty: Arc<AtomicBool>,
}

impl Watches {
    /// An empty registry, told of key changes by the server's key hook.
    pub(crate) fn new(demand: Arc<Demand>) -> Arc<Watches> {
        Arc::new(Watches {
            keys: Mutex::default(),
            demand,
        })
    }

    fn add(&self, key: &[u8], client: u64, dirty: &Arc<AtomicBool>) {
        let mut keys = self.keys.lock();
        if keys.is_empty() {
            self.demand.want(Want::Watches, true);
        }
        keys.entry(key.into()).or_default().push(Watcher {
            client,
            reading: true,
            dirty: dirty.clone(),
        });
    }

    fn done_reading(&self, key: &[u8], client: u64) {
        if let Some(watchers) = self.keys.lock().get_mut(key) {
            for watcher in watchers.iter_mut().filter(|w| w.client == client) {
                watcher.reading = false;
            }
        }
    }

    fn remove(&self, key: &[u8], client: u64) {
        let mut keys = self.keys.lock();
        if let Some(watchers) = keys.get_mut(key) {
            watchers.retain(|w| w.client != client);
            if watchers.is_empty() {
                keys.remove(key);
            }
        }
        if keys.is_empty() {
            self.demand.want(Want::Watches, false);
        }
    }
}

impl Watches {
    /// Marks the connections watching `key` (the key hook calls this
    /// for every change).
    pub(crate) fn key_changed(&self, key: &[u8], event: KeyEvent) {
        let keys = self.keys.lock();
        let Some(watchers) = keys.get(key) else {
            return;
        };
        let removal = event.is_timed_removal();
        for watcher in watchers {
            if !(removal && watcher.reading) {
                watcher.dirty.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// One connection's watched keys.
pub(crate) struct Watching {
    watches: Arc<Watches>,
    client: u64,
    keys: Vec<Bytes>,
    /// Bytes of the keys, for the connection's bound.
    bytes: usize,
    dirty: Arc<AtomicBool>,
}

impl Watching {
    pub(crate) fn new(watches: Arc<Watches>, client: u64) -> Watching {
        Watching {
            watches,
            client,
            keys: Vec::new(),
            bytes: 0,
            dirty: Arc::default(),
        }
    }

    /// Watches `key` (again: nothing), reading it from `store` once it is
    /// registered, so that a change made after the read is seen.
    pub(crate) fn watch(&mut self, store: &Store, key: &[u8]) {
        if self.keys.iter().any(|k| &k[..] == key) {
            return;
        }
        self.watches.add(key, self.client, &self.dirty);
        // Removes the key if it is past its deadline (no change, see the
        // module documentation).
        store.exists(key);
        self.watches.done_reading(key, self.client);
        self.bytes += key.len();
        self.keys.push(Bytes::copy_from_slice(key));
    }

    /// Bytes and count of watched keys.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.keys.len(), self.bytes)
    }

    /// Whether a watched key changed: EXEC asks, under the gate, after
    /// reading every watched key (which removes any that passed its
    /// deadline since, marking this connection).
    pub(crate) fn changed(&self, store: &Store) -> bool {
        for key in &self.keys {
            store.exists(key);
        }
        self.dirty.load(Ordering::SeqCst)
    }

    /// Whether this connection has marked itself dirty already.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    /// Forgets every watched key and the mark (UNWATCH, EXEC, DISCARD).
    pub(crate) fn clear(&mut self) {
        for key in self.keys.drain(..) {
            self.watches.remove(&key, self.client);
        }
        self.bytes = 0;
        self.dirty.store(false, Ordering::SeqCst);
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.clear();
    }
}
