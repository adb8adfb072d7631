//! [`Store`], the cheap-clone handle over the engine's shared state, and
//! `Inner`, that state: the shards, the memory meter, the log. Every other
//! module of the engine reaches the state through `Inner`'s methods here;
//! its fields are this file's alone.
//!
//! # Modules
//! The operations on a `Store` live beside this file, one concern each:
//! `session_ops.rs` (one session by id: create, read, update, delete,
//! rotate), `owner_ops.rs` (an owner's sessions: list, count, delete, the
//! owner limit), `keyspace.rs` (plain keys and their TTLs), `sets.rs`
//! (set-valued keys), `string_ops.rs`, `key_ops.rs`, `set_ops.rs` and
//! `multi_key.rs` (the rest of Redis's string, key and set commands, and
//! the commands on several keys), `key_scan.rs` (the whole key space:
//! KEYS, SCAN, DBSIZE, FLUSHALL) and `on_disk.rs` (opening a data directory, and the
//! store's side of recovery and compaction). Those modules use this one,
//! never the reverse. Below this file sit the tables (`sessions.rs`,
//! `owners.rs`, `keys.rs`), the meter (`memory.rs`), the expiry cycle's
//! pacing (`expiry.rs`, which reaches the store through its `Sweep` trait)
//! and `persist/` (which reaches it through `Restore` and `Source`), none
//! of which knows `Inner`.
//!
//! # Locks
//! Three sharded tables, each shard behind its own `parking_lot::Mutex`:
//! sessions (by id), the owner index (by owner) and plain keys (by key).
//! A mutex rather than a read-write lock because nearly every read of a
//! session writes too (sliding expiry moves `last seen`), and critical
//! sections are a hash probe and a small copy: far shorter than the cost of
//! a reader count bouncing between cores. Std-style blocking locks rather
//! than async ones because no lock is ever held across an `.await` or any
//! I/O, so async callers never wait longer than such a critical section.
//!
//! The order that keeps this deadlock-free: an owner-shard lock may be
//! taken first and a session-shard lock inside it, never the reverse, and
//! no code holds two locks of the same kind at once, except key shards in
//! `multi_key.rs`, which a command on several keys locks in ascending
//! index. A key-shard lock is never held with a lock of another table.
//! Operations that start from an id (delete, rotate, expiry, eviction)
//! therefore read what they need, let go, and then take the owner lock. See `owners.rs` for how the owner
//! index stays exact in spite of that gap.
//!
//! The log's own lock (`persist/journal.rs`) is taken last, inside a shard
//! lock, and nothing is locked inside it. Memory is reserved before any
//! shard lock (reserving may evict, which locks session and owner shards)
//! and freed after the lock is let go.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sessiond_protocol::limits::{check_data_len, timeout_secs};
use sessiond_protocol::{EndReason, StoreError};

use crate::clock::{Clock, SystemClock};
use crate::config::{MemoryPolicy, StoreConfig};
use crate::event_groups::Groups;
use crate::events::{EventLog, Retention};
use crate::expiry::{self, BATCH, Cursor, ExpiryReport, Sweep};
use crate::hashing::{Hasher, shard_of};
use crate::key_events::KeyEvents;
use crate::keys::KeyShard;
use crate::memory::{MemoryMeter, Reservation, SESSION_OVERHEAD};
use crate::owners::{OWNER_OVERHEAD, OwnerShard};
use crate::persist::{self, CompactionReport, Durability, Entry, Journal, PersistStats};
use crate::record::SessionRecord;
use crate::replica::{self, TouchLog};
use crate::sessions::SessionShard;
use crate::shard::Shard;
use crate::stats::{Counters, Stats};

/// The session store: a cheap-clone handle (an `Arc`) over shared state.
///
/// Every operation is thread-safe and holds a shard lock for no longer than
/// a hash probe and a copy, so it may be called from async code directly.
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    /// Shared by the handles alone: see [`Handles`].
    _handles: Arc<Handles>,
}

/// What every [`Store`] handle shares and no thread of the engine holds,
/// so that it is dropped with the last handle, on that handle's thread:
/// it then writes and fsyncs what the log still holds and stops the
/// flusher. A store dropped cleanly loses nothing, whatever the fsync
/// policy. (The directory's lock goes with `Inner`: at once, unless a
/// snapshot being written still holds the store.)
///
/// This is not `Inner`'s drop because the engine's own threads (the
/// flusher weighing the store, a snapshot copying it, the expiry cycle)
/// upgrade weak references to `Inner`, and one of them can hold the last
/// strong one when the last handle goes: the flusher would then run the
/// drop itself and join its own thread. Here the flusher is joined while
/// this value still holds `Inner`, so no engine thread ever drops it
/// with the log still running.
struct Handles(Arc<Inner>);

impl Drop for Handles {
    fn drop(&mut self) {
        if let Some(journal) = self.0.journal.get() {
            journal.shut_down();
        }
        // The directory is free as soon as the last handle goes, not when
        // a background thread that briefly holds the state lets go of it:
        // a caller that drops a store and opens the directory again must
        // not find it locked. Nothing reaches the disk after the journal
        // has shut down.
        drop(self.0.dir_lock.lock().take());
    }
}

/// Entries of a table's doubling (`growing.rs`) the expiry cycle moves
/// per shard visit: some 40 µs of lock hold at a cache miss each, and a
/// shard of 100,000 no longer written to finishes within a minute at ten
/// visits a second (writes move it on faster).
const SETTLE: usize = 256;

/// The state every handle of one store shares.
pub(crate) struct Inner {
    config: StoreConfig,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    sessions: Box<[Shard<SessionShard>]>,
    owners: Box<[Shard<OwnerShard>]>,
    keys: Box<[Shard<KeyShard>]>,
    /// The hook that tells a server of key changes (`key_events.rs`).
    key_events: Arc<KeyEvents>,
    /// The session event log (`events.rs`), behind its own lock.
    events: EventLog,
    /// The event log's consumer groups (`event_groups.rs`), taken before
    /// the event log's lock and never inside a shard lock.
    groups: Mutex<Groups>,
    memory: MemoryMeter,
    counters: Counters,
    expiry_cursor: Cursor,
    evict_cursor: AtomicUsize,
    high_water: AtomicU64,
    /// The append-only log, when the store has a data directory; set once,
    /// after recovery has replayed the directory (replay is not logged).
    journal: OnceLock<Arc<Journal>>,
    /// Touches deferred for a replication layer (`replica.rs`), once asked.
    touches: OnceLock<TouchLog>,
    /// The data directory's lock, held until the last handle drops.
    dir_lock: Mutex<Option<std::fs::File>>,
}

impl Store {
    /// A store on the system clock.
    pub fn new(config: StoreConfig) -> Store {
        Store::with_clock(config, SystemClock)
    }

    /// A store reading time from `clock` (a [`crate::ManualClock`] in
    /// tests).
    pub fn with_clock(config: StoreConfig, clock: impl Clock) -> Store {
        Store::build(config, Arc::new(clock), None)
    }

    /// An empty store, holding `dir_lock` (a data directory's) as long as
    /// it lives.
    pub(crate) fn build(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
        dir_lock: Option<std::fs::File>,
    ) -> Store {
        let shards = config.shards.clamp(1, 4096).next_power_of_two();
        let hasher = Hasher::random();
        let started = clock.now_ms();
        let key_events = Arc::new(KeyEvents::default());
        let inner = Arc::new(Inner {
            clock,
            sessions: (0..shards)
                .map(|_| Shard::new(SessionShard::new(hasher.clone())))
                .collect(),
            owners: (0..shards)
                .map(|_| Shard::new(OwnerShard::new(hasher.clone())))
                .collect(),
            keys: (0..shards)
                .map(|_| Shard::new(KeyShard::new(hasher.clone(), Arc::clone(&key_events))))
                .collect(),
            key_events,
            events: EventLog::new(Retention {
                max: config.events_max,
                max_age: config.events_max_age,
                max_bytes: config.events_max_bytes,
            }),
            groups: Mutex::new(Groups::default()),
            hasher,
            memory: MemoryMeter::new(config.memory_limit, config.memory_policy),
            counters: Counters::default(),
            expiry_cursor: Cursor::default(),
            evict_cursor: AtomicUsize::new(0),
            high_water: AtomicU64::new(started),
            journal: OnceLock::new(),
            touches: OnceLock::new(),
            dir_lock: Mutex::new(dir_lock),
            config,
        });
        if inner.config.background_expiry {
            expiry::spawn_background(Arc::downgrade(&inner));
        }
        Store {
            _handles: Arc::new(Handles(Arc::clone(&inner))),
            inner,
        }
    }

    /// Changes the memory limit while the store runs (`None`: none), as
    /// an operator's `CONFIG SET maxmemory` does; [`Store::config`] keeps
    /// the value it started with, [`Store::stats`] shows the one in force.
    /// Lowering it evicts nothing by itself: the next writes that need
    /// memory evict or are refused, by the policy in force.
    pub fn set_memory_limit(&self, limit: Option<u64>) {
        self.inner.memory.set_limit(limit);
    }

    /// Changes what happens at the memory limit while the store runs.
    pub fn set_memory_policy(&self, policy: MemoryPolicy) {
        self.inner.memory.set_policy(policy);
    }

    /// The memory policy in force (the configured one until changed).
    pub fn memory_policy(&self) -> MemoryPolicy {
        self.inner.memory.policy()
    }

    /// The settings this store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// The store's time in Unix milliseconds: its clock, never earlier
    /// than a time it has read before. Faces that answer with the time
    /// (RESP's TIME) or check a deadline against it read this rather than
    /// the system clock, so that they agree with the store's expiry, and
    /// with a [`ManualClock`](crate::ManualClock) in tests.
    pub fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }

    /// For a store with a data directory: the handle a server uses to wait
    /// for durability per batch (see [`crate::PersistConfig::acknowledge_in_call`]).
    pub fn durability(&self) -> Option<Durability> {
        self.inner
            .journal
            .get()
            .map(|j| Durability::new(Arc::clone(j)))
    }

    /// The state of the data directory; `None` in memory.
    pub fn persistence(&self) -> Option<PersistStats> {
        self.inner.journal.get().map(|j| j.stats())
    }

    /// `Err(StoreError::Persistence)` while the data directory refuses
    /// writes (a full disk); reads go on. Always `Ok` in memory. Every
    /// write of the store checks this itself; a server may call it to
    /// refuse a whole request early.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.writable()
    }

    /// Writes a snapshot now and drops the log before it (compaction runs
    /// by itself when the log outgrows the live data; this is for tests
    /// and operators). Returns what it did once it is done; `None` in
    /// memory, where there is nothing to compact.
    pub fn compact(&self) -> Result<Option<CompactionReport>, StoreError> {
        match self.inner.journal.get() {
            Some(journal) => journal
                .compact()
                .map(Some)
                .map_err(|e| StoreError::Persistence(e.into())),
            None => Ok(None),
        }
    }

    /// Runs one expiry cycle now, for at most about `budget`.
    ///
    /// The background thread does this on its own; call it yourself when
    /// `background_expiry` is off, or in tests with a manual clock.
    pub fn run_expiry_cycle(&self, budget: Duration) -> ExpiryReport {
        expiry::cycle(&*self.inner, budget)
    }

    /// What the store holds and has done.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let sum = |lens: &mut dyn Iterator<Item = usize>| lens.map(|n| n as u64).sum();
        Stats {
            sessions: sum(&mut inner.sessions.iter().map(|s| s.lock().len())),
            keys: sum(&mut inner.keys.iter().map(|s| s.lock().len())),
            owners: sum(&mut inner.owners.iter().map(|s| s.lock().len())),
            bytes_used: inner.memory.used(),
            memory_limit: inner.memory.limit(),
            expired_sessions: Counters::read(&inner.counters.expired_sessions),
            expired_keys: Counters::read(&inner.counters.expired_keys),
            evicted_sessions: Counters::read(&inner.counters.evicted_sessions),
            limit_evictions: Counters::read(&inner.counters.limit_evictions),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The state's interface to the rest of the engine: time, shards, memory,
/// the log, and the steps every operation shares.
impl Inner {
    /// The settings.
    pub(crate) fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The time, never earlier than any time this store has read before.
    ///
    /// A wall clock can step back (an NTP correction); if the store
    /// followed it, a session that had expired but was not yet swept would
    /// come back to life. So store time pauses instead, until the clock
    /// catches up. The shared high-water mark is written at most once per
    /// millisecond, so it costs reads nothing measurable.
    ///
    /// While a replication layer replays a write (`replica.rs`), this
    /// thread reads the time the leader stamped on it instead.
    pub(crate) fn now_ms(&self) -> u64 {
        if let Some(pinned) = replica::pinned_ms() {
            return pinned;
        }
        let now = self.clock.now_ms();
        let seen = self.high_water.load(Ordering::Relaxed);
        if now <= seen {
            return seen;
        }
        self.high_water.fetch_max(now, Ordering::Relaxed);
        now
    }

    /// The current Unix second, as sessions record time.
    pub(crate) fn now_s(&self) -> u32 {
        u32::try_from(self.now_ms() / 1000).unwrap_or(u32::MAX)
    }

    /// Every session shard, for walks over all of them (flush, snapshot).
    pub(crate) fn session_shards(&self) -> &[Shard<SessionShard>] {
        &self.sessions
    }

    /// Every key shard, for walks over all of them (KEYS, SCAN, flush,
    /// snapshot).
    pub(crate) fn key_shards(&self) -> &[Shard<KeyShard>] {
        &self.keys
    }

    /// The shard of the session with this id prefix.
    pub(crate) fn session_shard(&self, prefix: u64) -> &Mutex<SessionShard> {
        let hash = self.hasher.prefix(prefix);
        &self.sessions[shard_of(hash, self.sessions.len())]
    }

    /// The owner's shard of the owner index.
    pub(crate) fn owner_shard(&self, owner: &[u8]) -> &Mutex<OwnerShard> {
        &self.owners[shard_of(self.hasher.bytes(owner), self.owners.len())]
    }

    /// The key's shard.
    pub(crate) fn key_shard(&self, key: &[u8]) -> &Mutex<KeyShard> {
        &self.keys[self.key_shard_index(key)]
    }

    /// The index of the key's shard in [`Inner::key_shards`]: the order in
    /// which commands on several keys lock their shards (`multi_key.rs`).
    pub(crate) fn key_shard_index(&self, key: &[u8]) -> usize {
        shard_of(self.hasher.bytes(key), self.keys.len())
    }

    /// The hook every write of the key space calls (`key_events.rs`).
    pub(crate) fn key_events(&self) -> &KeyEvents {
        &self.key_events
    }

    /// The hook, shared, for the switch a server keeps.
    pub(crate) fn key_events_arc(&self) -> Arc<KeyEvents> {
        Arc::clone(&self.key_events)
    }

    /// The memory meter: for freeing what was removed, and for charging
    /// what exists whatever the limit. A write reserves with
    /// [`Inner::reserve`] instead.
    pub(crate) fn memory(&self) -> &MemoryMeter {
        &self.memory
    }

    /// The event counters.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Session data or a value must fit the configured limit (and a
    /// record's `u32` length, see thin.rs).
    pub(crate) fn check_value(&self, len: usize) -> Result<(), StoreError> {
        check_data_len(len, self.config.max_data_bytes)
    }

    /// The deadline, in Unix milliseconds, of a positive TTL from now.
    pub(crate) fn deadline_after(&self, ttl: Duration) -> Result<u64, StoreError> {
        if ttl.is_zero() {
            return Err(StoreError::BadTimeout("a TTL must be positive".into()));
        }
        timeout_secs(ttl)?;
        Ok(self.now_ms() + ttl.as_millis() as u64)
    }

    /// Reserves `bytes` for a write about to be made, evicting by the
    /// memory policy if needed (see [`MemoryMeter::reserve`]). Call before
    /// taking any shard lock.
    pub(crate) fn reserve(&self, bytes: usize) -> Result<Reservation<'_>, StoreError> {
        self.memory.reserve(bytes, || self.evict_one())
    }

    /// Evicts one session near its deadline: of a few shards sampled, the
    /// one whose wheel starts earliest gives up its first session. Like
    /// Redis's sampled eviction, this approximates the global order at a
    /// fixed cost. Returns false if there is nothing to evict.
    fn evict_one(&self) -> bool {
        const SAMPLES: usize = 4;
        let n = self.sessions.len();
        let start = self.evict_cursor.fetch_add(SAMPLES, Ordering::Relaxed);
        for round in 0..n.div_ceil(SAMPLES) {
            let sampled = (0..SAMPLES)
                .map(|k| (start + round * SAMPLES + k) % n)
                .filter_map(|i| self.sessions[i].lock().first_due().map(|s| (s, i)));
            let Some((_, i)) = sampled.min() else {
                continue;
            };
            let evicted = {
                let mut shard = self.sessions[i].lock();
                let evicted = shard.evict_nearest(64);
                if let Some(record) = &evicted {
                    self.log_end(record, EndReason::MemoryEvicted, None, self.now_s());
                }
                evicted
            };
            if let Some(record) = evicted {
                self.unlink(&record);
                Counters::bump(&self.counters.evicted_sessions, 1);
                self.events.wake();
                return true;
            }
        }
        false
    }

    /// Appends a record to the log, if the store has one. Called with the
    /// lock of what changed still held, so the log's order is the order of
    /// the changes (see `persist/snapshot.rs` for why that matters).
    pub(crate) fn log<'a>(&self, entry: impl FnOnce() -> Entry<'a>) {
        if let Some(journal) = self.journal.get() {
            journal.append(&entry());
        }
    }

    /// Whether the store has a log (so that a write may skip building
    /// records nobody reads).
    pub(crate) fn has_journal(&self) -> bool {
        self.journal.get().is_some()
    }

    /// Logs encoded key records as one: a record alone as itself, several
    /// as one BATCH record, which a crash keeps whole or not at all.
    pub(crate) fn log_encoded(&self, bodies: &[Vec<u8>]) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        match bodies {
            [] => {}
            [body] => match Entry::decode(body) {
                Ok(entry) => drop(journal.append(&entry)),
                Err(_) => unreachable!("a body this build encoded decodes"),
            },
            bodies => drop(journal.append(&Entry::Batch(&persist::pack_bodies(bodies)))),
        }
    }

    /// The log, if the store has one (for appends that build their
    /// records themselves, as events do).
    pub(crate) fn journal(&self) -> Option<&Journal> {
        self.journal.get().map(|j| &**j)
    }

    /// The session event log.
    pub(crate) fn events(&self) -> &EventLog {
        &self.events
    }

    /// The event log's consumer groups.
    pub(crate) fn groups(&self) -> &Mutex<Groups> {
        &self.groups
    }

    /// Logs a plain key as it now is in `shard` (or that it is gone).
    pub(crate) fn log_key(&self, shard: &KeyShard, key: &[u8]) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        match shard.get(key) {
            Some(entry) => persist::with_key_entry(entry, |record| journal.append(record)),
            None => journal.append(&Entry::EndKey { key }),
        };
    }

    /// Sliding expiry, logged sparingly: only when `last seen` enters a new
    /// slack interval (see `persist/mod.rs`), so reads are not disk writes.
    /// In a replication group a read's touch is deferred instead, to reach
    /// every node through the log (`replica.rs`).
    pub(crate) fn touch(&self, record: &mut SessionRecord, now: u32) {
        let before = record.last_seen();
        if let Some(touches) = self.touches.get()
            && !replica::replaying()
        {
            if now > before {
                touches.push(record.id(), now);
            }
            return;
        }
        record.touch(now);
        // While writes are refused, touches stay in memory (see
        // `persist/journal.rs`).
        let Some(journal) = self.journal.get().filter(|j| !j.refusing()) else {
            return;
        };
        if now <= before {
            return;
        }
        let slack = (record.idle() / 100).clamp(1, 60);
        if before / slack != now / slack {
            journal.append(&Entry::Touch {
                id: *record.id().as_bytes(),
                last_seen: now,
            });
        }
    }

    /// `Err` while the data directory refuses writes. Every write checks
    /// this first, deletes included: a change the log cannot take would
    /// be undone by a restart.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        match self.journal.get() {
            Some(journal) => journal.check_writable(),
            None => Ok(()),
        }
    }

    /// Under `fsync always` in embedded use, waits until the write just
    /// made is on disk before it is acknowledged.
    /// Every write ends here, after letting its locks go, so this is also
    /// where the event listeners hear of what it logged.
    pub(crate) fn acknowledge<T>(&self, out: Result<T, StoreError>) -> Result<T, StoreError> {
        self.events.wake();
        match (out, self.journal.get()) {
            (Ok(value), Some(journal)) => journal.acknowledge().map(|()| value),
            (out, _) => out,
        }
    }

    /// Unlinks a removed session from its owner and frees its memory.
    /// Called after the session's shard lock is let go (lock order).
    pub(crate) fn unlink(&self, removed: &SessionRecord) {
        let owner = removed.owner();
        let mut freed = removed.len() + SESSION_OVERHEAD;
        if self
            .owner_shard(owner)
            .lock()
            .unlink(owner, removed.prefix())
        {
            freed += owner.len() + OWNER_OVERHEAD;
        }
        self.memory.free(freed);
    }

    /// The touches kept for a replication layer.
    pub(crate) fn touches(&self) -> &OnceLock<TouchLog> {
        &self.touches
    }

    /// Starts logging to `journal` (once recovery has replayed the
    /// directory).
    /// The events logged while opening (sessions found expired) are
    /// journaled first, before any later change can be.
    pub(crate) fn attach_journal(&self, journal: Arc<Journal>) {
        self.journal_recovered_events(|| {
            let _ = self.journal.set(journal);
        });
    }
}

/// The expiry cycle's way in: one batch of one shard at a time.
impl Sweep for Inner {
    fn shard_count(&self) -> usize {
        self.sessions.len()
    }

    fn cursor(&self) -> &Cursor {
        &self.expiry_cursor
    }

    fn now(&self) -> (u64, u32) {
        (self.now_ms(), self.now_s())
    }

    fn sweep_shard(
        &self,
        i: usize,
        (now_ms, now_s): (u64, u32),
        report: &mut ExpiryReport,
    ) -> bool {
        let mut removed = Vec::with_capacity(BATCH);
        let (sessions, more_sessions) = {
            let mut shard = self.sessions[i].lock();
            let held = Instant::now();
            let out = shard.expire(now_s, BATCH, &mut removed);
            for record in &removed {
                self.log_expired(record);
            }
            shard.settle(SETTLE);
            report.record_hold(held.elapsed());
            out
        };
        let keys = {
            let mut shard = self.keys[i].lock();
            let held = Instant::now();
            let out = shard.expire(now_ms, BATCH);
            shard.settle(SETTLE);
            report.record_hold(held.elapsed());
            out
        };
        // Owners expire with their sessions; their table only doubles.
        {
            let mut shard = self.owners[i].lock();
            let held = Instant::now();
            if shard.settle(SETTLE) > 0 {
                report.record_hold(held.elapsed());
            }
        }
        report.examined += (sessions + keys.examined) as u64;
        report.sessions_expired += removed.len() as u64;
        report.keys_expired += keys.removed as u64;
        Counters::bump(&self.counters.expired_sessions, removed.len());
        Counters::bump(&self.counters.expired_keys, keys.removed);
        self.memory.free(keys.bytes);
        // Unlinking and freeing happen here, outside the shard lock.
        for record in &removed {
            self.unlink(record);
        }
        if !removed.is_empty() {
            self.events.wake();
        }
        more_sessions || keys.more
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::Store;
    use crate::config::StoreConfig;
    use crate::persist::PersistConfig;

    /// Polls `done` for up to 10 s.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "waited 10 s for {what}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A fresh directory, removed on drop.
    struct Scratch(std::path::PathBuf);
    impl Scratch {
        fn new(name: &str) -> Scratch {
            Scratch(std::env::temp_dir().join(format!(
                "sessiond-unit-{name}-{}-{}",
                std::process::id(),
                sessiond_protocol::SessionId::random()
            )))
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Fails one fsync of the log (dropping what it was to write, as Linux
    /// may) under `fsync`, and checks that the store is rescued by a
    /// snapshot before writes resume, so that a session whose log record
    /// was lost is on disk at the next start.
    fn survives_a_failed_fsync(fsync: crate::FsyncPolicy) {
        use sessiond_protocol::NewSession;
        let dir = Scratch::new("fsyncgate");
        let persist = PersistConfig {
            fsync,
            ..PersistConfig::new(&dir.0)
        };
        let config = StoreConfig {
            background_expiry: false,
            ..StoreConfig::default()
        };
        let (store, _) = Store::open_with(config.clone(), persist.clone()).unwrap();
        let before = store.create(NewSession::new(b"alice".to_vec())).unwrap();
        let journal = Arc::clone(store.inner.journal.get().unwrap());
        wait_for("the first record to be durable", || {
            store.persistence().unwrap().unsynced_bytes == 0
        });
        journal.fail_fsyncs(1);
        let lost = store.create(NewSession::new(b"bob".to_vec()));
        if fsync == crate::FsyncPolicy::Always {
            assert!(
                lost.is_err(),
                "a write whose fsync failed is not acknowledged"
            );
        }
        let lost = match lost {
            Ok(id) => id,
            // In memory all the same, only not acknowledged.
            Err(_) => store.list(b"bob")[0].id,
        };
        // The rescue is a snapshot; writes are refused until it is done.
        wait_for("the rescue snapshot to let writes in again", || {
            let stats = store.persistence().unwrap();
            stats.compactions >= 1 && stats.refusing_writes.is_none()
        });
        let after = store.create(NewSession::new(b"carol".to_vec())).unwrap();
        drop(store);
        drop(journal);
        let (reopened, _) = Store::open_with(config, persist).unwrap();
        for (who, id) in [("before", before), ("lost record", lost), ("after", after)] {
            assert!(reopened.peek(&id).is_ok(), "the session written {who}");
        }
    }

    #[test]
    fn a_failed_fsync_under_always_acknowledges_nothing_and_the_store_is_rescued() {
        survives_a_failed_fsync(crate::FsyncPolicy::Always);
    }

    #[test]
    fn a_failed_fsync_under_everysec_never_marks_the_lost_range_durable() {
        survives_a_failed_fsync(crate::FsyncPolicy::EverySec);
    }

    #[test]
    fn the_last_handle_dropped_while_the_flusher_holds_the_store_loses_nothing() {
        struct Removed(std::path::PathBuf);
        impl Drop for Removed {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = Removed(std::env::temp_dir().join(format!(
            "sessiond-unit-flusher-drop-{}-{}",
            std::process::id(),
            sessiond_protocol::SessionId::random()
        )));
        let dir = &dir.0;
        let persist = PersistConfig {
            // The flusher upgrades its handle on the store every round to
            // weigh the log against it, and never compacts.
            compact_min_bytes: 0,
            compact_ratio: u64::MAX,
            ..PersistConfig::new(dir)
        };
        let config = StoreConfig {
            background_expiry: false,
            ..StoreConfig::default()
        };
        let (store, _) = Store::open_with(config.clone(), persist.clone()).unwrap();
        let journal = Arc::clone(store.inner.journal.get().unwrap());
        journal.hold_next_upgrade();
        wait_for("the flusher to hold the store", || {
            journal.holding_upgrade()
        });
        // Appended while the flusher holds on, so not yet written.
        store.set_key(b"last", b"words", None).unwrap();
        drop(store);
        // The flusher and the fsync thread hold the journal until they end.
        wait_for("the store's threads to end", || {
            Arc::strong_count(&journal) == 1
        });
        let (store, _) = Store::open_with(config, persist).unwrap();
        assert_eq!(
            store.get_key(b"last"),
            Some(b"words".to_vec()),
            "the write before the last handle's drop is lost"
        );
    }
}
