//! One shard of the owner index: for each owner, the handles (8-byte id
//! prefixes) of its sessions.
//!
//! The index is kept exact by three rules, which the store follows:
//! - a session is linked here (one handle), under the owner's shard lock
//!   and together with its insertion into its session shard, before anyone
//!   can learn its id;
//! - whoever removes a session from its session shard unlinks one
//!   occurrence of its handle: right after, under the owner's lock taken
//!   then (delete, expiry, eviction, flush, replay), or at once if it
//!   already holds that lock (`delete_owner`, the owner limit, rotate).
//!   No one else takes a handle out: not even one whose session is gone,
//!   because its remover's unlink is still on its way, and a handle cannot
//!   tell that session from a newer one of the same owner that has taken
//!   the same prefix since (an id of the caller's choosing, even the same
//!   id again). Dropping the dangling handle early would let that late
//!   unlink take the newer session's handle instead, and the newer session
//!   would be missing from list, count and `delete_owner` as long as it
//!   lived. So under each owner a handle occurs once per session with that
//!   prefix linked and not yet unlinked: at least once for every session
//!   the owner has, and the entry empties exactly when the owner's last
//!   removal is unlinked;
//! - readers check every handle against the session table (alive, same
//!   owner) and count a prefix once, so the moment between a removal and
//!   its unlink, and a handle occurring twice in that moment, are
//!   invisible.
//!
//! This costs nothing per session and no lock: a removed session's handle
//! lives on in its owner's entry only until its remover's unlink.
//!
//! An owner's entry is dropped with its last session, so the index never
//! outgrows the sessions it indexes.

use crate::growing::GrowingTable;
use crate::hashing::Hasher;

/// An owner and its session handles, in one allocation: the owner's
/// length (`u16`, little-endian), its bytes, then one 8-byte handle (id
/// prefix, little-endian) per session. One allocation rather than an owner
/// `Box` and a handle `Vec` saves an allocation and 16 bytes of table slot
/// per owner.
pub(crate) struct OwnerEntry(Vec<u8>);

/// Handles of owners with fewer sessions than this are stored exactly, with
/// no spare capacity; larger lists grow by doubling, so that an owner with
/// many sessions does not pay a copy per login.
const EXACT_HANDLES: usize = 16;

impl OwnerEntry {
    fn new(owner: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(2 + owner.len());
        bytes.extend_from_slice(&(owner.len() as u16).to_le_bytes());
        bytes.extend_from_slice(owner);
        OwnerEntry(bytes)
    }

    fn owner(&self) -> &[u8] {
        &self.0[2..self.handles_start()]
    }

    fn handles_start(&self) -> usize {
        2 + usize::from(u16::from_le_bytes([self.0[0], self.0[1]]))
    }

    /// The session handles, in no particular order.
    pub(crate) fn handles(&self) -> impl Iterator<Item = u64> + '_ {
        self.0[self.handles_start()..]
            .chunks_exact(8)
            .map(|h| u64::from_le_bytes(h.try_into().expect("8 bytes")))
    }

    fn is_empty(&self) -> bool {
        self.0.len() == self.handles_start()
    }

    pub(crate) fn link(&mut self, prefix: u64) {
        if self.0.len() < self.handles_start() + 8 * EXACT_HANDLES {
            self.0.reserve_exact(8);
        }
        self.0.extend_from_slice(&prefix.to_le_bytes());
    }

    /// Removes one occurrence of a handle; says whether it was there.
    pub(crate) fn unlink(&mut self, prefix: u64) -> bool {
        let Some(i) = self.handles().position(|p| p == prefix) else {
            return false;
        };
        let at = self.handles_start() + 8 * i;
        let last = self.0.len() - 8;
        self.0.copy_within(last.., at);
        self.0.truncate(last);
        true
    }

    /// Keeps only the handles `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        let start = self.handles_start();
        let kept: Vec<u64> = self.handles().filter(|h| keep(*h)).collect();
        self.0.truncate(start);
        for handle in kept {
            self.0.extend_from_slice(&handle.to_le_bytes());
        }
        self.0.shrink_to_fit();
    }

    /// Replaces a handle (session rotation).
    pub(crate) fn relink(&mut self, old: u64, new: u64) {
        if self.unlink(old) {
            self.0.extend_from_slice(&new.to_le_bytes());
        } else {
            self.link(new);
        }
    }
}

/// Bytes an owner entry adds beyond its owner's length: the table slot,
/// the allocations' headers and a little slack.
pub(crate) const OWNER_OVERHEAD: usize = 64;

pub(crate) struct OwnerShard {
    hasher: Hasher,
    table: GrowingTable<OwnerEntry>,
}

impl OwnerShard {
    pub(crate) fn new(hasher: Hasher) -> Self {
        OwnerShard {
            hasher,
            table: GrowingTable::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn get(&self, owner: &[u8]) -> Option<&OwnerEntry> {
        let hash = self.hasher.bytes(owner);
        self.table.find(hash, |e| e.owner() == owner)
    }

    pub(crate) fn get_mut(&mut self, owner: &[u8]) -> Option<&mut OwnerEntry> {
        let hash = self.hasher.bytes(owner);
        self.table.find_mut(hash, |e| e.owner() == owner)
    }

    /// The owner's entry, made empty if it has none; also says whether it
    /// was made.
    pub(crate) fn get_or_insert(&mut self, owner: &[u8]) -> (&mut OwnerEntry, bool) {
        let hasher = &self.hasher;
        let hash = hasher.bytes(owner);
        self.table.find_or_insert(
            hash,
            |e| e.owner() == owner,
            || OwnerEntry::new(owner),
            |e| hasher.bytes(e.owner()),
        )
    }

    /// Removes the owner's entry if it has no sessions left; says whether
    /// it did.
    pub(crate) fn drop_if_empty(&mut self, owner: &[u8]) -> bool {
        let hash = self.hasher.bytes(owner);
        match self.table.find_entry(hash, |e| e.owner() == owner) {
            Some(entry) if entry.get().is_empty() => {
                entry.remove();
                true
            }
            _ => false,
        }
    }

    /// Moves on a doubling of the table, if one is under way (see
    /// `growing.rs`); the expiry cycle calls it on each visit.
    pub(crate) fn settle(&mut self, moves: usize) -> usize {
        let hasher = &self.hasher;
        self.table.settle(moves, |e| hasher.bytes(e.owner()))
    }

    /// Unlinks one session handle, dropping the owner's entry with its last
    /// session. Returns whether the entry was dropped. Only the session's
    /// remover calls this, so the handle is there (see the module's rules).
    pub(crate) fn unlink(&mut self, owner: &[u8], prefix: u64) -> bool {
        let found = self
            .get_mut(owner)
            .is_some_and(|entry| entry.unlink(prefix));
        debug_assert!(found, "a removed session's handle was taken by another");
        found && self.drop_if_empty(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_links_unlinks_and_relinks_handles() {
        let mut entry = OwnerEntry::new(b"alice");
        assert!(entry.is_empty());
        for h in [1, 2, 3, 2] {
            entry.link(h);
        }
        assert_eq!(entry.owner(), b"alice");
        assert!(entry.unlink(2));
        assert!(!entry.unlink(9));
        let mut handles: Vec<u64> = entry.handles().collect();
        handles.sort();
        assert_eq!(handles, [1, 2, 3], "one occurrence of 2 left");
        entry.relink(1, 7);
        entry.retain(|h| h != 3);
        let mut handles: Vec<u64> = entry.handles().collect();
        handles.sort();
        assert_eq!(handles, [2, 7]);
        entry.retain(|_| false);
        assert!(entry.is_empty());
        assert_eq!(entry.owner(), b"alice");
    }
}
