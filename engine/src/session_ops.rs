//! The operations on one session by id: create, get, peek, update, touch,
//! delete, rotate.
//!
//! Each follows the lock order of `store.rs`: an operation that starts from
//! an id takes the session's shard lock, lets go, and only then takes its
//! owner's lock (rotate takes the owner's lock first and the session's
//! inside it). Memory is reserved before any lock and settled after.

use sessiond_protocol::limits::{check_labels, check_owner, timeout_secs};
use sessiond_protocol::{EndReason, NewSession, Session, SessionId, StoreError};

use crate::events::Change;
use crate::memory::SESSION_OVERHEAD;
use crate::persist::Entry;
use crate::record::{SessionRecord, Times, encode_labels};
use crate::replica;
use crate::store::{Inner, Store};

impl Store {
    /// Creates a session and returns its id.
    ///
    /// Enforces the owner's session limit (the store's, or the one the
    /// `NewSession` overrides it with) and the memory limit.
    pub fn create(&self, new: NewSession) -> Result<SessionId, StoreError> {
        let inner = &*self.inner;
        let config = inner.config();
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
        let id = match new.id {
            Some(id) => id,
            // Replaying a write whose ids ran out: refused alike on every
            // node (`replica.rs`).
            None => replica::fresh_id().ok_or(StoreError::IdTaken)?,
        };
        let record = SessionRecord::new(id, &new.owner, &labels, &new.data, &times, 1);
        let reserved = inner.reserve(record.len() + SESSION_OVERHEAD)?;
        let limit = new.limit.unwrap_or(config.owner_limit);
        let created = inner.link_new(&new.owner, record, reserved, limit, new.id.is_some());
        inner.acknowledge(created)
    }

    /// Starts bringing a session's record into the CPU's cache for a read
    /// that comes soon, as [`Store::prefetch_key`] does for a key.
    pub fn prefetch_session(&self, id: &SessionId) {
        self.inner.session_shard(id.prefix()).lock().prefetch(id);
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
        // evict, which locks other shards); the record's exact size is
        // settled after.
        let reserved = inner.reserve(data.len())?;
        let now = inner.now_s();
        let (version, new_len, old_len) = {
            let mut shard = inner.session_shard(id.prefix()).lock();
            match shard.get(id).filter(|r| !r.is_expired(now)) {
                None => return Err(StoreError::NotFound),
                Some(r) if expected_version.is_some_and(|v| v != r.version()) => {
                    return Err(StoreError::VersionMismatch {
                        expected: expected_version.unwrap_or_default(),
                        actual: r.version(),
                    });
                }
                Some(r) => {
                    let fresh = r.with_data(data, now);
                    inner.log_change(&fresh, Change::Updated, &[Entry::Session(fresh.image())]);
                    let (version, new_len) = (fresh.version(), fresh.len());
                    let old = shard.replace(fresh).expect("found above");
                    (version, new_len, old.len())
                }
            }
        };
        reserved.settle(new_len);
        inner.memory().free(old_len);
        inner.acknowledge(Ok(version))
    }

    /// Pushes a session's idle deadline out. Returns the new `expires_at`
    /// (Unix seconds).
    ///
    /// Like a read's touch, this is not refused while the data directory
    /// refuses writes: it changes no data, and a restart loses at most
    /// the slack that touches are logged with (see `persist/mod.rs`).
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

    /// Deletes a session; says whether a live one was there. Refused
    /// while the data directory refuses writes, like every write.
    pub fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.delete_noted(id, None, || ())
    }

    /// [`Store::delete`] with the `ended` event's note (checked by the
    /// caller), calling `between` after the session is removed from its
    /// shard and before it is unlinked from its owner: the seam through
    /// which tests put other operations in that gap.
    pub(crate) fn delete_noted(
        &self,
        id: &SessionId,
        note: Option<&[u8]>,
        between: impl FnOnce(),
    ) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let now = inner.now_s();
        let Some(record) = inner.remove_session(id, note, now) else {
            return Ok(false);
        };
        let live = !record.is_expired(now);
        between();
        inner.unlink(&record);
        inner.acknowledge(Ok(live))
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
            // Expired but not yet swept: it ends here, as the cycle would
            // have ended it.
            inner.log_end(&record, record.expiry_reason(), None, now);
            drop(owners);
            inner.unlink(&record);
            return inner.acknowledge(Err(StoreError::NotFound));
        }
        record.touch(now);
        let new_id = loop {
            let Some(candidate) = replica::fresh_id() else {
                // A replayed rotation whose drawn id is taken: the session
                // stays as it was, on every node alike.
                inner.session_shard(id.prefix()).lock().insert(record);
                return Err(StoreError::IdTaken);
            };
            let mut shard = inner.session_shard(candidate.prefix()).lock();
            if shard.by_prefix(candidate.prefix()).is_none() {
                record.set_id(candidate);
                // Old end before new image, in one append: a crash that
                // tears the write between the two leaves neither id (the
                // session is lost: its user logs in again), never the old
                // one alive, which may be an attacker's fixated id.
                inner.log_change(
                    &record,
                    Change::Rotated { old: *id },
                    &[
                        Entry::EndSession { id: *id.as_bytes() },
                        Entry::Session(record.image()),
                    ],
                );
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
}

impl Inner {
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

    /// Removes a session by id, logging its end with `note`.
    fn remove_session(
        &self,
        id: &SessionId,
        note: Option<&[u8]>,
        now: u32,
    ) -> Option<SessionRecord> {
        let mut shard = self.session_shard(id.prefix()).lock();
        let removed = shard.remove(id);
        if let Some(record) = &removed {
            self.log_end(record, EndReason::Deleted, note, now);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use sessiond_protocol::{NewSession, SessionId};

    use crate::{Store, StoreConfig};

    /// An id with the given 8-byte prefix (the session table's key) and
    /// tail.
    fn id(prefix: u8, tail: u8) -> SessionId {
        let mut bytes = [tail; 16];
        bytes[..8].copy_from_slice(&[prefix; 8]);
        SessionId::from_bytes(bytes)
    }

    /// A session removed but not yet unlinked; meanwhile its owner is
    /// kicked and a newer session of that owner takes the same prefix (an
    /// id of the caller's choosing). The late unlink must not take the
    /// newer session's handle.
    fn late_unlink_keeps_the_newer_session(old: SessionId, new: SessionId) {
        let store = Store::new(StoreConfig::default());
        store.create(NewSession::new("alice").with_id(old)).unwrap();
        let deleted = store.delete_noted(&old, None, || {
            assert_eq!(store.delete_owner(b"alice", None).unwrap(), 0);
            store.create(NewSession::new("alice").with_id(new)).unwrap();
        });
        assert!(deleted.unwrap());

        assert!(store.get(&new).is_ok());
        let listed: Vec<SessionId> = store.list(b"alice").iter().map(|s| s.id).collect();
        assert_eq!(listed, [new], "the newer session is listed");
        assert_eq!(store.count(b"alice"), 1, "and counted");
        assert_eq!(store.delete_owner(b"alice", None).unwrap(), 1, "and kicked");
        assert!(store.get(&new).is_err());
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.owners, stats.bytes_used), (0, 0, 0));
    }

    #[test]
    fn late_unlink_keeps_a_newer_session_sharing_the_prefix() {
        late_unlink_keeps_the_newer_session(id(7, 1), id(7, 2));
    }

    #[test]
    fn late_unlink_keeps_a_newer_session_reusing_the_id() {
        late_unlink_keeps_the_newer_session(id(7, 1), id(7, 1));
    }
}
