//! One shard of the owner index: for each owner, the handles (8-byte id
//! prefixes) of its sessions.
//!
//! The index is kept exact by two rules, which the store follows:
//! - a session is linked here, under the owner's shard lock, before anyone
//!   can learn its id, and unlinked right after it is removed from its
//!   session shard;
//! - readers check every handle against the session table (alive, same
//!   owner) before returning or counting it, so the moment between a
//!   removal and its unlink is invisible.
//!
//! An owner's entry is dropped with its last session, so the index never
//! outgrows the sessions it indexes.

use hashbrown::HashTable;

use crate::hashing::Hasher;

/// An owner and its session handles.
pub(crate) struct OwnerEntry {
    owner: Box<[u8]>,
    sessions: Vec<u64>,
}

impl OwnerEntry {
    pub(crate) fn handles(&self) -> &[u64] {
        &self.sessions
    }

    pub(crate) fn link(&mut self, prefix: u64) {
        // Most owners have a handful of sessions: grow those exactly rather
        // than doubling, which would waste up to half of each list.
        if self.sessions.len() < 16 {
            self.sessions.reserve_exact(1);
        }
        self.sessions.push(prefix);
    }

    /// Removes one occurrence of a handle; says whether it was there.
    pub(crate) fn unlink(&mut self, prefix: u64) -> bool {
        match self.sessions.iter().position(|p| *p == prefix) {
            Some(i) => {
                self.sessions.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Keeps only the handles `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&u64) -> bool) {
        self.sessions.retain(keep);
    }

    /// Replaces a handle (session rotation).
    pub(crate) fn relink(&mut self, old: u64, new: u64) {
        match self.sessions.iter_mut().find(|p| **p == old) {
            Some(slot) => *slot = new,
            None => self.link(new),
        }
    }
}

/// Bytes an owner entry adds beyond its owner's length: the table slot,
/// the allocations' headers and a little slack.
pub(crate) const OWNER_OVERHEAD: usize = 64;

pub(crate) struct OwnerShard {
    hasher: Hasher,
    table: HashTable<OwnerEntry>,
}

impl OwnerShard {
    pub(crate) fn new(hasher: Hasher) -> Self {
        OwnerShard {
            hasher,
            table: HashTable::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn get(&self, owner: &[u8]) -> Option<&OwnerEntry> {
        let hash = self.hasher.bytes(owner);
        self.table.find(hash, |e| *e.owner == *owner)
    }

    pub(crate) fn get_mut(&mut self, owner: &[u8]) -> Option<&mut OwnerEntry> {
        let hash = self.hasher.bytes(owner);
        self.table.find_mut(hash, |e| *e.owner == *owner)
    }

    /// The owner's entry, made empty if it has none; also says whether it
    /// was made.
    pub(crate) fn get_or_insert(&mut self, owner: &[u8]) -> (&mut OwnerEntry, bool) {
        let hasher = &self.hasher;
        let hash = hasher.bytes(owner);
        match self
            .table
            .entry(hash, |e| *e.owner == *owner, |e| hasher.bytes(&e.owner))
        {
            hashbrown::hash_table::Entry::Occupied(entry) => (entry.into_mut(), false),
            hashbrown::hash_table::Entry::Vacant(entry) => {
                let entry = entry.insert(OwnerEntry {
                    owner: owner.into(),
                    sessions: Vec::new(),
                });
                (entry.into_mut(), true)
            }
        }
    }

    /// Removes the owner's entry if it has no sessions left; says whether
    /// it did.
    pub(crate) fn drop_if_empty(&mut self, owner: &[u8]) -> bool {
        let hash = self.hasher.bytes(owner);
        match self.table.find_entry(hash, |e| *e.owner == *owner) {
            Ok(entry) if entry.get().sessions.is_empty() => {
                entry.remove();
                true
            }
            _ => false,
        }
    }

    /// Unlinks one session handle, dropping the owner's entry with its last
    /// session. Returns whether the entry was dropped.
    pub(crate) fn unlink(&mut self, owner: &[u8], prefix: u64) -> bool {
        match self.get_mut(owner) {
            Some(entry) => {
                entry.unlink(prefix);
                self.drop_if_empty(owner)
            }
            None => false,
        }
    }
}
