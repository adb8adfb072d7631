//! A timer wheel of one-second buckets, with lazy rescheduling.
//!
//! Each live session or expiring key has exactly one entry here, in the
//! bucket of the second at which it is due, tagged with an 8-byte handle
//! (a session's id prefix, a key's hash). Sliding expiry does not move
//! entries: touching a session only updates its `last seen`. When a bucket
//! comes due, the expiry cycle looks each entry up and either removes the
//! entry's owner (really expired) or reschedules it at its real, later
//! due second. Reads therefore never pay for expiry bookkeeping.
//!
//! Entries whose session was deleted stay until their bucket comes due,
//! then are dropped. A record remembers which bucket holds its live entry
//! (`wheel second`), so an entry left behind by a deadline that moved
//! earlier is recognised as stale and dropped too.

use std::collections::BTreeMap;

/// Buckets keyed by Unix second.
#[derive(Default)]
pub(crate) struct Wheel {
    buckets: BTreeMap<u32, Bucket>,
}

/// The entries of one second. A bucket has a fixed cost beside its
/// entries (its B-tree slot, its allocations), and a store filled over
/// half an hour with 30-minute idle timeouts has a bucket for every
/// second of the wheel in every shard, some 9 sessions each at a million
/// (docs/benchmarks.md, "While the tables grow": 26 bytes a session
/// more than a fast fill). So a small bucket is one block, grown a
/// quarter at a time rather than doubled, with no list of blocks to
/// allocate; past [`BLOCK`] entries it becomes a list of full blocks, so
/// that a large bucket wastes at most one partly filled block where a
/// doubled `Vec` would waste up to half.
enum Bucket {
    One(Vec<u64>),
    Blocks(Vec<Vec<u64>>),
}

/// Largest block of a bucket.
const BLOCK: usize = 256;

impl Default for Bucket {
    fn default() -> Self {
        Bucket::One(Vec::new())
    }
}

impl Bucket {
    fn push(&mut self, tag: u64) {
        let block = match self {
            Bucket::One(block) if block.len() == BLOCK => {
                let full = std::mem::take(block);
                *self = Bucket::Blocks(vec![full]);
                return self.push(tag);
            }
            Bucket::One(block) => block,
            Bucket::Blocks(blocks) => match blocks.last_mut().filter(|b| b.len() < BLOCK) {
                Some(block) => block,
                None => {
                    blocks.push(Vec::new());
                    blocks.last_mut().expect("just pushed")
                }
            },
        };
        if block.len() == block.capacity() {
            // A quarter more (at least 4), up to a full block.
            let more = (block.len() / 4).max(4).min(BLOCK - block.len());
            block.reserve_exact(more);
        }
        block.push(tag);
    }

    fn pop(&mut self) -> Option<u64> {
        match self {
            Bucket::One(block) => block.pop(),
            Bucket::Blocks(blocks) => {
                let block = blocks.last_mut()?;
                let tag = block.pop();
                if block.is_empty() {
                    blocks.pop();
                }
                tag
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Bucket::One(block) => block.is_empty(),
            Bucket::Blocks(blocks) => blocks.is_empty(),
        }
    }
}

impl Wheel {
    /// Adds an entry due at `second`.
    pub(crate) fn schedule(&mut self, second: u32, tag: u64) {
        self.buckets.entry(second).or_default().push(tag);
    }

    /// Moves up to `max` entries due at or before `now` into `out`, and
    /// says whether more are due.
    pub(crate) fn take_due(&mut self, now: u32, max: usize, out: &mut Vec<(u32, u64)>) -> bool {
        let mut taken = 0;
        while let Some(mut bucket) = self.buckets.first_entry() {
            let second = *bucket.key();
            if second > now {
                return false;
            }
            let entries = bucket.get_mut();
            while taken < max {
                let Some(tag) = entries.pop() else { break };
                out.push((second, tag));
                taken += 1;
            }
            if entries.is_empty() {
                bucket.remove();
            } else {
                return true;
            }
        }
        false
    }

    /// The second of the earliest bucket.
    pub(crate) fn first_second(&self) -> Option<u32> {
        self.buckets.first_key_value().map(|(second, _)| *second)
    }

    /// Removes one entry from the earliest bucket.
    pub(crate) fn pop_first(&mut self) -> Option<(u32, u64)> {
        let mut bucket = self.buckets.first_entry()?;
        let second = *bucket.key();
        let tag = bucket.get_mut().pop();
        if bucket.get().is_empty() {
            bucket.remove();
        }
        tag.map(|tag| (second, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_due_entries_in_second_order_within_budget() {
        let mut wheel = Wheel::default();
        wheel.schedule(12, 3);
        wheel.schedule(10, 1);
        wheel.schedule(10, 2);
        wheel.schedule(20, 4);
        let mut out = Vec::new();
        assert!(wheel.take_due(15, 2, &mut out), "one more is due");
        assert_eq!(out.iter().map(|e| e.0).collect::<Vec<_>>(), [10, 10]);
        out.clear();
        assert!(!wheel.take_due(15, 10, &mut out));
        assert_eq!(out, [(12, 3)]);
        assert_eq!(wheel.first_second(), Some(20));
        assert_eq!(wheel.pop_first(), Some((20, 4)));
        assert_eq!(wheel.pop_first(), None);
    }

    #[test]
    fn large_buckets_fill_blocks_and_lose_nothing() {
        let mut bucket = Bucket::default();
        for tag in 0..1000 {
            bucket.push(tag);
        }
        let Bucket::Blocks(blocks) = &bucket else {
            panic!("a bucket past one block is a list of blocks");
        };
        assert_eq!(blocks.len(), 4);
        assert!(blocks.iter().all(|b| b.capacity() <= BLOCK));
        let mut tags: Vec<u64> = std::iter::from_fn(|| bucket.pop()).collect();
        tags.sort();
        assert_eq!(tags, (0..1000).collect::<Vec<_>>());
        assert!(bucket.is_empty());
    }

    #[test]
    fn small_buckets_grow_by_a_quarter() {
        let mut bucket = Bucket::default();
        for tag in 0..9 {
            bucket.push(tag);
        }
        let Bucket::One(block) = &bucket else {
            panic!("a small bucket is one block");
        };
        assert_eq!(block.capacity(), 12, "4, 8, 12: not doubled to 16");
        for tag in 9..200 {
            bucket.push(tag);
        }
        let Bucket::One(block) = &bucket else {
            panic!("still one block");
        };
        assert!(block.capacity() <= 200 + 200 / 4, "{}", block.capacity());
    }
}
