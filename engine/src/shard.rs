//! [`Shard`]: one table shard's lock and contents, on cache lines of their
//! own.
//!
//! The store keeps its shards in arrays, and a shard's lock and table
//! header take well under a cache line; packed together, two threads
//! working on neighbouring shards would write the same line (each lock
//! is written on every acquire), and each would take it from the other's
//! cache. 128 bytes covers the adjacent-line prefetch of x86 as well.

use std::ops::Deref;

use parking_lot::Mutex;

/// A shard's mutex, aligned so that no two shards share a cache line.
#[repr(align(128))]
pub(crate) struct Shard<T>(Mutex<T>);

impl<T> Shard<T> {
    pub(crate) fn new(shard: T) -> Self {
        Shard(Mutex::new(shard))
    }
}

impl<T> Deref for Shard<T> {
    type Target = Mutex<T>;

    fn deref(&self) -> &Mutex<T> {
        &self.0
    }
}
