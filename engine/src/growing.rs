//! [`GrowingTable`]: a hash table that doubles a few entries at a time.
//!
//! A hash table grows by doubling: the insert that finds it full moves
//! every entry into a table twice the size. The store's tables hold thin
//! pointers, and the hash of each entry is computed from the record it
//! points to (a session's id, a key's stored hash, an owner's name), so
//! moving an entry reads its record: a cache miss each, some 110 ns on the
//! benchmark machine. A shard of 114,000 sessions held its lock for 13 ms
//! while it doubled, and every request for that shard waited
//! (docs/benchmarks.md, "While the tables grow").
//!
//! So this table doubles the way Redis's dict does, incrementally. When
//! an insert would make the table grow, the full table becomes `old` and a
//! table of twice its capacity takes its place as `new`; from then on
//! every insert first moves [`MOVE_PER_INSERT`] entries from `old` into
//! `new`, walking `old`'s buckets in index order with a cursor (looking at
//! no more than 8 buckets a move, so a step's cost is bounded whatever
//! removals have emptied), and the expiry cycle moves a batch on each
//! visit, so a table no longer written to finishes too. New
//! entries go to `new` only, so `old` only empties: once the cursor has
//! passed its last bucket (or every entry left it by removal) it is
//! freed. Lookups and removals look in `new`, then in `old`. The move
//! ends before `new` fills: each insert's step either moves 16 entries or
//! walks 128 buckets, so `old`'s `b` buckets (at most `7b/8` entries) are
//! done within `b/16` inserts, and `new`, with room for `7b/4`, holds at
//! most `7b/8 + b/16` by then.
//!
//! Small tables (below [`INCREMENTAL_FROM`] entries) double at once, as
//! plain hashbrown tables do: moving a few hundred entries costs less than
//! a lookup in two tables for the rest of the move.

use hashbrown::HashTable;
use hashbrown::hash_table::{Entry, OccupiedEntry};

/// Entries moved from the old table by each insert while doubling: an
/// insert then reads up to 16 more records (some 2 µs here, where the
/// doubling in one go held its lock for up to 13 ms), and a doubling of
/// `n` entries is done within `n / 16` inserts, long before the next; so
/// a table is rarely caught in the middle, when it holds both halves.
const MOVE_PER_INSERT: usize = 16;

/// Capacity from which a table doubles incrementally.
const INCREMENTAL_FROM: usize = 1024;

/// A hash table whose doubling is spread over the inserts that follow it.
pub(crate) struct GrowingTable<T> {
    new: HashTable<T>,
    /// The doubling under way, if any: boxed, so that a table that is not
    /// doubling (nearly always) is one pointer larger than a plain one.
    old: Option<Box<Doubling<T>>>,
}

/// The table being moved out of, and the next bucket of it to move.
struct Doubling<T> {
    table: HashTable<T>,
    cursor: usize,
}

impl<T> Default for GrowingTable<T> {
    fn default() -> Self {
        GrowingTable {
            new: HashTable::new(),
            old: None,
        }
    }
}

impl<T> GrowingTable<T> {
    pub(crate) fn len(&self) -> usize {
        self.new.len() + self.old.as_ref().map_or(0, |old| old.table.len())
    }

    /// Whether a doubling is under way.
    #[cfg(test)]
    fn doubling(&self) -> bool {
        self.old.is_some()
    }

    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<&T> {
        match self.new.find(hash, &mut eq) {
            Some(found) => Some(found),
            None => self.old.as_ref()?.table.find(hash, eq),
        }
    }

    pub(crate) fn find_mut(&mut self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<&mut T> {
        if let Some(found) = self.new.find_mut(hash, &mut eq) {
            return Some(found);
        }
        self.old.as_mut()?.table.find_mut(hash, eq)
    }

    /// The entry `eq` accepts, to read, change or remove.
    pub(crate) fn find_entry(
        &mut self,
        hash: u64,
        mut eq: impl FnMut(&T) -> bool,
    ) -> Option<OccupiedEntry<'_, T>> {
        if let Ok(found) = self.new.find_entry(hash, &mut eq) {
            return Some(found);
        }
        self.old.as_mut()?.table.find_entry(hash, eq).ok()
    }

    /// Inserts an entry the caller knows is not there yet. `hasher` gives
    /// any entry's hash (the same function `hash` came from).
    pub(crate) fn insert_unique(
        &mut self,
        hash: u64,
        value: T,
        hasher: impl Fn(&T) -> u64,
    ) -> OccupiedEntry<'_, T> {
        self.make_room(&hasher);
        self.new.insert_unique(hash, value, hasher)
    }

    /// The entry `eq` accepts, or one `make` makes and inserts; says
    /// whether it was made.
    pub(crate) fn find_or_insert(
        &mut self,
        hash: u64,
        mut eq: impl FnMut(&T) -> bool,
        make: impl FnOnce() -> T,
        hasher: impl Fn(&T) -> u64,
    ) -> (&mut T, bool) {
        // Before the lookup, so that `new` has room if it comes to an
        // insert (a full table starts doubling even if this finds).
        self.make_room(&hasher);
        if let Some(old) = self.old.as_mut()
            && let Ok(found) = old.table.find_entry(hash, &mut eq)
        {
            return (found.into_mut(), false);
        }
        match self.new.entry(hash, eq, hasher) {
            Entry::Occupied(found) => (found.into_mut(), false),
            Entry::Vacant(vacant) => (vacant.insert(make()).into_mut(), true),
        }
    }

    /// Moves entries on if a doubling is under way, or starts one if `new`
    /// is full and large, so that `new` takes the next insert without
    /// growing.
    fn make_room(&mut self, hasher: &impl Fn(&T) -> u64) {
        if self.old.is_none()
            && self.new.len() == self.new.capacity()
            && self.new.capacity() >= INCREMENTAL_FROM
        {
            let doubled = HashTable::with_capacity(2 * self.new.capacity());
            let table = std::mem::replace(&mut self.new, doubled);
            self.old = Some(Box::new(Doubling { table, cursor: 0 }));
        }
        self.step(MOVE_PER_INSERT, hasher);
    }

    /// Moves up to `moves` entries from the old table to `new`, looking at
    /// no more than 8 buckets of it per move, and frees it once it is
    /// empty. Returns the entries moved.
    fn step(&mut self, moves: usize, hasher: &impl Fn(&T) -> u64) -> usize {
        let Some(old) = self.old.as_mut() else {
            return 0;
        };
        let mut moved = 0;
        let last = (old.cursor + 8 * moves).min(old.table.num_buckets());
        while old.cursor < last && moved < moves && !old.table.is_empty() {
            if let Ok(entry) = old.table.get_bucket_entry(old.cursor) {
                let (value, _) = entry.remove();
                self.new.insert_unique(hasher(&value), value, hasher);
                moved += 1;
            }
            old.cursor += 1;
        }
        if old.table.is_empty() {
            self.old = None;
        }
        moved
    }

    /// Moves up to `moves` entries of a doubling under way: the expiry
    /// cycle's share, so that a table no longer written to still finishes
    /// its move and frees its old half. Returns the entries moved.
    pub(crate) fn settle(&mut self, moves: usize, hasher: impl Fn(&T) -> u64) -> usize {
        self.step(moves, &hasher)
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let old = self.old.iter().flat_map(|old| old.table.iter());
        self.new.iter().chain(old)
    }

    /// Takes every entry out, leaving the table empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        let old = self.old.take().map(|old| old.table).unwrap_or_default();
        self.new.drain().chain(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: &u64) -> u64 {
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn insert(table: &mut GrowingTable<u64>, n: u64) {
        table.insert_unique(hash(&n), n, hash);
    }

    fn has(table: &GrowingTable<u64>, n: u64) -> bool {
        table.find(hash(&n), |v| *v == n).is_some()
    }

    #[test]
    fn every_entry_stays_findable_while_the_table_doubles() {
        let mut table = GrowingTable::default();
        let mut model = std::collections::HashSet::new();
        let mut saw_doubling = false;
        for n in 0..100_000u64 {
            insert(&mut table, n);
            model.insert(n);
            saw_doubling |= table.doubling();
            // Removals meet entries in either table.
            if n % 3 == 0 {
                let gone = n / 2;
                let found = table.find_entry(hash(&gone), |v| *v == gone);
                assert_eq!(found.is_some(), model.remove(&gone), "{gone}");
                if let Some(entry) = found {
                    entry.remove();
                }
            }
            if n % 1000 == 0 {
                assert_eq!(table.len(), model.len());
                assert!(model.iter().all(|m| has(&table, *m)), "lost after {n}");
            }
        }
        assert!(saw_doubling, "the table doubled incrementally");
        assert_eq!(table.iter().count(), model.len());
        let mut all: Vec<u64> = table.drain().collect();
        all.sort_unstable();
        let mut expected: Vec<u64> = model.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(all, expected);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_doubling_ends_before_the_new_table_fills() {
        let mut table = GrowingTable::default();
        let mut n = 0u64;
        while table.new.capacity() < 4 * INCREMENTAL_FROM {
            insert(&mut table, n);
            n += 1;
        }
        let mut doublings = 0;
        for _ in 0..50_000 {
            let was = table.doubling();
            let before = table.new.capacity();
            insert(&mut table, n);
            n += 1;
            // hashbrown's own growth of `new` would change its capacity
            // mid-move: it never does, as the move outpaces the inserts.
            if was && table.doubling() {
                assert_eq!(table.new.capacity(), before, "grew while moving, at {n}");
            }
            doublings += usize::from(!was && table.doubling());
        }
        assert!(doublings >= 2, "{doublings} doublings");
        assert_eq!(table.len() as u64, n);
    }

    #[test]
    fn settling_finishes_a_doubling_that_no_insert_moves_on() {
        let mut table = GrowingTable::default();
        let mut n = 0u64;
        while !table.doubling() {
            insert(&mut table, n);
            n += 1;
        }
        let mut visits = 0;
        while table.doubling() {
            assert!(table.settle(64, hash) > 0, "each visit moves entries");
            visits += 1;
        }
        assert!(visits > 1, "a visit moves a bounded batch ({visits})");
        assert_eq!(table.settle(64, hash), 0, "nothing left to move");
        assert!(table.old.is_none(), "the old half is freed");
        assert_eq!(table.len() as u64, n);
        assert!((0..n).all(|m| has(&table, m)));
    }
}
