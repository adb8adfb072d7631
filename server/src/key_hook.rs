//! The server's one observer of key changes, which the engine calls for
//! every write, expiry and flush of a key (`engine/src/key_events.rs`),
//! and which hands each change to the two features that need it: WATCH
//! (`resp/watches.rs`) and keyspace notifications (`notifications.rs`).
//!
//! The engine holds one observer per store, and one switch that turns its
//! calls on and off. Each feature wants the calls for reasons of its own
//! (a key is watched; a notification class is set), so the switch is
//! turned by [`Demand`]: on while either wants it, off when neither does,
//! which keeps a server that uses neither at one relaxed load per write.

use std::sync::Arc;

use parking_lot::Mutex;
use sessiond::{KeyEvent, KeyEventSwitch, KeyObserver, Store};

use crate::notifications::{KeyspaceEvents, Notifications};
use crate::pubsub::Hub;
use crate::resp::Watches;

/// What WATCH and the notifications hear, from the engine.
pub(crate) struct KeyHook {
    /// Which connections watch which keys.
    pub watches: Arc<Watches>,
    /// `notify-keyspace-events` and the publishing of its messages.
    pub notifications: Notifications,
    demand: Arc<Demand>,
}

impl KeyHook {
    /// The hook of `store`, installed as its key observer (held weakly
    /// by the store: the server's `Shared` holds it), publishing to `hub`.
    pub(crate) fn install(store: &Store, hub: Arc<Hub>) -> Arc<KeyHook> {
        Arc::new_cyclic(|me: &std::sync::Weak<KeyHook>| {
            let demand = Arc::new(Demand {
                switch: store.observe_keys(me.clone()),
                wanted: Mutex::new(0),
            });
            KeyHook {
                watches: Watches::new(Arc::clone(&demand)),
                notifications: Notifications::new(hub),
                demand,
            }
        })
    }

    /// Puts notification `classes` in force (CONFIG SET
    /// notify-keyspace-events).
    pub(crate) fn set_notifications(&self, classes: KeyspaceEvents) {
        let sends = self.notifications.set_classes(classes);
        self.demand.want(Want::Notifications, sends);
    }
}

impl KeyObserver for KeyHook {
    fn key_changed(&self, key: &[u8], event: KeyEvent) {
        self.watches.key_changed(key, event);
        self.notifications.key_changed(key, event);
    }
}

/// Who wants the engine's key events.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    /// Some connection watches a key.
    Watches = 1,
    /// Some notification class is in force.
    Notifications = 2,
}

/// The engine's switch, turned by what its users want (see the module
/// documentation). Its lock is a leaf, taken inside the WATCH registry's.
pub(crate) struct Demand {
    switch: KeyEventSwitch,
    wanted: Mutex<u8>,
}

impl Demand {
    /// `who` wants the events (`on`) or no longer does.
    pub(crate) fn want(&self, who: Want, on: bool) {
        let mut wanted = self.wanted.lock();
        match on {
            true => *wanted |= who as u8,
            false => *wanted &= !(who as u8),
        }
        self.switch.set(*wanted != 0);
    }
}
