//! [`Store`]: the cheap-clone handle over the engine's shared state, and
//! every operation on it.
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
//! no code holds two locks of the same kind at once. Operations that start
//! from an id (delete, rotate, expiry) therefore read what they need, let
//! go, and then take the owner lock. See `owners.rs` for how the owner
//! index stays exact in spite of that gap.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use sessiond_protocol::SessionId;
use sessiond_protocol::decimal::Decimal;
use sessiond_protocol::limits::{
    check_data_len, check_key, check_labels, check_owner, timeout_secs,
};

use crate::clock::{Clock, SystemClock};
use crate::config::{MemoryPolicy, StoreConfig};
use crate::expiry;
use crate::hashing::{Hasher, shard_of};
use crate::keys::{self, KeyShard};
use crate::memory::{MemoryMeter, SESSION_OVERHEAD};
use crate::owners::{OWNER_OVERHEAD, OwnerShard};
use crate::persist::{
    self, CompactionReport, Durability, Entry, Journal, PersistConfig, PersistError, PersistStats,
    RecoveryReport,
};
use crate::record::{SessionRecord, Times, encode_labels};
use crate::sessions::SessionShard;
use crate::stats::{Counters, Stats};
use sessiond_protocol::{
    KeyTtl, LimitPolicy, NewSession, OwnerLimit, Session, SessionInfo, StoreError,
};

/// The session store: a cheap-clone handle (an `Arc`) over shared state.
///
/// Every operation is thread-safe and holds a shard lock for no longer than
/// a hash probe and a copy, so it may be called from async code directly.
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: StoreConfig,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    pub(crate) sessions: Box<[Mutex<SessionShard>]>,
    owners: Box<[Mutex<OwnerShard>]>,
    pub(crate) keys: Box<[Mutex<KeyShard>]>,
    pub(crate) memory: MemoryMeter,
    pub(crate) counters: Counters,
    pub(crate) expiry_cursor: AtomicUsize,
    evict_cursor: AtomicUsize,
    high_water: AtomicU64,
    /// The append-only log, when the store has a data directory; set once,
    /// after recovery has replayed the directory (replay is not logged).
    journal: OnceLock<Arc<Journal>>,
    /// The data directory's lock, held as long as the store lives.
    _dir_lock: Option<std::fs::File>,
}

impl Drop for Inner {
    /// Writes and fsyncs what the log still holds: a store dropped cleanly
    /// loses nothing, whatever the fsync policy.
    fn drop(&mut self) {
        if let Some(journal) = self.journal.get() {
            journal.shut_down();
        }
    }
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

    /// A store kept on disk in `dir` (created if missing), with default
    /// settings: everything it held before a restart or crash is back (see
    /// [`Store::open_with`]).
    pub fn open(dir: impl Into<std::path::PathBuf>) -> Result<Store, PersistError> {
        let (store, _) = Store::open_with(StoreConfig::default(), PersistConfig::new(dir))?;
        Ok(store)
    }

    /// A store kept on disk as `persist` says: loads the newest snapshot
    /// and the logs after it, then logs every mutation. Returns what the
    /// load found. Fails if the directory is in use by another store, or
    /// damaged and `persist.repair` is off.
    pub fn open_with(
        config: StoreConfig,
        persist: PersistConfig,
    ) -> Result<(Store, RecoveryReport), PersistError> {
        Store::open_with_clock(config, persist, SystemClock)
    }

    /// [`Store::open_with`] on another clock (a [`crate::ManualClock`] in
    /// tests of expiry across restarts).
    pub fn open_with_clock(
        config: StoreConfig,
        persist: PersistConfig,
        clock: impl Clock,
    ) -> Result<(Store, RecoveryReport), PersistError> {
        std::fs::create_dir_all(&persist.dir).map_err(PersistError::at(&persist.dir))?;
        let lock = persist::lock_dir(&persist.dir).map_err(PersistError::at(&persist.dir))?;
        let store = Store::build(config, Arc::new(clock), Some(lock));
        let inner = &store.inner;
        let (mut report, log, snapshot_bytes) = persist::recover(inner, &persist)?;
        let loaded = store.stats();
        (report.sessions, report.keys) = (loaded.sessions, loaded.keys);
        let journal = persist::start_journal(&persist, log, snapshot_bytes, Arc::downgrade(inner));
        let _ = inner.journal.set(journal);
        Ok((store, report))
    }

    fn build(config: StoreConfig, clock: Arc<dyn Clock>, dir_lock: Option<std::fs::File>) -> Store {
        let shards = config.shards.clamp(1, 4096).next_power_of_two();
        let hasher = Hasher::random();
        let started = clock.now_ms();
        let inner = Arc::new(Inner {
            clock,
            sessions: (0..shards)
                .map(|_| Mutex::new(SessionShard::new(hasher.clone())))
                .collect(),
            owners: (0..shards)
                .map(|_| Mutex::new(OwnerShard::new(hasher.clone())))
                .collect(),
            keys: (0..shards)
                .map(|_| Mutex::new(KeyShard::new(hasher.clone())))
                .collect(),
            hasher,
            memory: MemoryMeter::new(config.memory_limit),
            counters: Counters::default(),
            expiry_cursor: AtomicUsize::new(0),
            evict_cursor: AtomicUsize::new(0),
            high_water: AtomicU64::new(started),
            journal: OnceLock::new(),
            _dir_lock: dir_lock,
            config,
        });
        if inner.config.background_expiry {
            expiry::spawn_background(Arc::downgrade(&inner));
        }
        Store { inner }
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
    /// for durability per batch (see [`PersistConfig::acknowledge_in_call`]).
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
    /// writes (a full disk); reads go on. Always `Ok` in memory.
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

    /// Creates a session and returns its id.
    ///
    /// Enforces the owner's session limit (the store's, or the one the
    /// `NewSession` overrides it with) and the memory limit.
    pub fn create(&self, new: NewSession) -> Result<SessionId, StoreError> {
        let inner = &*self.inner;
        let config = &inner.config;
        inner.writable()?;
        check_owner(&new.owner)?;
        inner.check_value(new.data.len())?;
        check_labels(&new.labels)?;
        let labels = encode_labels(&new.labels);
        let idle = timeout_secs(new.idle.unwrap_or(config.default_idle_timeout))?;
        let lifetime = match new.absolute.or(config.default_absolute_lifetime) {
            Some(d) => timeout_secs(d)?,
            None => 0,
        };
        if idle == 0 && lifetime == 0 {
            return Err(StoreError::BadTimeout(
                "a session needs an idle timeout or an absolute lifetime".into(),
            ));
        }
        let now = inner.now_s();
        let times = Times {
            now,
            idle,
            absolute: if lifetime == 0 {
                0
            } else {
                now.saturating_add(lifetime)
            },
        };
        let id = new.id.unwrap_or_else(SessionId::random);
        let record = SessionRecord::new(id, &new.owner, &labels, &new.data, &times, 1);
        let bytes = record.len() + SESSION_OVERHEAD;
        inner.reserve(bytes)?;
        let limit = new.limit.unwrap_or(config.owner_limit);
        let created = inner
            .link_new(&new.owner, record, limit, new.id.is_some())
            .inspect_err(|_| inner.memory.release(bytes));
        inner.acknowledge(created)
    }

    /// Reads a session and touches it (sliding expiry).
    pub fn get(&self, id: &SessionId) -> Result<Session, StoreError> {
        self.inner.read(id, true)
    }

    /// Reads a session without touching it.
    pub fn peek(&self, id: &SessionId) -> Result<Session, StoreError> {
        self.inner.read(id, false)
    }

    /// Replaces a session's data, bumps its version and touches it; with
    /// `expected_version`, only if the session is still at that version
    /// (two tabs of one user writing at once). Returns the new version.
    pub fn update(
        &self,
        id: &SessionId,
        data: &[u8],
        expected_version: Option<u32>,
    ) -> Result<u32, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        inner.check_value(data.len())?;
        // Reserve the new data before taking the shard lock (reserving may
        // evict, which locks other shards), settle the exact size after.
        inner.reserve(data.len())?;
        let now = inner.now_s();
        let outcome = {
            let mut shard = inner.session_shard(id.prefix()).lock();
            match shard.get(id).filter(|r| !r.is_expired(now)) {
                None => Err(StoreError::NotFound),
                Some(r) if expected_version.is_some_and(|v| v != r.version()) => {
                    Err(StoreError::VersionMismatch {
                        expected: expected_version.unwrap_or_default(),
                        actual: r.version(),
                    })
                }
                Some(r) => {
                    let fresh = r.with_data(data, now);
                    inner.log(|| Entry::Session(fresh.image()));
                    let (version, new_len) = (fresh.version(), fresh.len());
                    let old = shard.replace(fresh).expect("found above");
                    Ok((version, new_len, old.len()))
                }
            }
        };
        inner.memory.release(data.len());
        let (version, new_len, old_len) = outcome?;
        inner.memory.add(new_len);
        inner.memory.release(old_len);
        inner.acknowledge(Ok(version))
    }

    /// Pushes a session's idle deadline out. Returns the new `expires_at`
    /// (Unix seconds).
    pub fn touch(&self, id: &SessionId) -> Result<u64, StoreError> {
        let now = self.inner.now_s();
        let mut shard = self.inner.session_shard(id.prefix()).lock();
        let record = shard
            .get_mut(id)
            .filter(|r| !r.is_expired(now))
            .ok_or(StoreError::NotFound)?;
        self.inner.touch(record, now);
        Ok(record.expires_at().into())
    }

    /// Deletes a session; says whether a live one was there.
    pub fn delete(&self, id: &SessionId) -> bool {
        let inner = &*self.inner;
        let now = inner.now_s();
        let Some(record) = inner.remove_session(id) else {
            return false;
        };
        let live = !record.is_expired(now);
        inner.unlink(&record);
        inner.acknowledge_quietly();
        live
    }

    /// Gives a session a new id, keeping its data, owner and labels, and
    /// touches it. The old id stops working at once: use this at login and
    /// at every change of privilege, against session fixation.
    pub fn rotate(&self, id: &SessionId) -> Result<SessionId, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let now = inner.now_s();
        let owner: Box<[u8]> = {
            let shard = inner.session_shard(id.prefix()).lock();
            let record = shard.get(id).filter(|r| !r.is_expired(now));
            record.ok_or(StoreError::NotFound)?.owner().into()
        };
        let mut owners = inner.owner_shard(&owner).lock();
        let removed = inner.session_shard(id.prefix()).lock().remove(id);
        // Gone in between (deleted or expired elsewhere): its remover
        // unlinks it, as the comment on lock order describes.
        let mut record = removed.ok_or(StoreError::NotFound)?;
        if record.is_expired(now) {
            drop(owners);
            inner.unlink(&record);
            return Err(StoreError::NotFound);
        }
        record.touch(now);
        let new_id = loop {
            let candidate = SessionId::random();
            let mut shard = inner.session_shard(candidate.prefix()).lock();
            if shard.by_prefix(candidate.prefix()).is_none() {
                record.set_id(candidate);
                // New before old: a crash between the two records leaves
                // both ids, never neither.
                inner.log(|| Entry::Session(record.image()));
                inner.log(|| Entry::EndSession { id: *id.as_bytes() });
                shard.insert(record);
                break candidate;
            }
        };
        if let Some(entry) = owners.get_mut(&owner) {
            entry.relink(id.prefix(), new_id.prefix());
        }
        drop(owners);
        inner.acknowledge(Ok(new_id))
    }

    /// The owner's live sessions (no data), most recently seen first.
    pub fn list(&self, owner: &[u8]) -> Vec<SessionInfo> {
        let mut sessions = Vec::new();
        self.inner.for_each_live(owner, |r| sessions.push(r.info()));
        sessions.sort_by(|a, b| {
            (b.last_seen_at, b.created_at, a.id).cmp(&(a.last_seen_at, a.created_at, b.id))
        });
        sessions.dedup_by_key(|s| s.id);
        sessions
    }

    /// How many live sessions the owner has.
    pub fn count(&self, owner: &[u8]) -> usize {
        let mut prefixes = Vec::new();
        self.inner
            .for_each_live(owner, |r| prefixes.push(r.prefix()));
        prefixes.sort_unstable();
        prefixes.dedup();
        prefixes.len()
    }

    /// Deletes every session of `owner` but `keep` ("log out everywhere
    /// else"; `None` for an admin kick). Returns how many live sessions
    /// ended.
    pub fn delete_owner(&self, owner: &[u8], keep: Option<&SessionId>) -> usize {
        let inner = &*self.inner;
        let now = inner.now_s();
        let keep = keep.map(SessionId::prefix);
        let mut owners = inner.owner_shard(owner).lock();
        let Some(entry) = owners.get_mut(owner) else {
            return 0;
        };
        let (mut ended, mut freed) = (0, 0);
        entry.retain(|prefix| {
            if Some(prefix) == keep {
                return true;
            }
            let mut shard = inner.session_shard(prefix).lock();
            if let Some(record) = shard.remove_prefix_if(prefix, |r| r.owner() == owner) {
                inner.log_end(&record);
                ended += usize::from(!record.is_expired(now));
                freed += record.len() + SESSION_OVERHEAD;
            }
            false
        });
        if owners.drop_if_empty(owner) {
            freed += owner.len() + OWNER_OVERHEAD;
        }
        drop(owners);
        inner.memory.release(freed);
        inner.acknowledge_quietly();
        ended
    }

    /// Sets a plain key, with a time to live or none.
    pub fn set_key(
        &self,
        key: &[u8],
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let value = value.as_ref();
        inner.writable()?;
        check_key(key)?;
        inner.check_value(value.len())?;
        let deadline = ttl.map(|ttl| inner.deadline_after(ttl)).transpose()?;
        let bytes = keys::footprint(key, value);
        inner.reserve(bytes)?;
        let old = {
            let mut shard = inner.key_shard(key).lock();
            let old = shard.set(key, keys::Value::Str(value), deadline);
            inner.log_key(&shard, key);
            old
        };
        inner.memory.release(old);
        inner.acknowledge(Ok(()))
    }

    /// A plain key's value; `None` also for a key holding a set, which
    /// [`Store::get_string`] tells apart.
    pub fn get_key(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get_string(key).ok().flatten()
    }

    /// Deletes a plain key; says whether a live one was there.
    pub fn delete_key(&self, key: &[u8]) -> bool {
        let inner = &*self.inner;
        let now = inner.now_ms();
        let removed = {
            let mut shard = inner.key_shard(key).lock();
            let removed = shard.remove(key);
            if removed.is_some() {
                inner.log(|| Entry::EndKey { key });
            }
            removed
        };
        let Some(entry) = removed else {
            return false;
        };
        inner.memory.release(entry.footprint());
        inner.acknowledge_quietly();
        entry.deadline().is_none_or(|d| now < d)
    }

    /// Sets (`Some`) or removes (`None`) a plain key's time to live; a zero
    /// TTL deletes the key. Says whether the key exists.
    pub fn expire_key(&self, key: &[u8], ttl: Option<Duration>) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        if ttl == Some(Duration::ZERO) {
            return Ok(self.delete_key(key));
        }
        let deadline = ttl.map(|ttl| inner.deadline_after(ttl)).transpose()?;
        let (now, mut freed) = (inner.now_ms(), 0);
        let mut shard = inner.key_shard(key).lock();
        let exists = shard.live(key, now, &mut freed).is_some();
        if exists {
            shard.set_deadline(key, deadline);
            inner.log_key(&shard, key);
        }
        drop(shard);
        inner.memory.release(freed);
        inner.acknowledge(Ok(exists))
    }

    /// A plain key's time to live.
    pub fn ttl(&self, key: &[u8]) -> KeyTtl {
        let now = self.inner.now_ms();
        self.inner
            .with_live_key(key, |entry| match entry.deadline() {
                None => KeyTtl::Persistent,
                Some(d) => KeyTtl::ExpiresIn(Duration::from_millis(d - now)),
            })
            .unwrap_or(KeyTtl::Missing)
    }

    /// Adds `delta` to the integer in a plain key (a missing key counts as
    /// 0 and is created without a TTL; an existing TTL is kept), and
    /// returns the result. The value is stored as decimal text.
    pub fn incr(&self, key: &[u8], delta: i64) -> Result<i64, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(key)?;
        // The longest i64 is 20 characters: reserve for that, settle after.
        let reserved = keys::footprint(key, &[0; 20]);
        inner.reserve(reserved)?;
        let (now, mut freed) = (inner.now_ms(), 0);
        let mut shard = inner.key_shard(key).lock();
        let outcome = match shard.live(key, now, &mut freed) {
            Some(entry) => (entry.as_str().ok_or(StoreError::WrongType))
                .and_then(|text| Decimal::parse(text).ok_or(StoreError::NotAnInteger))
                .and_then(|n| n.checked_add(delta).ok_or(StoreError::Overflow))
                .map(|n| {
                    let old = entry.footprint();
                    entry.replace_str(Decimal::of(n).as_bytes());
                    (n, entry.footprint(), old)
                }),
            None => {
                let text = Decimal::of(delta);
                let bytes = keys::footprint(key, text.as_bytes());
                shard.set(key, keys::Value::Str(text.as_bytes()), None);
                Ok((delta, bytes, 0))
            }
        };
        if outcome.is_ok() {
            inner.log_key(&shard, key);
        }
        drop(shard);
        inner.memory.release(reserved + freed);
        let (n, new, old) = outcome?;
        inner.memory.add(new);
        inner.memory.release(old);
        inner.acknowledge(Ok(n))
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

impl Inner {
    /// The time, never earlier than any time this store has read before.
    ///
    /// A wall clock can step back (an NTP correction); if the store
    /// followed it, a session that had expired but was not yet swept would
    /// come back to life. So store time pauses instead, until the clock
    /// catches up. The shared high-water mark is written at most once per
    /// millisecond, so it costs reads nothing measurable.
    pub(crate) fn now_ms(&self) -> u64 {
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

    pub(crate) fn session_shard(&self, prefix: u64) -> &Mutex<SessionShard> {
        let hash = self.hasher.prefix(prefix);
        &self.sessions[shard_of(hash, self.sessions.len())]
    }

    pub(crate) fn owner_shard(&self, owner: &[u8]) -> &Mutex<OwnerShard> {
        &self.owners[shard_of(self.hasher.bytes(owner), self.owners.len())]
    }

    pub(crate) fn key_shard(&self, key: &[u8]) -> &Mutex<KeyShard> {
        &self.keys[shard_of(self.hasher.bytes(key), self.keys.len())]
    }

    /// Session data or a value must fit the configured limit (and a
    /// record's `u32` length, see thin.rs).
    pub(crate) fn check_value(&self, len: usize) -> Result<(), StoreError> {
        check_data_len(len, self.config.max_data_bytes)
    }

    pub(crate) fn deadline_after(&self, ttl: Duration) -> Result<u64, StoreError> {
        if ttl.is_zero() {
            return Err(StoreError::BadTimeout("a TTL must be positive".into()));
        }
        timeout_secs(ttl)?;
        Ok(self.now_ms() + ttl.as_millis() as u64)
    }

    fn read(&self, id: &SessionId, touch: bool) -> Result<Session, StoreError> {
        let now = self.now_s();
        let mut shard = self.session_shard(id.prefix()).lock();
        let record = shard
            .get_mut(id)
            .filter(|r| !r.is_expired(now))
            .ok_or(StoreError::NotFound)?;
        if touch {
            self.touch(record, now);
        }
        Ok(Session {
            owner: record.owner().to_vec(),
            data: record.data().to_vec(),
            info: record.info(),
        })
    }

    /// Calls `f` on each live session of `owner`, under the owner's lock.
    fn for_each_live(&self, owner: &[u8], mut f: impl FnMut(&SessionRecord)) {
        let now = self.now_s();
        let owners = self.owner_shard(owner).lock();
        let Some(entry) = owners.get(owner) else {
            return;
        };
        for prefix in entry.handles() {
            let shard = self.session_shard(prefix).lock();
            if let Some(record) = shard
                .by_prefix(prefix)
                .filter(|r| r.owner() == owner && !r.is_expired(now))
            {
                f(record);
            }
        }
    }

    pub(crate) fn with_live_key<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(&keys::KeyEntry) -> T,
    ) -> Option<T> {
        let (now, mut freed) = (self.now_ms(), 0);
        let mut shard = self.key_shard(key).lock();
        let out = shard.live(key, now, &mut freed).map(|entry| f(entry));
        drop(shard);
        self.memory.release(freed);
        out
    }

    /// Links a new session under its owner, enforcing the owner's limit.
    fn link_new(
        &self,
        owner: &[u8],
        mut record: SessionRecord,
        limit: Option<OwnerLimit>,
        id_chosen: bool,
    ) -> Result<SessionId, StoreError> {
        let mut owners = self.owner_shard(owner).lock();
        let (entry, new_entry) = owners.get_or_insert(owner);
        if new_entry {
            self.memory.add(owner.len() + OWNER_OVERHEAD);
        }
        let room = match limit {
            Some(limit) => self.make_room(owner, entry, limit),
            None => Ok(()),
        };
        let outcome = room.and_then(|()| {
            loop {
                let id = record.id();
                let mut shard = self.session_shard(id.prefix()).lock();
                if shard.by_prefix(id.prefix()).is_none() {
                    self.log(|| Entry::Session(record.image()));
                    shard.insert(record);
                    entry.link(id.prefix());
                    break Ok(id);
                }
                if id_chosen {
                    break Err(StoreError::IdTaken);
                }
                // A generated id whose prefix is taken: astronomically rare,
                // but a fresh one costs nothing.
                record.set_id(SessionId::random());
            }
        });
        if outcome.is_err() && owners.drop_if_empty(owner) {
            self.memory.release(owner.len() + OWNER_OVERHEAD);
        }
        outcome
    }

    /// Brings an owner below its session limit, by the limit's policy.
    fn make_room(
        &self,
        owner: &[u8],
        entry: &mut crate::owners::OwnerEntry,
        limit: OwnerLimit,
    ) -> Result<(), StoreError> {
        let now = self.now_s();
        // (last seen, handle) of each live session.
        let mut live: Vec<(u32, u64)> = Vec::new();
        for prefix in entry.handles() {
            let shard = self.session_shard(prefix).lock();
            if let Some(r) = shard
                .by_prefix(prefix)
                .filter(|r| r.owner() == owner && !r.is_expired(now))
            {
                live.push((r.last_seen(), prefix));
            }
        }
        live.sort_unstable_by_key(|&(_, prefix)| prefix);
        live.dedup_by_key(|&mut (_, prefix)| prefix);
        let max = limit.max_sessions as usize;
        while live.len() >= max {
            let oldest = live.iter().enumerate().min_by_key(|(_, s)| **s);
            let (LimitPolicy::EvictOldest, Some((i, &(_, prefix)))) = (limit.policy, oldest) else {
                return Err(StoreError::SessionLimit {
                    limit: limit.max_sessions,
                });
            };
            live.swap_remove(i);
            let removed = {
                let mut shard = self.session_shard(prefix).lock();
                let removed = shard.remove_prefix_if(prefix, |r| r.owner() == owner);
                if let Some(record) = &removed {
                    self.log_end(record);
                }
                removed
            };
            entry.unlink(prefix);
            if let Some(record) = removed {
                self.memory.release(record.len() + SESSION_OVERHEAD);
                Counters::bump(&self.counters.limit_evictions, 1);
            }
        }
        Ok(())
    }

    /// Takes `bytes` from the memory budget, evicting by policy if needed.
    pub(crate) fn reserve(&self, bytes: usize) -> Result<(), StoreError> {
        let mut refused = match self.memory.try_reserve(bytes) {
            Ok(()) => return Ok(()),
            Err(refused) => refused,
        };
        // Evicting cannot help a write larger than the whole limit, so such
        // a write costs nobody their session.
        let hopeless = self
            .memory
            .limit()
            .is_some_and(|limit| bytes as u64 > limit);
        if self.config.memory_policy == MemoryPolicy::Reject || hopeless {
            return Err(refused);
        }
        while self.evict_one() {
            match self.memory.try_reserve(bytes) {
                Ok(()) => return Ok(()),
                Err(e) => refused = e,
            }
        }
        Err(refused)
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
                    self.log_end(record);
                }
                evicted
            };
            if let Some(record) = evicted {
                self.unlink(&record);
                Counters::bump(&self.counters.evicted_sessions, 1);
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

    /// Logs that a session ended.
    pub(crate) fn log_end(&self, record: &SessionRecord) {
        self.log(|| Entry::EndSession {
            id: *record.id().as_bytes(),
        });
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
    fn touch(&self, record: &mut SessionRecord, now: u32) {
        let before = record.last_seen();
        record.touch(now);
        if self.journal.get().is_none() || now <= before {
            return;
        }
        let slack = (record.idle() / 100).clamp(1, 60);
        if before / slack != now / slack {
            self.log(|| Entry::Touch {
                id: *record.id().as_bytes(),
                last_seen: now,
            });
        }
    }

    /// Removes a session by id, logging it.
    fn remove_session(&self, id: &SessionId) -> Option<SessionRecord> {
        let mut shard = self.session_shard(id.prefix()).lock();
        let removed = shard.remove(id);
        if let Some(record) = &removed {
            self.log_end(record);
        }
        removed
    }

    /// `Err` while the data directory refuses writes.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        match self.journal.get() {
            Some(journal) => journal.check_writable(),
            None => Ok(()),
        }
    }

    /// Under `fsync always` in embedded use, waits until the write just
    /// made is on disk before it is acknowledged.
    pub(crate) fn acknowledge<T>(&self, out: Result<T, StoreError>) -> Result<T, StoreError> {
        match (out, self.journal.get()) {
            (Ok(value), Some(journal)) => journal.acknowledge().map(|()| value),
            (out, _) => out,
        }
    }

    /// [`Inner::acknowledge`] for the writes that cannot fail (deletes): they
    /// take effect in memory whatever the disk says, and reach it when it
    /// takes writes again.
    pub(crate) fn acknowledge_quietly(&self) {
        let _ = self.acknowledge(Ok(()));
    }

    /// Runs expiry until nothing due is left (after a load).
    pub(crate) fn drop_expired(&self) {
        while !self.expiry_cycle(Duration::from_secs(3600)).complete {}
    }

    /// Unlinks a removed session from its owner and releases its memory.
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
        self.memory.release(freed);
    }
}
