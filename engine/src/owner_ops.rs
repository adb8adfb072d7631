//! The operations on an owner's sessions: list, count, delete all (or all
//! but one), and the owner's session limit, which `create` enforces here.
//!
//! These start from the owner, so they take the owner's shard lock first
//! and each session's shard lock inside it, one at a time (`store.rs`).
//! Every handle is checked against its session shard (alive, same owner),
//! so a session between its removal and its unlink is never shown,
//! counted or held against the limit; and a handle is taken out only by
//! whoever removed its session, never because its session is gone
//! (`owners.rs`).

use sessiond_protocol::{EndReason, LimitPolicy, OwnerLimit, SessionId, SessionInfo, StoreError};

use crate::events::Change;
use crate::memory::{Reservation, SESSION_OVERHEAD};
use crate::owners::{OWNER_OVERHEAD, OwnerEntry};
use crate::persist::Entry;
use crate::record::SessionRecord;
use crate::replica;
use crate::stats::Counters;
use crate::store::{Inner, Store};

impl Store {
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
    /// ended. Refused while the data directory refuses writes.
    pub fn delete_owner(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        self.delete_owner_noted(owner, keep, None)
    }

    /// [`Store::delete_owner`] with the `ended` events' note (checked by
    /// the caller).
    pub(crate) fn delete_owner_noted(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
        note: Option<&[u8]>,
    ) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let now = inner.now_s();
        let keep = keep.map(SessionId::prefix);
        let mut owners = inner.owner_shard(owner).lock();
        let Some(entry) = owners.get_mut(owner) else {
            return Ok(0);
        };
        let (mut ended, mut freed) = (0, 0);
        entry.retain(|prefix| {
            if Some(prefix) == keep {
                return true;
            }
            let mut shard = inner.session_shard(prefix).lock();
            let Some(record) = shard.remove_prefix_if(prefix, |r| r.owner() == owner) else {
                // Removed by someone else, whose unlink is on its way: the
                // handle is theirs to take (`owners.rs`).
                return true;
            };
            inner.log_end(&record, EndReason::OwnerDeleted, note, now);
            ended += usize::from(!record.is_expired(now));
            freed += record.len() + SESSION_OVERHEAD;
            false
        });
        if owners.drop_if_empty(owner) {
            freed += owner.len() + OWNER_OVERHEAD;
        }
        drop(owners);
        inner.memory().free(freed);
        inner.acknowledge(Ok(ended))
    }
}

impl Inner {
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

    /// Links a new session under its owner, enforcing the owner's limit,
    /// and settles the memory reserved for it: the record's, plus the
    /// owner's index entry if this is the owner's first session. On error
    /// the reservation goes back.
    pub(crate) fn link_new(
        &self,
        owner: &[u8],
        mut record: SessionRecord,
        reserved: Reservation<'_>,
        limit: Option<OwnerLimit>,
        id_chosen: bool,
    ) -> Result<SessionId, StoreError> {
        let bytes = record.len() + SESSION_OVERHEAD;
        let mut owners = self.owner_shard(owner).lock();
        let (entry, new_entry) = owners.get_or_insert(owner);
        let room = match limit {
            Some(limit) => self.make_room(owner, entry, limit),
            None => Ok(()),
        };
        let outcome = room.and_then(|()| {
            loop {
                let id = record.id();
                let mut shard = self.session_shard(id.prefix()).lock();
                if shard.by_prefix(id.prefix()).is_none() {
                    self.log_change(&record, Change::Created, &[Entry::Session(record.image())]);
                    shard.insert(record);
                    entry.link(id.prefix());
                    break Ok(id);
                }
                if id_chosen {
                    break Err(StoreError::IdTaken);
                }
                // A generated id whose prefix is taken: astronomically rare,
                // but a fresh one costs nothing (unless a replay has no
                // more to give: then refused on every node alike).
                match replica::fresh_id() {
                    Some(fresh) => record.set_id(fresh),
                    None => break Err(StoreError::IdTaken),
                }
            }
        });
        let owner_bytes = owner.len() + OWNER_OVERHEAD;
        match &outcome {
            Ok(_) if new_entry => reserved.settle(bytes + owner_bytes),
            Ok(_) => reserved.settle(bytes),
            // An entry made just now was never charged; one that existed
            // and is empty now (its sessions evicted for a limit that
            // still refuses) goes, and so does its charge.
            Err(_) => {
                if owners.drop_if_empty(owner) && !new_entry {
                    self.memory().free(owner_bytes);
                }
            }
        }
        outcome
    }

    /// Brings an owner below its session limit, by the limit's policy.
    fn make_room(
        &self,
        owner: &[u8],
        entry: &mut OwnerEntry,
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
                    self.log_end(record, EndReason::LimitEvicted, None, now);
                }
                removed
            };
            // Gone in between (deleted or expired elsewhere): its remover
            // unlinks it (`owners.rs`).
            if let Some(record) = removed {
                entry.unlink(prefix);
                self.memory().free(record.len() + SESSION_OVERHEAD);
                Counters::bump(&self.counters().limit_evictions, 1);
            }
        }
        Ok(())
    }
}
