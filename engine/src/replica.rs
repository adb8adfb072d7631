//! What a replication layer needs of the store: running operations as of
//! a given time with ids drawn in advance, gathering sliding-expiry
//! touches for the group, and a snapshot as bytes.
//!
//! A replicated store is a state machine: every node runs the same writes
//! in the same order and must end in the same state. Two things in an
//! operation are not a function of the state and the request: the time
//! (deadlines are computed from "now") and fresh session ids (drawn from
//! the OS). So the leader fixes both before it proposes a write, and every
//! node runs it inside [`Store::replay`], which makes the store read that
//! time and take those ids instead. Both are per thread: the thread that
//! applies the log sees the pinned values; requests served at the same
//! time on other threads see the real clock.
//!
//! Touches are the other half. A read slides a session's idle deadline;
//! sending each one through the log would make reads writes, and applying
//! it on the leader alone would make the leader's state differ from its
//! followers' (the owner limit ends the least recently seen session: the
//! two could pick different ones). So with [`Store::defer_touches`] on, a
//! read does not move `last seen` itself: the store keeps the newest touch
//! per session for the replication layer to take ([`Store::take_touches`])
//! and send through the log in batches, and every node, the leader
//! included, applies them from there with [`Store::apply_touches`], which
//! only ever moves `last seen` forward and never brings back a session
//! that has ended. A session is then at most one batch (plus the commit)
//! behind on every node alike.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, Write};

use parking_lot::Mutex;
use sessiond_protocol::SessionId;

use crate::persist::{self, PersistError};
use crate::store::{Inner, Store};

/// At most this many sessions' touches wait for the replication layer;
/// beyond, touches of further sessions are dropped. A dropped touch leaves
/// the session a little closer to its deadline, never further: the safe
/// side.
const MAX_PENDING_TOUCHES: usize = 1 << 20;

thread_local! {
    /// The pinned time in Unix milliseconds, 0 when none is pinned.
    static PINNED_MS: Cell<u64> = const { Cell::new(0) };
    /// Ids drawn in advance, taken front first.
    static DRAWN: RefCell<Vec<SessionId>> = const { RefCell::new(Vec::new()) };
    /// Whether a replay is running on this thread (so an exhausted supply
    /// of ids is an error, not a reason to draw).
    static REPLAYING: Cell<bool> = const { Cell::new(false) };
}

/// The time pinned on this thread by a replay, if any.
pub(crate) fn pinned_ms() -> Option<u64> {
    match PINNED_MS.with(Cell::get) {
        0 => None,
        ms => Some(ms),
    }
}

/// A fresh session id: the next one drawn in advance during a replay, or
/// one from the OS. `None` when a replay has used up its ids (the caller
/// refuses, the same way on every node).
pub(crate) fn fresh_id() -> Option<SessionId> {
    if !REPLAYING.with(Cell::get) {
        return Some(SessionId::random());
    }
    DRAWN.with(|drawn| {
        let mut drawn = drawn.borrow_mut();
        (!drawn.is_empty()).then(|| drawn.remove(0))
    })
}

/// Whether a replay runs on this thread (a write from the log).
pub(crate) fn replaying() -> bool {
    REPLAYING.with(Cell::get)
}

/// The touches waiting for the replication layer: the newest per session.
#[derive(Default)]
pub(crate) struct TouchLog(Mutex<HashMap<SessionId, u32>>);

impl TouchLog {
    /// Keeps the newest touch of a session, unless the log is full.
    pub(crate) fn push(&self, id: SessionId, last_seen: u32) {
        let mut pending = self.0.lock();
        let len = pending.len();
        match pending.get_mut(&id) {
            Some(seen) => *seen = (*seen).max(last_seen),
            None if len < MAX_PENDING_TOUCHES => {
                pending.insert(id, last_seen);
            }
            None => {}
        }
    }
}

impl Store {
    /// Runs `f` as of `at_ms` (Unix milliseconds) with `ids` as the fresh
    /// session ids it may take, in order: how every node of a group runs a
    /// write the leader stamped. Nested calls are not supported.
    pub fn replay<R>(&self, at_ms: u64, ids: &[SessionId], f: impl FnOnce() -> R) -> R {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                PINNED_MS.with(|c| c.set(0));
                REPLAYING.with(|c| c.set(false));
                DRAWN.with(|d| d.borrow_mut().clear());
            }
        }
        PINNED_MS.with(|c| c.set(at_ms.max(1)));
        REPLAYING.with(|c| c.set(true));
        DRAWN.with(|d| d.borrow_mut().extend_from_slice(ids));
        let _reset = Reset;
        f()
    }

    /// From now on, reads do not move `last seen` themselves: their
    /// touches wait for [`Store::take_touches`] (a member of a replication
    /// group turns this on; writes replayed from the log still touch).
    pub fn defer_touches(&self) {
        let _ = self.inner.touches().set(TouchLog::default());
    }

    /// The touches deferred since the last call: `(id, last seen)` in Unix
    /// seconds, the newest per session.
    pub fn take_touches(&self) -> Vec<(SessionId, u32)> {
        match self.inner.touches().get() {
            Some(log) => std::mem::take(&mut *log.0.lock()).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// Moves each session's `last seen` forward to the time given, if the
    /// session is there and has not expired by then; never creates one.
    pub fn apply_touches(&self, touches: &[(SessionId, u32)]) {
        for (id, last_seen) in touches {
            self.inner.touch_if_alive(id, *last_seen);
        }
    }

    /// Writes the whole store to `out` in the snapshot format of
    /// PERSISTENCE.md (generation 0); returns the records written. The
    /// copy is consistent only if no write runs meanwhile: a replication
    /// layer calls it between two applied entries.
    pub fn write_snapshot(&self, out: &mut dyn Write) -> io::Result<u64> {
        persist::write_snapshot_to(&*self.inner, out, 0).map(|written| written.0)
    }

    /// Replaces everything in the store with a snapshot [`Store::write_snapshot`]
    /// wrote; returns the records loaded. On damage the store is left
    /// empty and the error names the offset.
    pub fn load_snapshot(&self, bytes: &[u8]) -> Result<u64, PersistError> {
        self.inner.clear();
        persist::load_snapshot_bytes(&*self.inner, bytes).inspect_err(|_| self.inner.clear())
    }
}

impl Inner {
    /// A touch from a follower's log: forward only, alive only.
    fn touch_if_alive(&self, id: &SessionId, last_seen: u32) {
        let mut shard = self.session_shard(id.prefix()).lock();
        if let Some(record) = shard.get_mut(id)
            && !record.is_expired(last_seen)
        {
            record.touch(last_seen);
        }
    }

    /// Empties every table and the event log, unlogged (the store is
    /// about to be replaced).
    fn clear(&self) {
        self.events().clear();
        for shard in self.key_shards() {
            let freed = shard.lock().clear();
            self.memory().free(freed);
        }
        for shard in self.session_shards() {
            let records = shard.lock().take_all();
            for record in &records {
                self.unlink(record);
            }
        }
    }
}
