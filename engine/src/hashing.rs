//! Seeded hashing and shard selection.
//!
//! Owners and keys are chosen by clients, and a caller may choose session
//! ids too, so every table hashes with a per-store secret seed from the OS
//! CSPRNG: nobody outside can aim many entries at one bucket or one shard.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;
use sessiond_protocol::SessionId;

/// A store's hasher: foldhash with a secret per-store seed.
#[derive(Clone)]
pub(crate) struct Hasher(FixedState);

impl Hasher {
    pub(crate) fn random() -> Self {
        // A fresh session id is 128 bits from the OS CSPRNG; 64 of them
        // make a seed without a second source of randomness.
        Hasher(FixedState::with_seed(SessionId::random().prefix()))
    }

    /// Hash of a session id's 8-byte prefix.
    pub(crate) fn prefix(&self, prefix: u64) -> u64 {
        self.0.hash_one(prefix)
    }

    /// Hash of an owner or a key.
    pub(crate) fn bytes(&self, bytes: &[u8]) -> u64 {
        self.0.hash_one(bytes)
    }
}

/// Picks a shard from a hash.
///
/// hashbrown uses a hash's low bits for the bucket and its top 7 bits as a
/// tag, so the shard comes from the middle (bits 32 and up): entries of one
/// shard still spread over all buckets and tags.
pub(crate) fn shard_of(hash: u64, shards: usize) -> usize {
    debug_assert!(shards.is_power_of_two());
    ((hash >> 32) as usize) & (shards - 1)
}
