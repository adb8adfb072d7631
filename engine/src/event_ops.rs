//! The store's side of the session event log (`events.rs`): reading it,
//! listening to it, deletes that carry a note, and the one way every
//! lifecycle change is logged ([`Inner::log_change`], [`Inner::log_end`]).
//!
//! Where events come from, each exactly once per change:
//! - `created`: `create` (`owner_ops.rs`' `link_new`);
//! - `updated`: `update` (a touch is no lifecycle change and logs none);
//! - `rotated`: `rotate`, with the old id and the new;
//! - `ended`: `delete` (`deleted`), `delete_owner` (`owner_deleted`),
//!   FLUSHALL (`deleted`), the owner limit (`limit_evicted`), memory
//!   eviction (`memory_evicted`), the expiry cycle (`idle_expired` or
//!   `absolute_expired`, whichever deadline came first). A session that
//!   is already past its deadline when anything removes it ends with its
//!   expiry reason, whoever removed it: it had expired.
//!
//! Replaying the journal or loading a snapshot logs nothing: the events
//! are restored from their own records. Sessions found expired when a
//! store opens end at that point, with events, which are then journaled
//! with the store's first appends.

use std::sync::Arc;

use sessiond_protocol::{EndReason, Event, MAX_EVENT_NOTE, SessionId, StoreError};

use crate::events::{Change, EventImage, EventsGap, EventsInfo, Subject};
use crate::persist::Entry;
use crate::record::SessionRecord;
use crate::store::{Inner, Store};

impl Store {
    /// [`Store::delete`], with a note the `ended` event repeats ("logout",
    /// "revoke"; at most [`MAX_EVENT_NOTE`] bytes, else
    /// [`StoreError::TooLarge`]).
    pub fn delete_with_note(
        &self,
        id: &SessionId,
        note: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        check_note(note)?;
        self.delete_noted(id, note, || ())
    }

    /// [`Store::delete_owner`], with a note each `ended` event repeats
    /// ("kick"; bounded as for [`Store::delete_with_note`]).
    pub fn delete_owner_with_note(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
        note: Option<&[u8]>,
    ) -> Result<usize, StoreError> {
        check_note(note)?;
        self.delete_owner_noted(owner, keep, note)
    }

    /// Every event after seq `after`, oldest first, at most `max`: a
    /// reader passes the last seq it handled (0 at first) and so gets each
    /// event exactly once, in order. `Err(EventsGap)` if retention has
    /// dropped an event after `after`: the reader has missed some and must
    /// resynchronise (or accept the loss and resume after
    /// `oldest_kept - 1`). Empty when nothing is newer (or the log is off).
    ///
    /// Holds the log's lock while it clones the events' pointers; writers
    /// wait at most that long.
    ///
    /// ```
    /// use sessiond::{EventKind, NewSession, Store, StoreConfig, StoreError};
    ///
    /// let store = Store::new(StoreConfig::default());
    /// let id = store.create(NewSession::new("user:42"))?;
    /// store.delete_with_note(&id, Some(b"logout"))?;
    ///
    /// let mut after = 0;
    /// for event in store.read_events(after, 100).expect("nothing dropped yet") {
    ///     if let EventKind::Ended { reason, note } = &event.kind {
    ///         println!("{} ended: {} {:?}", event.id, reason.name(), note);
    ///     }
    ///     after = event.seq;
    /// }
    /// assert_eq!(after, 2);
    /// # Ok::<(), StoreError>(())
    /// ```
    pub fn read_events(&self, after: u64, max: usize) -> Result<Vec<Event>, EventsGap> {
        let inner = &*self.inner;
        let images = inner.events().read(inner.now_ms(), after, max)?;
        Ok(images.iter().map(EventImage::decode).collect())
    }

    /// The kept events with seqs from `from` to `to`, both included,
    /// oldest first (newest first with `reverse`), at most `max`: a range
    /// query (a stream's XRANGE and XREVRANGE). What retention dropped is
    /// simply not there; no gap is reported.
    pub fn events_range(&self, from: u64, to: u64, max: usize, reverse: bool) -> Vec<Event> {
        let inner = &*self.inner;
        let images = inner.events().range(inner.now_ms(), from, to, max, reverse);
        images.iter().map(EventImage::decode).collect()
    }

    /// The seq of the oldest kept event that comes after the stream id
    /// `<ms>-<seq>` (an event's id is `<at_ms>-<seq>`), or the next seq to
    /// be logged if none does: where a range or a read from an arbitrary
    /// id starts (XREAD, XRANGE with a time for an id).
    pub fn events_first_after(&self, ms: u64, seq: u64) -> u64 {
        let inner = &*self.inner;
        inner.events().first_after(inner.now_ms(), ms, seq)
    }

    /// The newest seq ever logged (0 before the first), in one atomic
    /// load: what a server reads around each session write, where
    /// [`Store::events_info`] would lock the window.
    pub fn events_head(&self) -> u64 {
        self.inner.events().head()
    }

    /// Whether this store keeps an event log at all (an `events_max` of 0
    /// turns it off, and nothing is ever logged).
    pub fn events_enabled(&self) -> bool {
        self.inner.events().enabled()
    }

    /// What the log holds: its length, first and last seqs and times, its
    /// bytes and how many events retention dropped.
    pub fn events_info(&self) -> EventsInfo {
        self.inner.events().info(self.inner.now_ms())
    }

    /// Calls `listener` with the newest seq after events were logged, so
    /// that a server can wake its blocked readers. It runs on the thread
    /// that made the change, after that thread let go of every store
    /// lock (no shard lock, not the log's), once per operation that logged
    /// events or less often (several operations' events may be announced
    /// by one call). It must be quick, and it may read the store. Listeners
    /// stay for the store's life.
    pub fn on_events(&self, listener: Arc<dyn Fn(u64) + Send + Sync>) {
        self.inner.events().listen(listener);
    }
}

/// A note must fit [`MAX_EVENT_NOTE`].
fn check_note(note: Option<&[u8]>) -> Result<(), StoreError> {
    match note {
        Some(note) if note.len() > MAX_EVENT_NOTE => Err(StoreError::TooLarge {
            len: note.len(),
            max: MAX_EVENT_NOTE,
        }),
        _ => Ok(()),
    }
}

impl Inner {
    /// Logs a lifecycle change of `record` (as it is after the change):
    /// the change's own journal records `entries` and its event, in one
    /// append. Called under the shard lock of the change; with the log
    /// off, one branch more than appending `entries`.
    pub(crate) fn log_change(
        &self,
        record: &SessionRecord,
        change: Change<'_>,
        entries: &[Entry<'_>],
    ) {
        let events = self.events();
        if !events.on() {
            if let Some(journal) = self.journal().filter(|_| !entries.is_empty()) {
                journal.append_all(entries);
            }
            return;
        }
        let subject = Subject {
            id: record.id(),
            owner: record.owner(),
            labels: record.labels_bytes(),
        };
        events.push(self.now_ms(), change, &subject, |image| {
            if let Some(journal) = self.journal() {
                let mut all = entries.to_vec();
                all.push(Entry::Event(image.bytes()));
                journal.append_all(&all);
            }
        });
    }

    /// Logs that a removed session ended for `reason` (its expiry reason
    /// instead if it was past its deadline at `now`), with `note`.
    pub(crate) fn log_end(
        &self,
        record: &SessionRecord,
        reason: EndReason,
        note: Option<&[u8]>,
        now: u32,
    ) {
        let reason = match record.is_expired(now) {
            true => record.expiry_reason(),
            false => reason,
        };
        let end = Entry::EndSession {
            id: *record.id().as_bytes(),
        };
        self.log_change(record, Change::Ended { reason, note }, &[end]);
    }

    /// Logs that the expiry cycle removed a session. Expiry wrote nothing
    /// to the journal before events existed (a restart drops an expired
    /// session again), and still writes nothing with the log off; with it
    /// on, the end is journaled with its event, so that a restart does not
    /// end the session a second time under a new seq.
    pub(crate) fn log_expired(&self, record: &SessionRecord) {
        if self.events().on() {
            let end = Entry::EndSession {
                id: *record.id().as_bytes(),
            };
            let reason = record.expiry_reason();
            self.log_change(record, Change::Ended { reason, note: None }, &[end]);
        }
    }

    /// Journals the events logged while the store opened (sessions found
    /// expired), with the ends they stand for, as the journal is attached:
    /// under the log's lock, so no later event reaches the journal first.
    pub(crate) fn journal_recovered_events(&self, attach: impl FnOnce()) {
        self.events().attach(|unjournaled| {
            attach();
            let Some(journal) = self.journal() else {
                return;
            };
            for image in unjournaled {
                let event = Entry::Event(image.bytes());
                match image.is_end() {
                    true => journal.append_all(&[
                        Entry::EndSession {
                            id: *image.id().as_bytes(),
                        },
                        event,
                    ]),
                    false => journal.append(&event),
                };
            }
        });
    }
}
