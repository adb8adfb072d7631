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
//! earlier than it was sent, so once `bound` has passed since the
//! server *received* a cache's latest read, every lease that cache could
//! hold has run out, whatever state it is in (slow, stopped with
//! SIGSTOP, cut off by the network). Only then is it cut off and the
//! write answered. A live cache renews its lease at least every
//! `bound / 2` (its reads wait at most that), so it always has at least
//! half the bound to acknowledge before it is cut off.
//!
//! Cost: with no strict cache registered, one relaxed load per session
//! write ([`NearCaches::strict`]). With some, a write waits one event
//! round trip to each (the event wakes their parked reads, each answers
//! with its next read); the registry is a mutex taken on register, on
//! close and by each waiting write's check, never by a read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    caches: Mutex<Vec<Arc<Cache>>>,
    /// How many of `caches` are strict: the writes' one load.
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
    /// When its latest EVENTS_READ (or its registration) arrived, in
    /// milliseconds after [`NearCaches::epoch`].
    last_read_ms: AtomicU64,
    /// Set when the server cuts it off; its connection then closes.
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
    /// No cache yet; a strict write waits at most about `bound` for one.
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

    /// Whether any strict cache is registered: if not, no write waits.
    pub(crate) fn strict(&self) -> bool {
        self.strict.load(Ordering::Relaxed) > 0
    }

    /// Registered caches by mode, and those cut off: the STATS names
    /// `near_caches_strict`, `near_caches_relaxed`, `near_cache_closed`.
    pub(crate) fn figures(&self) -> [(&'static str, u64); 3] {
        let read = |c: &AtomicUsize| c.load(Ordering::Relaxed) as u64;
        [
            ("near_caches_strict", read(&self.strict)),
            ("near_caches_relaxed", read(&self.relaxed)),
            ("near_cache_closed", self.closed.load(Ordering::Relaxed)),
        ]
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn count(&self, strict: bool) -> &AtomicUsize {
        if strict { &self.strict } else { &self.relaxed }
    }

    /// Registers a connection as a cache that has handled every event up
    /// to `head` (it starts empty there).
    pub(crate) fn register(self: &Arc<Self>, mode: CacheMode, head: u64) -> Registration {
        let strict = mode == CacheMode::Strict;
        let cache = Arc::new(Cache {
            strict: AtomicBool::new(strict),
            acked: AtomicU64::new(head),
            last_read_ms: AtomicU64::new(self.now_ms()),
            cut_off: AtomicBool::new(false),
            cut: Notify::new(),
        });
        self.caches.lock().push(Arc::clone(&cache));
        self.count(strict).fetch_add(1, Ordering::Relaxed);
        Registration {
            caches: Arc::clone(self),
            cache,
        }
    }

    /// After a write that began when the store's newest event seq was
    /// `before`: if it logged an event that can leave a cache stale
    /// (anything but the one `created` of a `creation` that evicted
    /// nobody), waits as [`NearCaches::settle`] does for the newest seq.
    /// Others' events logged meanwhile may make it wait for theirs too,
    /// which costs a round trip and is never wrong.
    pub(crate) async fn settle_since(&self, store: &Store, before: u64, creation: bool) {
        let head = store.events_info().last_seq;
        if head.saturating_sub(before) > u64::from(creation) {
            self.settle(head).await;
        }
    }

    /// Waits until every strict cache has acknowledged seq `target` or
    /// has been cut off (see the module documentation). Holds no lock
    /// across its waits.
    pub(crate) async fn settle(&self, target: u64) {
        loop {
            let notified = self.acked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some(deadline) = self.laggards(target) else {
                return;
            };
            tokio::select! {
                () = &mut notified => {}
                () = sleep_until(deadline) => {}
            }
        }
    }

    /// Cuts off the strict caches whose time is up; the earliest time
    /// one of the others runs out, if any has not acknowledged `target`.
    fn laggards(&self, target: u64) -> Option<Instant> {
        let now = self.now_ms();
        let bound = self.bound.as_millis() as u64;
        let mut earliest: Option<u64> = None;
        let mut caches = self.caches.lock();
        caches.retain(|cache| {
            if !cache.strict.load(Ordering::Relaxed)
                || cache.acked.load(Ordering::Acquire) >= target
            {
                return true;
            }
            let due = cache.last_read_ms.load(Ordering::Acquire) + bound;
            if now < due {
                earliest = Some(earliest.map_or(due, |e| e.min(due)));
                return true;
            }
            // Out of the registry at once (its connection may take a while
            // to close): no later write waits for it.
            debug!(
                target,
                "cutting off a near cache that did not acknowledge in time"
            );
            cache.cut_off.store(true, Ordering::Release);
            cache.cut.notify_one();
            self.strict.fetch_sub(1, Ordering::Relaxed);
            self.closed.fetch_add(1, Ordering::Relaxed);
            false
        });
        earliest.map(|due| self.epoch + Duration::from_millis(due))
    }
}

impl Registration {
    /// An EVENTS_READ arrived on the cache's connection: it has handled
    /// every event up to `after`, and its lease runs from now at the
    /// latest.
    pub(crate) fn read(&self, after: u64) {
        self.cache
            .last_read_ms
            .store(self.caches.now_ms(), Ordering::Release);
        self.cache.acked.fetch_max(after, Ordering::AcqRel);
        self.caches.acked.notify_waiters();
    }

    /// A second CACHE_REGISTER on the connection: the new mode.
    pub(crate) fn set_mode(&self, mode: CacheMode) {
        let strict = mode == CacheMode::Strict;
        // Under the registry's lock, which a cut-off takes too.
        let caches = self.caches.caches.lock();
        if self.cut_off() {
            return;
        }
        let was = self.cache.strict.swap(strict, Ordering::AcqRel);
        if was != strict {
            self.caches.count(was).fetch_sub(1, Ordering::Relaxed);
            self.caches.count(strict).fetch_add(1, Ordering::Relaxed);
        }
        drop(caches);
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
    fn drop(&mut self) {
        let mut caches = self.caches.caches.lock();
        // A cache cut off has left the registry (and its count) already.
        let Some(place) = caches.iter().position(|c| Arc::ptr_eq(c, &self.cache)) else {
            return;
        };
        caches.swap_remove(place);
        let strict = self.cache.strict.load(Ordering::Acquire);
        self.caches.count(strict).fetch_sub(1, Ordering::Relaxed);
        drop(caches);
        // A write waiting for this cache waits no more.
        self.caches.acked.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_write_waits_for_the_acknowledgement() {
        runtime().block_on(async {
            let caches = NearCaches::new(Duration::from_secs(1));
            let cache = caches.register(CacheMode::Strict, 10);
            assert!(caches.strict());
            let started = Instant::now();
            let settle = caches.settle(11);
            tokio::pin!(settle);
            // Not before the cache has read past 11.
            assert!(
                tokio::time::timeout(Duration::from_millis(100), &mut settle)
                    .await
                    .is_err()
            );
            cache.read(11);
            settle.await;
            assert!(started.elapsed() < Duration::from_millis(200));
            assert!(!cache.cut_off());
            // What was acknowledged does not wait again.
            caches.settle(11).await;
        });
    }

    #[test]
    fn a_silent_cache_is_cut_off_a_bound_after_its_last_read_arrived() {
        runtime().block_on(async {
            let caches = NearCaches::new(Duration::from_secs(1));
            let cache = caches.register(CacheMode::Strict, 0);
            tokio::time::sleep(Duration::from_millis(400)).await;
            cache.read(0);
            let started = Instant::now();
            caches.settle(5).await;
            // 1 s after the read that arrived at 400 ms, not after the write.
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(990), "{waited:?}");
            assert!(waited <= Duration::from_millis(1100), "{waited:?}");
            assert!(cache.cut_off());
            cache.until_cut_off().await;
            assert_eq!(caches.figures()[2], ("near_cache_closed", 1));
        });
    }

    #[test]
    fn relaxed_and_closed_caches_hold_nothing_up() {
        runtime().block_on(async {
            let caches = NearCaches::new(Duration::from_secs(1));
            let relaxed = caches.register(CacheMode::Relaxed, 0);
            assert!(!caches.strict());
            caches.settle(5).await;
            relaxed.set_mode(CacheMode::Strict);
            assert!(caches.strict());
            let settle = caches.settle(5);
            tokio::pin!(settle);
            assert!(
                tokio::time::timeout(Duration::from_millis(50), &mut settle)
                    .await
                    .is_err()
            );
            drop(relaxed);
            settle.await;
            assert!(!caches.strict());
            assert_eq!(caches.figures()[0], ("near_caches_strict", 0));
        });
    }
}
