//! The session event log: a bounded, in-order window of lifecycle events
//! (created, rotated, updated, ended), each numbered, that readers resume
//! from (docs/events.md).
//!
//! An event is kept as one packed buffer, [`EventImage`], which is also
//! its record in the journal and the snapshot (protocol/PERSISTENCE.md,
//! EVENT): one allocation per event, no re-encoding to persist it, and its
//! size is what the log counts.
//!
//! ```text
//! offset  size  field
//!      0     8  seq           u64
//!      8     8  at            Unix milliseconds
//!     16     1  kind          1 created, 2 rotated, 3 updated, 4 ended
//!     17     1  reason        0 (not ended), 1 to 6 (EndReason::code)
//!     18    16  id            the session's id (a rotation's old id)
//!     34    16  new id        a rotation's new id; zeros otherwise
//!     50     2  owner length
//!     52     2  labels length
//!     54     2  note length   0: no note
//!     56     …  owner, labels (as session records pack them), note
//! ```
//!
//! # Locks and order
//! The log has one mutex of its own. A change takes it inside the shard
//! lock of what changed (so one session's events are in the order of its
//! changes), assigns the next seq, and appends the event's journal record
//! with the change's own records in the same append, still inside it: the
//! journal's order is then the seqs' order, which is what lets recovery
//! rebuild the window without holes. The journal's buffer lock is the
//! only lock taken inside this one. Readers hold it only to clone the
//! images they return (a pointer copy each); decoding happens outside.
//!
//! Listeners ([`crate::Store::on_events`]) are not called under this lock
//! nor under any shard lock: each operation that may have logged events
//! calls [`EventLog::wake`] once it has let its locks go.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use sessiond_protocol::{EndReason, Event, EventKind, SessionId};

use crate::record::{decode_labels, labels_well_formed};

const SEQ: usize = 0;
const AT: usize = 8;
const KIND: usize = 16;
const REASON: usize = 17;
const ID: usize = 18;
const NEW_ID: usize = 34;
const OWNER_LEN: usize = 50;
const LABELS_LEN: usize = 52;
const NOTE_LEN: usize = 54;
const HEADER: usize = 56;

/// Bytes an event costs beyond its image: the window's slot (a boxed
/// slice's pointer and length) and the allocator's header and rounding.
pub(crate) const EVENT_OVERHEAD: usize = 32;

/// A listener's type: called with the newest seq after events were added.
pub(crate) type Listener = Arc<dyn Fn(u64) + Send + Sync>;

/// What a change tells the log, beyond the session it changed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    Created,
    Rotated {
        old: SessionId,
    },
    Updated,
    Ended {
        reason: EndReason,
        note: Option<&'a [u8]>,
    },
}

/// The parts of a session an event repeats.
pub(crate) struct Subject<'a> {
    pub id: SessionId,
    pub owner: &'a [u8],
    /// Labels packed as session records pack them.
    pub labels: &'a [u8],
}

/// One event, packed (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EventImage(Box<[u8]>);

impl EventImage {
    fn new(seq: u64, at_ms: u64, change: Change<'_>, subject: &Subject<'_>) -> Self {
        let note = match change {
            Change::Ended { note, .. } => note.unwrap_or_default(),
            _ => &[],
        };
        let (owner, labels) = (subject.owner, subject.labels);
        let mut bytes = vec![0u8; HEADER + owner.len() + labels.len() + note.len()];
        bytes[SEQ..SEQ + 8].copy_from_slice(&seq.to_le_bytes());
        bytes[AT..AT + 8].copy_from_slice(&at_ms.to_le_bytes());
        let (kind, reason, id, new_id) = match change {
            Change::Created => (1, 0, subject.id, None),
            Change::Rotated { old } => (2, 0, old, Some(subject.id)),
            Change::Updated => (3, 0, subject.id, None),
            Change::Ended { reason, .. } => (4, reason.code(), subject.id, None),
        };
        bytes[KIND] = kind;
        bytes[REASON] = reason;
        bytes[ID..ID + 16].copy_from_slice(id.as_bytes());
        if let Some(new_id) = new_id {
            bytes[NEW_ID..NEW_ID + 16].copy_from_slice(new_id.as_bytes());
        }
        // Owners (256), packed labels (under 64 KiB: a record's u16) and
        // notes (256) all fit a u16 length.
        for (at, len) in [
            (OWNER_LEN, owner.len()),
            (LABELS_LEN, labels.len()),
            (NOTE_LEN, note.len()),
        ] {
            bytes[at..at + 2].copy_from_slice(&(len as u16).to_le_bytes());
        }
        let mut at = HEADER;
        for part in [owner, labels, note] {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        EventImage(bytes.into_boxed_slice())
    }

    /// An image read from a file, checked so that decoding it cannot
    /// fail or index out of bounds.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() < HEADER {
            return Err("an event shorter than its header");
        }
        let len16 = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        let (owner, labels, note) = (len16(OWNER_LEN), len16(LABELS_LEN), len16(NOTE_LEN));
        if HEADER + owner + labels + note != bytes.len() {
            return Err("an event whose lengths do not add up");
        }
        if owner == 0 || owner > sessiond_protocol::MAX_OWNER_LEN {
            return Err("an event whose owner is not 1 to 256 bytes");
        }
        if note > sessiond_protocol::MAX_EVENT_NOTE {
            return Err("an event whose note is longer than 256 bytes");
        }
        let reason = bytes[REASON];
        match bytes[KIND] {
            1..=3 if reason == 0 && note == 0 => {}
            4 if EndReason::from_code(reason).is_some() => {}
            _ => return Err("an event of an unknown kind or reason"),
        }
        let labels_at = HEADER + owner;
        if !labels_well_formed(&bytes[labels_at..labels_at + labels]) {
            return Err("an event with malformed labels");
        }
        Ok(EventImage(bytes.into()))
    }

    /// The packed bytes: the journal's and the snapshot's EVENT body.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn seq(&self) -> u64 {
        self.u64_at(SEQ)
    }

    pub(crate) fn at_ms(&self) -> u64 {
        self.u64_at(AT)
    }

    /// The session it is about (a rotation's old id).
    pub(crate) fn id(&self) -> SessionId {
        self.id_at(ID)
    }

    /// Whether it is an `ended` event.
    pub(crate) fn is_end(&self) -> bool {
        self.0[KIND] == 4
    }

    /// What it costs the log: its bytes and [`EVENT_OVERHEAD`].
    fn cost(&self) -> usize {
        self.0.len() + EVENT_OVERHEAD
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }

    fn id_at(&self, at: usize) -> SessionId {
        SessionId::from_bytes(self.0[at..at + 16].try_into().expect("16 bytes"))
    }

    fn len_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }

    /// The event as callers see it.
    pub(crate) fn decode(&self) -> Event {
        let owner_at = HEADER;
        let labels_at = owner_at + self.len_at(OWNER_LEN);
        let note_at = labels_at + self.len_at(LABELS_LEN);
        let note = &self.0[note_at..];
        let kind = match (self.0[KIND], EndReason::from_code(self.0[REASON])) {
            (2, _) => EventKind::Rotated {
                new_id: self.id_at(NEW_ID),
            },
            (3, _) => EventKind::Updated,
            (4, Some(reason)) => EventKind::Ended {
                reason,
                note: (!note.is_empty()).then(|| note.to_vec()),
            },
            // Images are checked when made or read.
            _ => EventKind::Created,
        };
        Event {
            seq: self.seq(),
            at_ms: self.at_ms(),
            kind,
            id: self.id(),
            owner: self.0[owner_at..labels_at].to_vec(),
            labels: decode_labels(&self.0[labels_at..note_at]),
        }
    }
}

/// A read that asked for events retention has already dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events after seq {after} were dropped by retention; the oldest kept is {oldest_kept}")]
pub struct EventsGap {
    /// The seq the reader asked to read after.
    pub after: u64,
    /// The oldest seq the log still has (or the next one it will log,
    /// when it has none): a reader that accepts the loss resumes after
    /// `oldest_kept - 1`.
    pub oldest_kept: u64,
}

/// What the log holds, from [`crate::Store::events_info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventsInfo {
    /// Events kept.
    pub len: usize,
    /// The oldest kept event's seq (0 when none is kept).
    pub first_seq: u64,
    /// The newest seq ever logged, kept or not (0 before the first).
    pub last_seq: u64,
    /// The oldest kept event's time (0 when none is kept).
    pub first_at_ms: u64,
    /// The newest kept event's time (0 when none is kept).
    pub last_at_ms: u64,
    /// Bytes the kept events take (images and per-event overhead).
    pub bytes: u64,
    /// Events logged and since dropped by retention: every seq before
    /// the oldest kept.
    pub dropped: u64,
}

/// The retention limits, from the store's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// Most events kept; 0 turns the log off.
    pub max: usize,
    pub max_age: Option<Duration>,
    pub max_bytes: usize,
}

struct Window {
    events: VecDeque<EventImage>,
    /// The seq the next event gets.
    next_seq: u64,
    /// The seq after the newest restored from files: events from it on
    /// were logged by this process.
    restored_next: u64,
    /// The newest event's time: no event is stamped earlier.
    last_at_ms: u64,
    bytes: usize,
}

/// The log: its window behind its own lock, and the listeners.
pub(crate) struct EventLog {
    retention: Retention,
    window: Mutex<Window>,
    /// The newest seq logged, and the newest listeners were told of.
    last_seq: AtomicU64,
    woken: AtomicU64,
    listeners: RwLock<Vec<Listener>>,
}

impl EventLog {
    /// The newest seq logged.
    pub(crate) fn head(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Whether events are logged at all.
    pub(crate) fn enabled(&self) -> bool {
        self.retention.max > 0
    }

    pub(crate) fn new(retention: Retention) -> Self {
        EventLog {
            retention,
            window: Mutex::new(Window {
                events: VecDeque::new(),
                next_seq: 1,
                restored_next: 1,
                last_at_ms: 0,
                bytes: 0,
            }),
            last_seq: AtomicU64::new(0),
            woken: AtomicU64::new(0),
            listeners: RwLock::new(Vec::new()),
        }
    }

    /// Whether events are logged at all (`events_max` above 0).
    pub(crate) fn on(&self) -> bool {
        self.retention.max > 0
    }

    /// Logs one event as of `now_ms`, handing its image to `persist`
    /// (the journal append) under the log's lock, so that the journal
    /// takes events in seq order. Returns its seq.
    pub(crate) fn push(
        &self,
        now_ms: u64,
        change: Change<'_>,
        subject: &Subject<'_>,
        persist: impl FnOnce(&EventImage),
    ) -> u64 {
        let mut window = self.window.lock();
        let seq = window.next_seq;
        let at_ms = now_ms.max(window.last_at_ms);
        let image = EventImage::new(seq, at_ms, change, subject);
        persist(&image);
        window.next_seq += 1;
        window.last_at_ms = at_ms;
        self.keep(&mut window, image);
        self.trim(&mut window, now_ms);
        self.last_seq.store(seq, Ordering::Release);
        seq
    }

    /// Puts back an event read from the journal or a snapshot. One at or
    /// below a seq already restored is skipped (a fuzzy snapshot and the
    /// log after it overlap).
    pub(crate) fn restore(&self, image: EventImage) {
        let mut window = self.window.lock();
        let seq = image.seq();
        if seq < window.next_seq {
            return;
        }
        window.next_seq = seq + 1;
        window.restored_next = seq + 1;
        window.last_at_ms = window.last_at_ms.max(image.at_ms());
        self.last_seq.store(seq, Ordering::Release);
        if self.on() {
            self.keep(&mut window, image);
            // Age is applied once the store's clock is known: see `settle`.
            self.trim(&mut window, 0);
        }
    }

    /// Restores the seq the next event gets (a snapshot's EVENTS_NEXT),
    /// never moving it back.
    pub(crate) fn restore_next(&self, next_seq: u64) {
        let mut window = self.window.lock();
        if next_seq > window.next_seq {
            window.next_seq = next_seq;
            window.restored_next = next_seq;
            self.last_seq.store(next_seq - 1, Ordering::Release);
        }
    }

    /// Drops everything (a replica about to load a leader's snapshot).
    pub(crate) fn clear(&self) {
        let mut window = self.window.lock();
        window.events.clear();
        window.bytes = 0;
        window.next_seq = 1;
        window.restored_next = 1;
        window.last_at_ms = 0;
        self.last_seq.store(0, Ordering::Release);
    }

    /// Applies age retention as of `now_ms` (after recovery).
    pub(crate) fn settle(&self, now_ms: u64) {
        let mut window = self.window.lock();
        self.trim(&mut window, now_ms);
    }

    /// The seq the next event gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.window.lock().next_seq
    }

    /// Hands `attach` the events logged since the last restored one (the
    /// ends of sessions a store found expired as it opened), under the
    /// log's lock: no event is logged meanwhile, so none reaches the
    /// journal `attach` starts ahead of them.
    pub(crate) fn attach(&self, attach: impl FnOnce(&[EventImage])) {
        let window = self.window.lock();
        let restored = window.restored_next;
        let unjournaled: Vec<EventImage> = window
            .events
            .iter()
            .filter(|e| e.seq() >= restored)
            .cloned()
            .collect();
        attach(&unjournaled);
    }

    fn keep(&self, window: &mut Window, image: EventImage) {
        window.bytes += image.cost();
        window.events.push_back(image);
    }

    /// Drops the oldest events past the count, the bytes, or (when
    /// `now_ms` is not 0) the age.
    fn trim(&self, window: &mut Window, now_ms: u64) {
        let Retention {
            max,
            max_age,
            max_bytes,
        } = self.retention;
        let oldest_ms = match max_age {
            Some(age) if now_ms > 0 => now_ms.saturating_sub(age.as_millis() as u64),
            _ => 0,
        };
        while let Some(front) = window.events.front() {
            let over = window.events.len() > max || window.bytes > max_bytes;
            if !over && front.at_ms() >= oldest_ms {
                break;
            }
            window.bytes -= front.cost();
            window.events.pop_front();
        }
    }

    /// Every kept event after `after`, in order, at most `max`; a gap if
    /// retention dropped one of them. `after` at or past the newest is no
    /// gap: it reads nothing.
    pub(crate) fn read(
        &self,
        now_ms: u64,
        after: u64,
        max: usize,
    ) -> Result<Vec<EventImage>, EventsGap> {
        let mut window = self.window.lock();
        self.trim(&mut window, now_ms);
        let oldest_kept = window.events.front().map_or(window.next_seq, |e| e.seq());
        if after.saturating_add(1) < oldest_kept {
            return Err(EventsGap { after, oldest_kept });
        }
        let skip = usize::try_from(after.saturating_add(1) - oldest_kept).unwrap_or(usize::MAX);
        Ok(window.events.iter().skip(skip).take(max).cloned().collect())
    }

    /// The seq of the oldest kept event whose `(at_ms, seq)` comes after
    /// `(ms, seq)`, or the next seq to be logged if none does. Times never
    /// go down as seqs go up, so the window is sorted by the pair and this
    /// is a binary search.
    pub(crate) fn first_after(&self, now_ms: u64, ms: u64, seq: u64) -> u64 {
        let mut window = self.window.lock();
        self.trim(&mut window, now_ms);
        let at = window
            .events
            .partition_point(|e| (e.at_ms(), e.seq()) <= (ms, seq));
        window
            .events
            .get(at)
            .map_or(window.next_seq, EventImage::seq)
    }

    /// The kept events with seqs in `from..=to`, oldest first (or newest
    /// first with `reverse`), at most `max`.
    pub(crate) fn range(
        &self,
        now_ms: u64,
        from: u64,
        to: u64,
        max: usize,
        reverse: bool,
    ) -> Vec<EventImage> {
        let mut window = self.window.lock();
        self.trim(&mut window, now_ms);
        let Some(first) = window.events.front().map(EventImage::seq) else {
            return Vec::new();
        };
        let last = first + window.events.len() as u64 - 1;
        let (from, to) = (from.max(first), to.min(last));
        if from > to {
            return Vec::new();
        }
        let slice = window
            .events
            .range((from - first) as usize..=(to - first) as usize);
        match reverse {
            false => slice.take(max).cloned().collect(),
            true => slice.rev().take(max).cloned().collect(),
        }
    }

    /// Calls `each` on the kept events after `after`, at most `max`, under
    /// the log's lock (a snapshot's copy, a chunk at a time); returns the
    /// last seq visited, or `after` if none was.
    pub(crate) fn for_each_after(
        &self,
        after: u64,
        max: usize,
        each: &mut dyn FnMut(&EventImage),
    ) -> u64 {
        let window = self.window.lock();
        let mut last = after;
        let first = window.events.front().map_or(0, EventImage::seq);
        let skip =
            usize::try_from(after.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        for image in window.events.iter().skip(skip).take(max) {
            each(image);
            last = image.seq();
        }
        last
    }

    /// The figures of [`EventsInfo`].
    pub(crate) fn info(&self, now_ms: u64) -> EventsInfo {
        let mut window = self.window.lock();
        self.trim(&mut window, now_ms);
        let (first, last) = (window.events.front(), window.events.back());
        let oldest_kept = first.map_or(window.next_seq, EventImage::seq);
        EventsInfo {
            len: window.events.len(),
            first_seq: first.map_or(0, EventImage::seq),
            last_seq: window.next_seq - 1,
            first_at_ms: first.map_or(0, EventImage::at_ms),
            last_at_ms: last.map_or(0, EventImage::at_ms),
            bytes: window.bytes as u64,
            dropped: oldest_kept - 1,
        }
    }

    /// Bytes the kept events take (for the compaction's measure).
    pub(crate) fn bytes(&self) -> u64 {
        self.window.lock().bytes as u64
    }

    /// Adds a listener.
    pub(crate) fn listen(&self, listener: Listener) {
        self.listeners.write().push(listener);
    }

    /// Tells the listeners of events logged since they were last told.
    /// Called with no store lock held; one atomic load when nothing is new.
    pub(crate) fn wake(&self) {
        let last = self.last_seq.load(Ordering::Acquire);
        if last == 0 || self.woken.fetch_max(last, Ordering::AcqRel) >= last {
            return;
        }
        for listener in self.listeners.read().iter() {
            listener(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(owner: &[u8]) -> Subject<'_> {
        Subject {
            id: SessionId::from_bytes([3; 16]),
            owner,
            labels: &[],
        }
    }

    fn log(max: usize) -> EventLog {
        EventLog::new(Retention {
            max,
            max_age: Some(Duration::from_secs(10)),
            max_bytes: usize::MAX,
        })
    }

    #[test]
    fn images_round_trip_and_damaged_ones_are_refused() {
        let change = Change::Ended {
            reason: EndReason::OwnerDeleted,
            note: Some(b"kick"),
        };
        let image = EventImage::new(9, 1234, change, &subject(b"alice"));
        let back = EventImage::from_bytes(image.bytes()).unwrap();
        let event = back.decode();
        assert_eq!((event.seq, event.at_ms), (9, 1234));
        assert_eq!(event.owner, b"alice");
        assert_eq!(
            event.kind,
            EventKind::Ended {
                reason: EndReason::OwnerDeleted,
                note: Some(b"kick".to_vec())
            }
        );
        let mut bad = image.bytes().to_vec();
        bad[REASON] = 9;
        assert!(EventImage::from_bytes(&bad).is_err());
        assert!(EventImage::from_bytes(&image.bytes()[..HEADER + 2]).is_err());
    }

    #[test]
    fn reads_resume_and_report_a_gap_only_past_retention() {
        let log = log(3);
        for _ in 0..5 {
            log.push(1000, Change::Created, &subject(b"o"), |_| {});
        }
        // Kept: 3, 4, 5.
        assert_eq!(
            log.read(1000, 1, 10).unwrap_err(),
            EventsGap {
                after: 1,
                oldest_kept: 3
            }
        );
        let seqs = |v: Vec<EventImage>| v.iter().map(EventImage::seq).collect::<Vec<_>>();
        assert_eq!(seqs(log.read(1000, 2, 10).unwrap()), [3, 4, 5]);
        assert_eq!(seqs(log.read(1000, 4, 10).unwrap()), [5]);
        assert!(log.read(1000, 5, 10).unwrap().is_empty());
        assert!(log.read(1000, 99, 10).unwrap().is_empty());
        assert_eq!(seqs(log.range(1000, 0, 99, 2, true)), [5, 4]);
        // Past the age, everything goes, and after 5 is still no gap.
        assert!(log.read(20_000, 5, 10).unwrap().is_empty());
        assert!(log.read(20_000, 4, 10).is_err());
        assert_eq!(log.info(20_000).dropped, 5);
    }

    #[test]
    fn first_after_finds_a_stream_id_by_time_and_seq() {
        let log = log(10);
        // Seqs 1..=4 at 1000, 1000, 2000, 3000 ms.
        for ms in [1000, 1000, 2000, 3000] {
            log.push(ms, Change::Created, &subject(b"o"), |_| {});
        }
        let after = |ms, seq| log.first_after(3000, ms, seq);
        assert_eq!(after(0, 0), 1);
        assert_eq!(after(1000, 1), 2, "an event's own id: the one after it");
        assert_eq!(after(1000, u64::MAX), 3, "a time: the first event after it");
        assert_eq!(after(1999, 0), 3);
        assert_eq!(after(3000, 4), 5, "after the newest: the next to be logged");
        assert_eq!(after(u64::MAX, u64::MAX), 5);
    }
}
