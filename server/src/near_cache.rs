//! The near caches connected to this server (SPEC.md §8, CACHE_REGISTER;
//! docs/events.md, "Near cache"), and the wait that makes strict mode
//! strict.
//!
//! A near cache is an app server's in-process copy of the sessions it
//! read. It learns what to drop from the event log, on a connection of
//! its own that it registers here; each EVENTS_READ it sends there says
//! "I have dropped everything up to `after`". A session write that ends,
//! rotates or changes a session ([`NearCaches::settle`]) is answered only
//! once every strict cache has said so for the write's events, or has
//! been cut off.
//!
//! When to cut a cache off is the one subtle rule. The cache serves an
//! entry only while it holds a lease: `bound` after it *sent* the latest
//! EVENTS_READ whose answer it received. That read reached the server no
//! earlier than it was sent, so once `bound` (and a small margin for
//! clocks, [`NearCaches::lease_end`]) has passed since the server
//! *received* a cache's latest read, every lease that cache could hold
//! has run out, whatever state it is in (slow, stopped with SIGSTOP, cut
//! off by the network). Only then is the write answered without it. A
//! cut is final: the reads that come after it are refused unanswered
//! (deciding the cut and accepting a read take the same lock). A live cache renews its lease at least every
//! `bound / 2` (its reads wait at most that), so it always has at least
//! half the bound to acknowledge before it is cut off.
//!
//! A cache that stops reading is cut off once its last lease has run
//! out; one that reads but never gets to the write's events (a bug, or a
//! hostile client) is cut off `bound` after the write began and waited
//! for until its lease from its last accepted read has run out: a write
//! waits at most about twice the bound. A strict cache whose connection
//! ended is waited for the same way until its last lease has run out (a
//! partitioned app server may not know yet).
//!
//! Cost: an atomic load of the event log's head before and after each
//! write; a fence and a load more after a write that logged session
//! events ([`NearCaches::settle_since`]). With some, a write waits one event
//! round trip to each (the event wakes their parked reads, each answers
//! with its next read); the registry is a mutex taken on register, on
//! close, on each of a cache's reads and by each waiting write's check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::time::Duration;

use parking_lot::Mutex;
use sessiond::Store;
use sessiond_protocol::wire::CacheMode;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tracing::debug;

/// Every registered cache, and the writes waiting for them.
pub(crate) struct NearCaches {
    bound: Duration,
    /// Where the caches' `last_read` times count from.
    epoch: Instant,
    /// The live caches, and the strict ones cut off or gone whose last
    /// lease may not have run out yet (they are waited for until it has).
    caches: Mutex<Vec<Arc<Cache>>>,
    /// How many of `caches` are strict: a write's one load. Changed under
    /// `caches`' lock only.
    strict: AtomicUsize,
    relaxed: AtomicUsize,
    /// Woken by every acknowledgement and every close.
    acked: Notify,
    /// Caches cut off for not acknowledging in time.
    closed: AtomicU64,
}

/// One registered cache's connection, as the server sees it.
pub(crate) struct Cache {
    strict: AtomicBool,
    /// The highest `after` its EVENTS_READs carried.
    acked: AtomicU64,
    /// When its latest accepted EVENTS_READ (or its registration)
    /// arrived, in milliseconds after [`NearCaches::epoch`].
    last_read_ms: AtomicU64,
    /// No read is accepted from it any more (the server cut it off, or
    /// its connection ended): its last lease runs out at
    /// [`NearCaches::lease_end`]. Set under the registry's lock, which
    /// accepting a read takes too, so a read is either counted before the
    /// cut or refused.
    cut_off: AtomicBool,
    /// Wakes its connection to close.
    cut: Notify,
}

/// A connection's registration, given up when the connection ends.
pub(crate) struct Registration {
    caches: Arc<NearCaches>,
    cache: Arc<Cache>,
}

impl NearCaches {
    /// No cache yet; a strict write waits at most about twice `bound`
    /// for one.
    pub(crate) fn new(bound: Duration) -> Arc<NearCaches> {
        Arc::new(NearCaches {
            bound,
            epoch: Instant::now(),
            caches: Mutex::new(Vec::new()),
            strict: AtomicUsize::new(0),
            relaxed: AtomicUsize::new(0),
            acked: Notify::new(),
            closed: AtomicU64::new(0),
        })
    }

    /// How long a strict write waits for a cache, and so a cache's lease.
    pub(crate) fn bound(&self) -> Duration {
        self.bound
    }

    /// Registered caches by mode (connected ones), and those cut off: the
    /// STATS names `near_caches_strict`, `near_caches_relaxed`,
    /// `near_cache_closed`.
    pub(crate) fn figures(&self) -> [(&'static str, u64); 3] {
        let caches = self.caches.lock();
        let connected = |strict: bool| {
            let mode = |c: &&Arc<Cache>| c.strict.load(Ordering::Relaxed) == strict;
            let live = |c: &&Arc<Cache>| !c.cut_off.load(Ordering::Relaxed);
            caches.iter().filter(mode).filter(live).count() as u64
        };
        [
            ("near_caches_strict", connected(true)),
            ("near_caches_relaxed", connected(false)),
            ("near_cache_closed", self.closed.load(Ordering::Relaxed)),
        ]
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// When the last lease a cache whose latest read arrived at
    /// `last_read_ms` can hold has surely run out: the bound after it,
    /// plus a millisecond for this clock's rounding down, another for
    /// the cache's, and 0.1% of the bound for the two clocks' rates
    /// (NTP slews a monotonic clock by at most 0.05%).
    fn lease_end(&self, last_read_ms: u64) -> u64 {
        let bound = self.bound.as_millis() as u64;
        last_read_ms + bound + bound / 1000 + 2
    }

    fn count(&self, strict: bool) -> &AtomicUsize {
        if strict { &self.strict } else { &self.relaxed }
    }

    /// Registers a connection as a cache and returns where it reads from:
    /// the newest seq, read *after* the registration is counted (with a
    /// fence on each side, see [`NearCaches::settle_since`]), so that a
    /// write that did not see this cache has its events at or before
    /// the head this cache starts from.
    pub(crate) fn register(
        self: &Arc<Self>,
        mode: CacheMode,
        store: &Store,
    ) -> (Registration, u64) {
        let strict = mode == CacheMode::Strict;
        let cache = Arc::new(Cache {
            strict: AtomicBool::new(strict),
            acked: AtomicU64::new(0),
            last_read_ms: AtomicU64::new(self.now_ms()),
            cut_off: AtomicBool::new(false),
            cut: Notify::new(),
        });
        {
            let mut caches = self.caches.lock();
            caches.push(Arc::clone(&cache));
            self.count(strict).fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        let head = store.events_head();
        cache.acked.fetch_max(head, Ordering::AcqRel);
        let registration = Registration {
            caches: Arc::clone(self),
            cache,
        };
        (registration, head)
    }

    /// After a write that began when the store's newest event seq was
    /// `before`: if strict caches are registered and the write logged an
    /// event that can leave one stale (anything but the one `created` of
    /// a `creation` that evicted nobody), waits as [`NearCaches::settle`]
    /// does for the newest seq. Others' events logged meanwhile may make
    /// it wait for theirs too, which costs a round trip and is never
    /// wrong.
    ///
    /// The check comes after the write, not before: a cache registering
    /// while the write ran is then either seen here or registered after
    /// the write's events (the two fences order this load and the
    /// registration's count, as a store and a load on each side), and so
    /// reads from a head that already holds them.
    pub(crate) async fn settle_since(&self, store: &Store, before: u64, creation: bool) {
        // Most writes log nothing (plain keys): one load, and no fence.
        let head = store.events_head();
        if head.saturating_sub(before) <= u64::from(creation) {
            return;
        }
        // Between this write's events (already stored, by this thread)
        // and the look at the count.
        fence(Ordering::SeqCst);
        if self.strict.load(Ordering::SeqCst) > 0 {
            self.settle(head).await;
        }
    }

    /// Waits until every strict cache has acknowledged seq `target` or
    /// has been cut off and its last lease has run out (see the module
    /// documentation). A cache that goes on reading without getting to
    /// `target` is cut off `bound` after the wait began, so the wait is
    /// at most about twice the bound. Holds no lock across its waits.
    pub(crate) async fn settle(&self, target: u64) {
        let started = self.now_ms();
        loop {
            let notified = self.acked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some(deadline) = self.laggards(target, started) else {
                return;
            };
            tokio::select! {
                () = &mut notified => {}
                () = sleep_until(deadline) => {}
            }
        }
    }

    /// Cuts off the strict caches whose time is up and forgets those whose
    /// last lease has run out; the earliest time one of those still to
    /// wait for changes, if any.
    fn laggards(&self, target: u64, started: u64) -> Option<Instant> {
        let now = self.now_ms();
        let give_up = started + self.bound.as_millis() as u64;
        let mut earliest: Option<u64> = None;
        let mut caches = self.caches.lock();
        caches.retain(|cache| {
            let strict = cache.strict.load(Ordering::Relaxed);
            let lease_end = self.lease_end(cache.last_read_ms.load(Ordering::Acquire));
            let mut cut = cache.cut_off.load(Ordering::Acquire);
            if cut && now >= lease_end {
                self.count(strict).fetch_sub(1, Ordering::SeqCst);
                return false;
            }
            if !strict || cache.acked.load(Ordering::Acquire) >= target {
                return true;
            }
            if !cut && (now >= lease_end || now >= give_up) {
                debug!(
                    target,
                    "cutting off a near cache that did not acknowledge in time"
                );
                cache.cut_off.store(true, Ordering::Release);
                cache.cut.notify_one();
                self.closed.fetch_add(1, Ordering::Relaxed);
                cut = true;
                if now >= lease_end {
                    self.count(strict).fetch_sub(1, Ordering::SeqCst);
                    return false;
                }
            }
            let due = if cut {
                lease_end
            } else {
                lease_end.min(give_up)
            };
            earliest = Some(earliest.map_or(due, |e| e.min(due)));
            true
        });
        earliest.map(|due| self.epoch + Duration::from_millis(due))
    }
}

impl Registration {
    /// An EVENTS_READ arrived on the cache's connection: it has handled
    /// every event up to `after`, and its lease runs from now at the
    /// latest. False if the cache has been cut off: the read must not be
    /// answered (an answer would renew a lease the server gave up on).
    #[must_use]
    pub(crate) fn read(&self, after: u64) -> bool {
        {
            let _caches = self.caches.caches.lock();
            if self.cut_off() {
                return false;
            }
            self.cache
                .last_read_ms
                .store(self.caches.now_ms(), Ordering::Release);
            self.cache.acked.fetch_max(after, Ordering::AcqRel);
        }
        self.caches.acked.notify_waiters();
        true
    }

    /// What the cache has acknowledged: the head a second CACHE_REGISTER
    /// answers with, so that a client that takes it as its `after` skips
    /// nothing.
    pub(crate) fn acked(&self) -> u64 {
        self.cache.acked.load(Ordering::Acquire)
    }

    /// A second CACHE_REGISTER on the connection: the new mode.
    pub(crate) fn set_mode(&self, mode: CacheMode) {
        let strict = mode == CacheMode::Strict;
        {
            // Under the registry's lock, which a cut-off takes too.
            let _caches = self.caches.caches.lock();
            if self.cut_off() {
                return;
            }
            let was = self.cache.strict.swap(strict, Ordering::AcqRel);
            if was != strict {
                self.caches.count(was).fetch_sub(1, Ordering::SeqCst);
                self.caches.count(strict).fetch_add(1, Ordering::SeqCst);
            }
        }
        self.caches.acked.notify_waiters();
    }

    /// Whether the server has cut this cache off: its connection closes.
    pub(crate) fn cut_off(&self) -> bool {
        self.cache.cut_off.load(Ordering::Acquire)
    }

    /// Resolves once the server cuts this cache off.
    pub(crate) async fn until_cut_off(&self) {
        loop {
            let notified = self.cache.cut.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.cut_off() {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Registration {
    /// The connection ended. A relaxed cache goes at once; a strict one
    /// stays (reading nothing more) until its last lease has run out: a
    /// cache whose connection the server saw end may not know it yet (a
    /// partition), and serves until then.
    fn drop(&mut self) {
        {
            let mut caches = self.caches.caches.lock();
            if let Some(place) = caches.iter().position(|c| Arc::ptr_eq(c, &self.cache)) {
                if self.cache.strict.load(Ordering::Acquire) {
                    self.cache.cut_off.store(true, Ordering::Release);
                } else {
                    caches.swap_remove(place);
                    self.caches.relaxed.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        // A write waiting for this cache may wait less now.
        self.caches.acked.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use sessiond::StoreConfig;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    fn store() -> Store {
        Store::new(StoreConfig::default())
    }

    const BOUND: Duration = Duration::from_secs(1);
    /// `lease_end`'s margin at a bound of 1 s.
    const MARGIN: Duration = Duration::from_millis(3);

    #[test]
    fn a_write_waits_for_the_acknowledgement() {
        runtime().block_on(async {
            let caches = NearCaches::new(BOUND);
            let (cache, head) = caches.register(CacheMode::Strict, &store());
            assert_eq!(head, 0);
            let started = Instant::now();
            let settle = caches.settle(11);
            tokio::pin!(settle);
            // Not before the cache has read past 11.
            assert!(
                tokio::time::timeout(Duration::from_millis(100), &mut settle)
                    .await
                    .is_err()
            );
            assert!(cache.read(11));
            settle.await;
            assert!(started.elapsed() < Duration::from_millis(200));
            assert!(!cache.cut_off());
            // What was acknowledged does not wait again.
            caches.settle(11).await;
            assert_eq!(cache.acked(), 11);
        });
    }

    #[test]
    fn a_silent_cache_is_cut_off_when_its_last_lease_runs_out() {
        runtime().block_on(async {
            let caches = NearCaches::new(BOUND);
            let (cache, _) = caches.register(CacheMode::Strict, &store());
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(cache.read(0));
            let started = Instant::now();
            caches.settle(5).await;
            // A bound (and the margin) after the read that arrived at
            // 400 ms, not after the write.
            let waited = started.elapsed();
            assert!(waited >= BOUND + MARGIN, "{waited:?}");
            assert!(waited <= BOUND + Duration::from_millis(100), "{waited:?}");
            assert!(cache.cut_off());
            cache.until_cut_off().await;
            // A read that comes now is refused: it must not renew a lease.
            assert!(!cache.read(5));
            assert_eq!(caches.figures()[2], ("near_cache_closed", 1));
            assert_eq!(caches.figures()[0], ("near_caches_strict", 0));
        });
    }

    #[test]
    fn a_cache_that_reads_but_never_catches_up_holds_a_write_at_most_twice_the_bound() {
        runtime().block_on(async {
            let caches = NearCaches::new(BOUND);
            let (cache, _) = caches.register(CacheMode::Strict, &store());
            let started = Instant::now();
            let settle = {
                let caches = Arc::clone(&caches);
                tokio::spawn(async move { caches.settle(5).await })
            };
            // Reads every 100 ms, each below the write's seq.
            let mut refused_at = None;
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if !cache.read(1) {
                    refused_at = Some(started.elapsed());
                    break;
                }
            }
            let refused_at = refused_at.expect("cut off");
            assert!(refused_at >= BOUND && refused_at <= BOUND + Duration::from_millis(150));
            settle.await.unwrap();
            let waited = started.elapsed();
            assert!(
                waited <= 2 * BOUND + MARGIN + Duration::from_millis(10),
                "{waited:?}"
            );
        });
    }

    #[test]
    fn relaxed_caches_hold_nothing_up_and_a_gone_strict_one_until_its_lease_ends() {
        runtime().block_on(async {
            let caches = NearCaches::new(BOUND);
            let (cache, _) = caches.register(CacheMode::Relaxed, &store());
            caches.settle(5).await;
            cache.set_mode(CacheMode::Strict);
            assert_eq!(caches.figures()[0], ("near_caches_strict", 1));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(cache.read(0));
            let settle = caches.settle(5);
            tokio::pin!(settle);
            assert!(
                tokio::time::timeout(Duration::from_millis(50), &mut settle)
                    .await
                    .is_err()
            );
            // Its connection ends: it may still serve under its lease, so
            // the write waits for that to run out, not longer.
            let read_at = Instant::now() - Duration::from_millis(50);
            drop(cache);
            settle.await;
            let waited = read_at.elapsed();
            assert!(waited >= BOUND + MARGIN, "{waited:?}");
            assert!(waited <= BOUND + Duration::from_millis(60), "{waited:?}");
            assert_eq!(
                caches.figures(),
                [
                    ("near_caches_strict", 0),
                    ("near_caches_relaxed", 0),
                    ("near_cache_closed", 0),
                ]
            );
        });
    }
}
