//! A store on a data directory: opening one (its lock, recovery, then the
//! journal), and the store's side of the two interfaces persistence
//! reaches it through: `Restore`, what replay writes in, and `Source`,
//! what compaction reads out. `persist/` knows neither `Store` nor
//! `Inner`; this module is where the two meet.

use std::sync::Arc;

use sessiond_protocol::SessionId;

use crate::clock::{Clock, SystemClock};
use crate::config::StoreConfig;
use crate::event_groups::GroupChange;
use crate::events::EventImage;
use crate::expiry;
use crate::keys::{self, KeyShard, Value};
use crate::memory::SESSION_OVERHEAD;
use crate::owners::OWNER_OVERHEAD;
use crate::persist::{self, PersistConfig, PersistError, RecoveryReport, Restore, Source};
use crate::record::SessionRecord;
use crate::sessions::SessionShard;
use crate::shard::Shard;
use crate::store::{Inner, Store};

impl Store {
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
        let (mut report, log, snapshot_bytes) = persist::recover(&**inner, &persist)?;
        let loaded = store.stats();
        (report.sessions, report.keys) = (loaded.sessions, loaded.keys);
        let source: std::sync::Weak<dyn Source> = Arc::downgrade(inner) as _;
        inner.attach_journal(persist::start_journal(
            &persist,
            log,
            snapshot_bytes,
            source,
        ));
        Ok((store, report))
    }
}

/// Replay's way into the store: no limits, no log, no checks but the
/// image's own (history already passed them).
impl Restore for Inner {
    /// One probe for the common case (a session not seen before), and no
    /// allocation beyond the record itself: loads of millions go through
    /// here.
    fn restore_session(&self, record: SessionRecord) {
        let prefix = record.prefix();
        let bytes = record.len() + SESSION_OVERHEAD;
        let previous = {
            let mut shard = self.session_shard(prefix).lock();
            match shard.by_prefix(prefix) {
                None => None,
                Some(old) if old.has_id(&record.id()) && old.owner() == record.owner() => {
                    let old = shard.replace(record).expect("found above");
                    drop(shard);
                    self.memory().charge(bytes);
                    self.memory().free(old.len() + SESSION_OVERHEAD);
                    return;
                }
                Some(_) => shard.remove_prefix_if(prefix, |_| true),
            }
        };
        if let Some(previous) = previous {
            self.unlink(&previous);
        }
        let mut owners = self.owner_shard(record.owner()).lock();
        let (entry, new_entry) = owners.get_or_insert(record.owner());
        entry.link(prefix);
        let charged = bytes
            + if new_entry {
                record.owner().len() + OWNER_OVERHEAD
            } else {
                0
            };
        self.session_shard(prefix).lock().insert(record);
        drop(owners);
        self.memory().charge(charged);
    }

    fn restore_touch(&self, id: &SessionId, last_seen: u32) {
        if let Some(record) = self.session_shard(id.prefix()).lock().get_mut(id) {
            record.touch(last_seen);
        }
    }

    fn restore_end(&self, id: &SessionId) {
        let removed = self.session_shard(id.prefix()).lock().remove(id);
        if let Some(record) = removed {
            self.unlink(&record);
        }
    }

    fn restore_key(&self, key: &[u8], value: Value<'_>, deadline: Option<u64>) {
        let footprint = keys::footprint(key, &[]) + value.bytes();
        let old = self.key_shard(key).lock().set(key, value, deadline);
        self.memory().charge(footprint);
        self.memory().free(old);
    }

    fn restore_key_end(&self, key: &[u8]) {
        let removed = self.key_shard(key).lock().remove(key);
        if let Some(entry) = removed {
            self.memory().free(entry.footprint());
        }
    }

    fn restore_event(&self, image: &[u8]) -> Result<(), &'static str> {
        self.events().restore(EventImage::from_bytes(image)?);
        Ok(())
    }

    fn restore_events_next(&self, next_seq: u64) {
        self.events().restore_next(next_seq);
    }

    fn restore_group(&self, change: &[u8]) -> Result<(), &'static str> {
        let change = GroupChange::decode(change)?;
        self.groups().lock().apply(&change);
        Ok(())
    }

    /// Runs expiry until nothing due is left (logging the ends of what
    /// expired while the store was down), after applying the event log's
    /// age limit as of now.
    fn drop_expired(&self) {
        self.events().settle(self.now_ms());
        while !expiry::cycle(self, std::time::Duration::from_secs(3600)).complete {}
    }
}

/// What compaction reads: the store's size and its shards.
impl Source for Inner {
    /// The accounted bytes and the event log's: both are what a snapshot
    /// holds.
    fn bytes_used(&self) -> u64 {
        self.memory().used() + self.events().bytes()
    }

    fn now(&self) -> (u32, u64) {
        (self.now_s(), self.now_ms())
    }

    fn session_shards(&self) -> &[Shard<SessionShard>] {
        Inner::session_shards(self)
    }

    fn key_shards(&self) -> &[Shard<KeyShard>] {
        Inner::key_shards(self)
    }

    fn events_next(&self) -> u64 {
        self.events().next_seq()
    }

    fn groups_rebuilt(&self) -> Vec<Vec<u8>> {
        let groups = self.groups().lock();
        let changes = groups.rebuild();
        drop(groups);
        changes
            .iter()
            .map(|change| {
                let mut packed = Vec::new();
                change.encode(&mut packed);
                packed
            })
            .collect()
    }

    fn events_after(&self, after: u64, max: usize, each: &mut dyn FnMut(&[u8])) -> u64 {
        self.events()
            .for_each_after(after, max, &mut |image| each(image.bytes()))
    }
}
