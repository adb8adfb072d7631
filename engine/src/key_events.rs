//! Telling a server that a plain key changed: the one hook every write of
//! the key space calls, after the change, with the key and the cause.
//!
//! The engine knows nothing of clients, yet two Redis features a server
//! builds over it need to hear of every change to a key, whoever made it:
//! WATCH (an EXEC aborts if a watched key changed since the WATCH) and
//! keyspace notifications (`notify-keyspace-events`: a message per change,
//! named by its cause). Both are served by this hook: a server installs
//! one [`KeyObserver`] with [`Store::observe_keys`] and turns delivery on
//! with the [`KeyEventSwitch`] it gets back while it has a use for it (a
//! client watches a key, or notifications are configured); it fans the
//! events out itself. The store holds the observer weakly, and the switch
//! does not hold the store, so an observer that keeps its switch makes no
//! cycle with the store: dropping the store's last handle still shuts it
//! down (journal flushed) as it would without one. The cause is a [`KeyEvent`], whose [`KeyEvent::name`] is
//! Redis's keyspace event name, so notifications can publish it as is.
//!
//! What it costs: while delivery is off, one relaxed atomic load per
//! change ([`KeyEvents::emit`]). While it is on, the observer is called
//! with the key shard's lock still held (so the events of one key arrive
//! in the order of its changes); it must be quick and take only leaf
//! locks (ARCHITECTURE.md, lock order), never a shard lock.
//!
//! Where it is called: every write site of `keyspace.rs`, `sets.rs`,
//! `string_ops.rs`, `set_ops.rs`, `key_ops.rs` and `multi_key.rs`'
//! callers; every hash write (`hashes.rs`' `write_hash`, with the events
//! its command names); FLUSHALL (`key_scan.rs`, one [`KeyEvent::Flushed`]
//! per key removed); and expiry, both the cycle's sweep and a read that
//! finds a key or hash fields past their deadline (`keys.rs`,
//! [`KeyEvent::Expired`], [`KeyEvent::Hexpired`],
//! [`KeyEvent::HexpiredAll`]). Eviction removes only
//! sessions, which are not keys of the key space; [`KeyEvent::Evicted`] is
//! for the day keys are evicted too. A new write of the key space (a new
//! value type, a new command) must call [`KeyEvents::emit`] once per key it
//! changes, after the change: a WATCH that misses a change lets an EXEC run
//! that Redis would have aborted.
//!
//! Recovery and snapshot loading fill the tables without events: nothing
//! observes a store that is still opening.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use crate::store::Store;

/// Why a key changed. The names are Redis's keyspace event names
/// ([`KeyEvent::name`]); each write reports what Redis's command would
/// announce, in the same order (SET with EX: `set`, then `expire`; HDEL
/// that empties the hash: `hdel`, then `del`), and a write that changed
/// nothing reports nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEvent {
    /// A string was written (SET and its forms, GETSET, MSET, MSETNX).
    Set,
    /// The key was deleted by a command (DEL, UNLINK, GETDEL, a deadline
    /// already past given by SET, GETEX or EXPIRE, a set or hash emptied
    /// by a command, a STORE form with an empty result).
    Del,
    /// The key was given a deadline (EXPIRE and its forms, SET EX, GETEX).
    Expire,
    /// The key lost its deadline (PERSIST, GETEX PERSIST).
    Persist,
    /// The key's deadline passed and it was removed (by the expiry cycle
    /// or by a read that found it past its deadline).
    Expired,
    /// The key was removed to free memory.
    Evicted,
    /// The key was renamed away (RENAME's source).
    RenameFrom,
    /// The key was renamed onto (RENAME's destination).
    RenameTo,
    /// The key was written by COPY (its destination).
    CopyTo,
    /// An integer was added to (INCR, DECR, INCRBY, DECRBY).
    Incrby,
    /// A number was added to (INCRBYFLOAT).
    Incrbyfloat,
    /// Bytes were appended (APPEND).
    Append,
    /// Bytes were overwritten at an offset (SETRANGE).
    Setrange,
    /// Members were added to a set (SADD, SMOVE's destination).
    Sadd,
    /// Members were removed from a set (SREM, SMOVE's source).
    Srem,
    /// Members were popped from a set (SPOP).
    Spop,
    /// A set was stored by SINTERSTORE.
    Sinterstore,
    /// A set was stored by SUNIONSTORE.
    Sunionstore,
    /// A set was stored by SDIFFSTORE.
    Sdiffstore,
    /// Hash fields were written (HSET, HMSET, HSETNX, HSETEX).
    Hset,
    /// Hash fields were removed (HDEL, HGETDEL, a past field deadline).
    Hdel,
    /// An integer in a hash field was added to (HINCRBY).
    Hincrby,
    /// A number in a hash field was added to (HINCRBYFLOAT).
    Hincrbyfloat,
    /// Hash fields were given a deadline (HEXPIRE and its forms, HGETEX,
    /// HSETEX).
    Hexpire,
    /// Hash fields lost their deadline (HPERSIST, HGETEX PERSIST).
    Hpersist,
    /// Hash fields passed their deadline and were removed; the hash has
    /// live fields left.
    Hexpired,
    /// Every field of the hash passed its deadline and the key was
    /// removed: Redis announces `hexpired` and then `del`.
    HexpiredAll,
    /// The key was removed by FLUSHALL or FLUSHDB. Redis sends no keyspace
    /// event per key for a flush; notifications skip this one, while WATCH
    /// needs it (a flush changes a watched key that existed).
    Flushed,
}

impl KeyEvent {
    /// Redis's keyspace event name (`__keyevent@0__:<name>`); `None` for
    /// [`KeyEvent::Flushed`], which Redis does not announce per key.
    /// [`KeyEvent::HexpiredAll`] is named `hexpired`, its first.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            KeyEvent::Set => "set",
            KeyEvent::Del => "del",
            KeyEvent::Expire => "expire",
            KeyEvent::Persist => "persist",
            KeyEvent::Expired => "expired",
            KeyEvent::Evicted => "evicted",
            KeyEvent::RenameFrom => "rename_from",
            KeyEvent::RenameTo => "rename_to",
            KeyEvent::CopyTo => "copy_to",
            KeyEvent::Incrby => "incrby",
            KeyEvent::Incrbyfloat => "incrbyfloat",
            KeyEvent::Append => "append",
            KeyEvent::Setrange => "setrange",
            KeyEvent::Sadd => "sadd",
            KeyEvent::Srem => "srem",
            KeyEvent::Spop => "spop",
            KeyEvent::Sinterstore => "sinterstore",
            KeyEvent::Sunionstore => "sunionstore",
            KeyEvent::Sdiffstore => "sdiffstore",
            KeyEvent::Hset => "hset",
            KeyEvent::Hdel => "hdel",
            KeyEvent::Hincrby => "hincrby",
            KeyEvent::Hincrbyfloat => "hincrbyfloat",
            KeyEvent::Hexpire => "hexpire",
            KeyEvent::Hpersist => "hpersist",
            KeyEvent::Hexpired | KeyEvent::HexpiredAll => "hexpired",
            KeyEvent::Flushed => return None,
        })
    }

    /// Whether the event is a removal for time's sake (the key's or its
    /// fields' deadline passed) or a flush, rather than a command's
    /// change of what the key holds: WATCH counts such a removal of a
    /// key that was already past its deadline when watched as no change.
    pub fn is_timed_removal(self) -> bool {
        matches!(
            self,
            KeyEvent::Expired | KeyEvent::Hexpired | KeyEvent::HexpiredAll | KeyEvent::Flushed
        )
    }
}

/// What a server installs to hear of key changes (see the module
/// documentation). Called on whatever thread made the change, with the
/// key's shard lock held.
pub trait KeyObserver: Send + Sync + 'static {
    /// `key` changed because of `event`.
    fn key_changed(&self, key: &[u8], event: KeyEvent);
}

/// The store's side of the hook: the observer, if one is installed, and
/// whether events are delivered now.
pub(crate) struct KeyEvents {
    on: AtomicBool,
    observer: RwLock<Weak<dyn KeyObserver>>,
}

/// An observer that hears nothing, for a store without one.
struct Nobody;

impl KeyObserver for Nobody {
    fn key_changed(&self, _: &[u8], _: KeyEvent) {}
}

impl Default for KeyEvents {
    fn default() -> Self {
        KeyEvents {
            on: AtomicBool::new(false),
            observer: RwLock::new(Weak::<Nobody>::new()),
        }
    }
}

/// Turns the delivery of key events on and off (see
/// [`Store::observe_keys`]).
pub struct KeyEventSwitch(Arc<KeyEvents>);

impl KeyEventSwitch {
    /// Delivers events (`true`) or not. A change made by a thread that
    /// took the changed key's shard lock after this returned is delivered
    /// (the lock orders the two), so a server that turns events on and
    /// then reads a key hears of every later change to it.
    pub fn set(&self, on: bool) {
        self.0.on.store(on, Ordering::SeqCst);
    }
}

impl KeyEvents {
    /// Tells the observer that `key` changed, if delivery is on: one
    /// relaxed load otherwise. Call after the change, under the lock that
    /// made it.
    #[inline]
    pub(crate) fn emit(&self, key: &[u8], event: KeyEvent) {
        if self.on.load(Ordering::Relaxed) {
            self.deliver(key, event);
        }
    }

    #[cold]
    fn deliver(&self, key: &[u8], event: KeyEvent) {
        let observer = self.observer.read().upgrade();
        if let Some(observer) = observer {
            observer.key_changed(key, event);
        }
    }
}

impl Store {
    /// Installs the observer of key changes, held weakly, in place of any
    /// before it (one per store: a server fans out itself; a server
    /// started anew over the same store replaces its predecessor's).
    /// Nothing is delivered until the returned switch turns it on.
    pub fn observe_keys(&self, observer: Weak<dyn KeyObserver>) -> KeyEventSwitch {
        let events = self.inner.key_events_arc();
        *events.observer.write() = observer;
        KeyEventSwitch(events)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use parking_lot::Mutex;

    use super::{KeyEvent, KeyObserver};
    use crate::{ManualClock, Store, StoreConfig};

    #[derive(Default)]
    struct Seen(Mutex<Vec<(Vec<u8>, KeyEvent)>>);

    impl KeyObserver for Seen {
        fn key_changed(&self, key: &[u8], event: KeyEvent) {
            self.0.lock().push((key.to_vec(), event));
        }
    }

    impl Seen {
        fn take(&self) -> Vec<(String, KeyEvent)> {
            std::mem::take(&mut *self.0.lock())
                .into_iter()
                .map(|(k, e)| (String::from_utf8(k).unwrap(), e))
                .collect()
        }
    }

    fn observed() -> (Store, ManualClock, Arc<Seen>, super::KeyEventSwitch) {
        let clock = ManualClock::new(1_000_000);
        let config = StoreConfig {
            background_expiry: false,
            ..StoreConfig::default()
        };
        let store = Store::with_clock(config, clock.clone());
        let seen = Arc::new(Seen::default());
        let weak: std::sync::Weak<Seen> = Arc::downgrade(&seen);
        let switch = store.observe_keys(weak);
        switch.set(true);
        (store, clock, seen, switch)
    }

    fn ev(key: &str, event: KeyEvent) -> (String, KeyEvent) {
        (key.to_string(), event)
    }

    #[test]
    fn every_write_of_the_key_space_is_announced_with_its_cause() {
        use KeyEvent::*;
        let (store, _, seen, _switch) = observed();
        store.set_key(b"a", b"1", None).unwrap();
        store.incr(b"a", 2).unwrap();
        store
            .expire_key(b"a", Some(Duration::from_secs(10)))
            .unwrap();
        store.persist(b"a").unwrap();
        store.rename(b"a", b"b").unwrap();
        store.delete_key(b"b").unwrap();
        store.set_add(b"s", &[b"x", b"y"]).unwrap();
        store.set_add(b"s", &[b"x"]).unwrap();
        store.set_remove(b"s", &[b"x", b"y"]).unwrap();
        store.set_key(b"c", b"v", None).unwrap();
        store.get_del(b"c").unwrap();
        assert_eq!(
            seen.take(),
            [
                ev("a", Set),
                ev("a", Incrby),
                ev("a", Expire),
                ev("a", Persist),
                ev("a", RenameFrom),
                ev("b", RenameTo),
                ev("b", Del),
                ev("s", Sadd),
                ev("s", Srem),
                ev("s", Del),
                ev("c", Set),
                ev("c", Del),
            ]
        );
        // What changed nothing says nothing.
        store.delete_key(b"nothing").unwrap();
        store.persist(b"nothing").unwrap();
        store.set_remove(b"nothing", &[b"x"]).unwrap();
        assert_eq!(seen.take(), []);
    }

    #[test]
    fn hash_fields_expiring_say_hexpired_and_the_last_takes_the_key() {
        use KeyEvent::*;
        let (store, clock, seen, _switch) = observed();
        let in_secs = |s| crate::Deadline::In(Duration::from_secs(s));
        let always = crate::ExpireCondition::Always;
        store.hash_set(b"h", &[(b"a", b"1"), (b"b", b"2")]).unwrap();
        store
            .hash_expire(b"h", &[b"a"], in_secs(1), always)
            .unwrap();
        store.hash_remove(b"h", &[b"nosuch"]).unwrap();
        assert_eq!(seen.take(), [ev("h", Hset), ev("h", Hexpire)]);
        clock.advance(Duration::from_secs(2));
        // A read finds the field past its deadline, as the sweep would.
        assert_eq!(store.hash_len(b"h").unwrap(), 1);
        assert_eq!(seen.take(), [ev("h", Hexpired)]);
        store
            .hash_expire(b"h", &[b"b"], in_secs(1), always)
            .unwrap();
        seen.take();
        clock.advance(Duration::from_secs(2));
        store.run_expiry_cycle(Duration::from_secs(1));
        assert_eq!(seen.take(), [ev("h", HexpiredAll)]);
        assert!(HexpiredAll.is_timed_removal() && !Hdel.is_timed_removal());
    }

    #[test]
    fn multi_key_and_editing_writes_name_their_commands() {
        use KeyEvent::*;
        let (store, _, seen, _switch) = observed();
        store.append(b"s", b"x").unwrap();
        store.copy_key(b"s", b"t", false).unwrap();
        store.set_add(b"a", &[b"m"]).unwrap();
        store.set_move(b"a", b"b", b"m").unwrap();
        store.set_pop(b"b", None).unwrap();
        assert_eq!(
            seen.take(),
            [
                ev("s", Append),
                ev("t", CopyTo),
                ev("a", Sadd),
                ev("a", Srem),
                ev("a", Del),
                ev("b", Sadd),
                ev("b", Spop),
                ev("b", Del),
            ]
        );
    }

    #[test]
    fn expiry_flush_and_the_off_switch() {
        let (store, clock, seen, switch) = observed();
        store
            .set_key(b"swept", b"v", Some(Duration::from_secs(1)))
            .unwrap();
        store
            .set_key(b"read", b"v", Some(Duration::from_secs(1)))
            .unwrap();
        seen.take();
        clock.advance(Duration::from_secs(3));
        assert_eq!(store.get_key(b"read"), None);
        assert_eq!(seen.take(), [ev("read", KeyEvent::Expired)]);
        store.run_expiry_cycle(Duration::from_secs(1));
        assert_eq!(seen.take(), [ev("swept", KeyEvent::Expired)]);
        store.set_key(b"f", b"v", None).unwrap();
        seen.take();
        store.flush_all().unwrap();
        assert_eq!(seen.take(), [ev("f", KeyEvent::Flushed)]);
        switch.set(false);
        store.set_key(b"quiet", b"v", None).unwrap();
        assert_eq!(seen.take(), []);
        // The store holds its observer weakly: one dropped hears nothing.
        switch.set(true);
        let weak = Arc::downgrade(&seen);
        drop(seen);
        store.set_key(b"unheard", b"v", None).unwrap();
        assert!(weak.upgrade().is_none());
        assert_eq!(KeyEvent::RenameFrom.name(), Some("rename_from"));
        assert_eq!(KeyEvent::Flushed.name(), None);
    }
}
