//! The near cache's table: the sessions kept, the lease that lets them be
//! served, and the epoch that keeps a slow answer from undoing an
//! invalidation.
//!
//! Everything here is plain data behind the cache's one mutex; the
//! network is `link.rs`'s. Three rules make the cache safe (docs/events.md,
//! "Near cache"):
//!
//! - **The lease.** An entry is served only while `now < lease`, and the
//!   lease is renewed only by an answer that came on the live, registered
//!   invalidation connection (`sent + bound`). A cache that stops hearing
//!   from the server stops serving by itself, by the time the server gives
//!   up on it.
//! - **The epoch.** A miss notes the epoch, asks the server, and keeps the
//!   answer only if the epoch has not moved since: every invalidation
//!   moves it, so an answer that an invalidation overtook (the event
//!   arrived first, dropped nothing, then the older answer came) is never
//!   kept.
//! - **The session's own deadline.** An entry past the `expires_at` the
//!   server last told is never served, and a served entry asks for a
//!   coalesced TOUCH so that the server's idle deadline moves with use.
//!
//! Bounds: at most `max_entries` and `max_bytes` (data, owner and labels);
//! past either, entries go by CLOCK (second chance): a sweeping hand
//! clears each entry's `referenced` bit and evicts the first one found
//! clear, which approximates least-recently-used at O(1) per hit (a hit
//! sets a bit, it moves nothing).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sessiond_protocol::{Session, SessionId};

use super::NearCacheStats;

/// One kept session.
struct Slot {
    session: Session,
    /// What it counts against `max_bytes`.
    size: usize,
    /// Hit since the hand last passed.
    referenced: bool,
}

/// The table (see the module documentation).
pub(crate) struct Entries {
    index: HashMap<SessionId, usize>,
    slots: Vec<Option<Slot>>,
    /// Empty places in `slots`.
    free: Vec<usize>,
    /// The CLOCK hand: the next place eviction looks at.
    hand: usize,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    epoch: u64,
    /// Serve nothing at or after this; `None`: not registered.
    lease: Option<Instant>,
    /// Sessions served since the last flush that slide on use.
    touches: HashSet<SessionId>,
    stats: NearCacheStats,
}

impl Entries {
    /// An empty table with no lease yet.
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Entries {
        Entries {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
            epoch: 0,
            lease: None,
            touches: HashSet::new(),
            stats: NearCacheStats::default(),
        }
    }

    /// The session, if it may be served now: under the lease, before the
    /// session's deadline (`unix_now` in seconds). A served session that
    /// slides (`touch`, and an idle timeout) is marked for the flusher.
    pub(crate) fn lookup(
        &mut self,
        id: &SessionId,
        now: Instant,
        unix_now: u64,
        touch: bool,
    ) -> Option<Session> {
        let leased = self.lease.is_some_and(|lease| now < lease);
        let found = self.index.get(id).copied();
        let Some(place) = found.filter(|_| leased) else {
            self.stats.misses += 1;
            return None;
        };
        let slot = self.slots[place]
            .as_mut()
            .expect("indexed places hold a slot");
        // `expires_at` is the last second it is alive in; its start is
        // the last moment this cache is sure of.
        if unix_now >= slot.session.info.expires_at {
            self.remove(id);
            self.stats.misses += 1;
            return None;
        }
        slot.referenced = true;
        if touch && !slot.session.info.idle_timeout.is_zero() {
            self.touches.insert(*id);
        }
        self.stats.hits += 1;
        Some(slot.session.clone())
    }

    /// The epoch a miss notes before it asks the server.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Keeps `session`, read from the server by a miss that noted
    /// `epoch`: unless an invalidation came meanwhile, or the lease ran
    /// out, or it alone is over the bytes bound.
    pub(crate) fn insert(&mut self, session: Session, epoch: u64, now: Instant) {
        let leased = self.lease.is_some_and(|lease| now < lease);
        if epoch != self.epoch || !leased {
            return;
        }
        let size = size_of(&session);
        if size > self.max_bytes {
            return;
        }
        let id = session.info.id;
        self.remove(&id);
        while self.index.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            if !self.evict_one() {
                break;
            }
        }
        let slot = Slot {
            session,
            size,
            referenced: false,
        };
        let place = match self.free.pop() {
            Some(place) => {
                self.slots[place] = Some(slot);
                place
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(id, place);
        self.bytes += size;
    }

    /// Drops what the server said changed (events' ids), and moves the
    /// epoch. Returns how many entries went.
    pub(crate) fn invalidate(&mut self, ids: impl IntoIterator<Item = SessionId>) -> usize {
        self.epoch += 1;
        let mut dropped = 0;
        for id in ids {
            if self.remove(&id) {
                dropped += 1;
            }
        }
        self.stats.invalidations += dropped as u64;
        dropped
    }

    /// Drops an owner's entries (a kick through this cache), and moves
    /// the epoch.
    pub(crate) fn invalidate_owner(&mut self, owner: &[u8]) {
        let ids: Vec<SessionId> = self
            .slots
            .iter()
            .flatten()
            .filter(|slot| slot.session.owner == owner)
            .map(|slot| slot.session.info.id)
            .collect();
        self.invalidate(ids);
    }

    /// The connection is registered: serving is safe until `until`. The
    /// epoch moves too: a read sent before the registration may have been
    /// answered before the head the cache reads after, so a change
    /// between that answer and the head would never reach this cache.
    pub(crate) fn registered(&mut self, until: Instant) {
        self.epoch += 1;
        self.lease = Some(until);
    }

    /// An answer on the registered connection: serving is safe until
    /// `until` (its request's send time plus the server's bound).
    pub(crate) fn renew(&mut self, until: Instant) {
        self.lease = Some(until);
    }

    /// The connection is gone (or missed events): drop everything and
    /// serve nothing until registered again.
    pub(crate) fn reset(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
        self.touches.clear();
        self.hand = 0;
        self.bytes = 0;
        self.epoch += 1;
        self.lease = None;
        self.stats.resets += 1;
    }

    /// The sessions to TOUCH now, once each.
    pub(crate) fn take_touches(&mut self) -> Vec<SessionId> {
        self.touches.drain().collect()
    }

    /// A TOUCH answered: the session's new deadline.
    pub(crate) fn touched(&mut self, id: &SessionId, expires_at: u64) {
        if let Some(&place) = self.index.get(id)
            && let Some(slot) = &mut self.slots[place]
        {
            slot.session.info.expires_at = expires_at;
        }
    }

    /// The counters, with the entries and bytes held now.
    pub(crate) fn stats(&self) -> NearCacheStats {
        NearCacheStats {
            entries: self.index.len(),
            bytes: self.bytes,
            ..self.stats
        }
    }

    fn remove(&mut self, id: &SessionId) -> bool {
        let Some(place) = self.index.remove(id) else {
            return false;
        };
        if let Some(slot) = self.slots[place].take() {
            self.bytes -= slot.size;
        }
        self.free.push(place);
        self.touches.remove(id);
        true
    }

    /// Evicts the first unreferenced entry from the hand on, clearing the
    /// bits it passes; false if there is nothing to evict.
    fn evict_one(&mut self) -> bool {
        if self.index.is_empty() {
            return false;
        }
        // Two turns at most: the first clears every bit.
        for _ in 0..2 * self.slots.len() {
            let place = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let Some(slot) = &mut self.slots[place] else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let id = slot.session.info.id;
            self.remove(&id);
            self.stats.evictions += 1;
            return true;
        }
        false
    }
}

/// What a session counts against the bytes bound: its data, owner and
/// labels, plus a fixed overhead for the entry itself.
fn size_of(session: &Session) -> usize {
    const OVERHEAD: usize = 128;
    let labels: usize = session
        .info
        .labels
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    OVERHEAD + session.data.len() + session.owner.len() + labels
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sessiond_protocol::{Labels, SessionInfo};

    use super::*;

    const NOW_UNIX: u64 = 1_800_000_000;

    fn session(n: u8, data: usize) -> Session {
        Session {
            owner: vec![b'u', n % 4],
            data: vec![0; data],
            info: SessionInfo {
                id: SessionId::from_bytes([n; 16]),
                labels: Labels::new(),
                created_at: NOW_UNIX,
                last_seen_at: NOW_UNIX,
                idle_timeout: Duration::from_secs(60),
                absolute_deadline: None,
                expires_at: NOW_UNIX + 60,
                version: 1,
            },
        }
    }

    fn leased() -> (Entries, Instant) {
        let mut entries = Entries::new(3, 10_000);
        let now = Instant::now();
        entries.renew(now + Duration::from_secs(1));
        (entries, now)
    }

    #[test]
    fn a_hit_needs_the_lease_and_the_sessions_deadline() {
        let (mut entries, now) = leased();
        let s = session(1, 10);
        let id = s.info.id;
        entries.insert(s, entries.epoch(), now);
        assert!(entries.lookup(&id, now, NOW_UNIX, true).is_some());
        // Past the lease: a miss, though the entry is there.
        assert!(
            entries
                .lookup(&id, now + Duration::from_secs(1), NOW_UNIX, true)
                .is_none()
        );
        // Its last second is not served; nor is what follows.
        assert!(entries.lookup(&id, now, NOW_UNIX + 60, true).is_none());
        assert!(
            entries.lookup(&id, now, NOW_UNIX, true).is_none(),
            "dropped"
        );
        let stats = entries.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 0));
        assert_eq!(
            entries.take_touches(),
            vec![],
            "a dropped entry is not touched"
        );
    }

    #[test]
    fn an_answer_overtaken_by_an_invalidation_is_not_kept() {
        let (mut entries, now) = leased();
        let s = session(1, 10);
        let id = s.info.id;
        let noted = entries.epoch();
        // The event came first and found nothing to drop...
        assert_eq!(entries.invalidate([id]), 0);
        // ...then the older answer.
        entries.insert(s.clone(), noted, now);
        assert!(entries.lookup(&id, now, NOW_UNIX, false).is_none());
        entries.insert(s, entries.epoch(), now);
        assert!(entries.lookup(&id, now, NOW_UNIX, false).is_some());
        assert_eq!(entries.invalidate([id]), 1);
        assert!(entries.lookup(&id, now, NOW_UNIX, false).is_none());

        // A read sent before a (re)registration is not kept after it.
        let noted = entries.epoch();
        entries.registered(now + Duration::from_secs(1));
        entries.insert(session(1, 10), noted, now);
        assert!(entries.lookup(&id, now, NOW_UNIX, false).is_none());
    }

    #[test]
    fn nothing_is_kept_or_served_without_a_lease() {
        let mut entries = Entries::new(3, 10_000);
        let now = Instant::now();
        let s = session(1, 10);
        let id = s.info.id;
        entries.insert(s.clone(), entries.epoch(), now);
        assert_eq!(entries.stats().entries, 0);
        entries.renew(now + Duration::from_secs(1));
        entries.insert(s, entries.epoch(), now);
        entries.reset();
        assert!(entries.lookup(&id, now, NOW_UNIX, false).is_none());
        assert_eq!(entries.stats().resets, 1);
    }

    #[test]
    fn bounds_evict_the_unreferenced_first() {
        let (mut entries, now) = leased();
        for n in 1..=3 {
            entries.insert(session(n, 10), entries.epoch(), now);
        }
        // 1 and 3 are used; 2 is not.
        for n in [1, 3] {
            let id = SessionId::from_bytes([n; 16]);
            assert!(entries.lookup(&id, now, NOW_UNIX, false).is_some());
        }
        entries.insert(session(4, 10), entries.epoch(), now);
        let present = |entries: &mut Entries, n: u8| {
            let id = SessionId::from_bytes([n; 16]);
            entries.lookup(&id, now, NOW_UNIX, false).is_some()
        };
        assert!(!present(&mut entries, 2));
        assert!(present(&mut entries, 1) && present(&mut entries, 3) && present(&mut entries, 4));
        assert_eq!(entries.stats().evictions, 1);

        // Bytes: one large session pushes out others; one larger than the
        // bound is not kept at all.
        let mut entries = Entries::new(100, 1000);
        entries.renew(now + Duration::from_secs(1));
        for n in 1..=4 {
            entries.insert(session(n, 100), entries.epoch(), now);
        }
        assert_eq!(entries.stats().bytes, 4 * (128 + 100 + 2));
        entries.insert(session(5, 500), entries.epoch(), now);
        let stats = entries.stats();
        assert!(stats.bytes <= 1000, "{stats:?}");
        assert!(stats.evictions >= 2, "{stats:?}");
        entries.insert(session(6, 2000), entries.epoch(), now);
        assert!(!present(&mut entries, 6));
    }

    #[test]
    fn an_owners_entries_go_together() {
        let (mut entries, now) = leased();
        let a = session(1, 1);
        let b = session(5, 1); // same owner as 1 (n % 4)
        let c = session(2, 1);
        let owner = a.owner.clone();
        for s in [a, b, c] {
            entries.insert(s, entries.epoch(), now);
        }
        entries.invalidate_owner(&owner);
        assert_eq!(entries.stats().entries, 1);
    }

    #[test]
    fn served_sessions_are_touched_once_per_flush() {
        let (mut entries, now) = leased();
        let s = session(1, 1);
        let id = s.info.id;
        entries.insert(s, entries.epoch(), now);
        for _ in 0..5 {
            entries.lookup(&id, now, NOW_UNIX, true);
        }
        assert_eq!(entries.take_touches(), vec![id]);
        assert_eq!(entries.take_touches(), vec![]);
        entries.touched(&id, NOW_UNIX + 120);
        assert!(entries.lookup(&id, now, NOW_UNIX + 100, false).is_some());
    }
}
