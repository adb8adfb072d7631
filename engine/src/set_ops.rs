//! The rest of Redis's set commands: SMISMEMBER, SPOP, SRANDMEMBER,
//! SMOVE, SSCAN, and the algebra (SINTER, SUNION, SDIFF, their STORE
//! forms, SINTERCARD).
//!
//! Commands on several keys lock all their shards at once
//! (`multi_key.rs`), so they read and write one state of the store. Their
//! cost is bounded by the sets they name: a key named twice is read once,
//! an intersection walks its smallest set, and a result is never larger
//! than its inputs together.
//!
//! Random choices (SPOP, SRANDMEMBER, RANDOMKEY) come from [`Random`],
//! seeded with a fresh session id: 128 bits from the OS, or, while a
//! replication group replays SPOP, the id the leader drew for it (reads
//! never take a replay's ids: they belong to the writes). SPOP is a write, and every node must pop the same members: with the same
//! seed and the same set (members are kept in byte order, the same on
//! every node), they do.

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use foldhash::quality::FixedState;
use sessiond_protocol::limits::check_key;
use sessiond_protocol::{SessionId, StoreError};

use crate::glob::glob_match;
use crate::key_events::KeyEvent;
use crate::keys::{self, KeyEntry, SetValue, Value};
use crate::replica;
use crate::store::Store;

/// The set operations of SINTER, SUNION and SDIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// Members in every set.
    Inter,
    /// Members in any set.
    Union,
    /// Members of the first set in none of the others.
    Diff,
}

/// Most members a negative SRANDMEMBER count may ask for (with
/// repetition, so the set's size does not bound it).
pub const MAX_RANDOM_MEMBERS: usize = 1_000_000;

impl Store {
    /// Whether each of `members` is in the set in `key` (SMISMEMBER).
    pub fn set_contains_each(
        &self,
        key: &[u8],
        members: &[&[u8]],
    ) -> Result<Vec<bool>, StoreError> {
        self.read_set(key, |set| {
            members
                .iter()
                .map(|m| set.is_some_and(|s| s.contains(m)))
                .collect()
        })
    }

    /// Removes and returns members at random (SPOP): one if `count` is
    /// `None`, else up to `count` distinct ones. An emptied set is
    /// deleted. One log record: the set as it is left.
    pub fn set_pop(&self, key: &[u8], count: Option<usize>) -> Result<Vec<Vec<u8>>, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        let want = count.unwrap_or(1);
        let popped = inner.with_key_shard(key, |shard, now, freed| {
            let Some(entry) = shard.live(key, now, freed) else {
                return Ok(Vec::new());
            };
            let before = entry.footprint();
            let set = entry.as_set_mut().ok_or(StoreError::WrongType)?;
            if want == 0 {
                return Ok(Vec::new());
            }
            // Seeded from the shard's own reading of the clock: a second
            // reading was a tenth of a missed SPOP's instructions.
            let mut random = Random::for_write(key, now);
            let picked: Vec<Vec<u8>> = pick_distinct(set, want, &mut random)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            for member in &picked {
                set.remove(member);
            }
            let empty = set.len() == 0;
            *freed += before - entry.footprint();
            if empty {
                *freed += shard.remove(key).map_or(0, |e| e.footprint());
            }
            inner.log_key(shard, key);
            inner.key_events().emit(key, KeyEvent::Spop);
            if empty {
                inner.key_events().emit(key, KeyEvent::Del);
            }
            Ok(picked)
        });
        inner.acknowledge(popped)
    }

    /// Members at random, the set unchanged (SRANDMEMBER): `count`
    /// `None` for one; a positive count for up to that many distinct
    /// ones; a negative one for exactly that many, repeats allowed (at
    /// most [`MAX_RANDOM_MEMBERS`], which the caller checks).
    pub fn set_random_members(
        &self,
        key: &[u8],
        count: Option<i64>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut random = Random::for_read();
        self.read_set(key, |set| {
            let Some(set) = set.filter(|s| s.len() > 0) else {
                return Vec::new();
            };
            match count {
                None => pick_distinct(set, 1, &mut random),
                Some(n) if n >= 0 => {
                    let mut picked =
                        pick_distinct(set, usize::try_from(n).unwrap_or(usize::MAX), &mut random);
                    shuffle(&mut picked, &mut random);
                    picked
                }
                Some(n) => {
                    let n = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
                    let members: Vec<&[u8]> = set.members().collect();
                    (0..n.min(MAX_RANDOM_MEMBERS))
                        .map(|_| members[random.below(members.len())])
                        .collect()
                }
            }
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
        })
    }

    /// Moves `member` from the set in `from` to the set in `to` (SMOVE),
    /// atomically, as one log record; false if it was not in `from`.
    pub fn set_move(&self, from: &[u8], to: &[u8], member: &[u8]) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(to)?;
        inner.check_value(member.len())?;
        let reserved = inner.reserve(keys::footprint(to, &[]) + keys::member_footprint(member))?;
        let moved = inner.with_key_shards(&[from, to], |locked, now, freed| {
            let Some(source) = locked.shard(from).live(from, now, freed) else {
                return Ok((false, 0));
            };
            source.as_set().ok_or(StoreError::WrongType)?;
            if let Some(target) = locked.shard(to).live(to, now, freed) {
                target.as_set().ok_or(StoreError::WrongType)?;
            }
            let source = locked
                .shard(from)
                .live(from, now, freed)
                .expect("live above");
            let set = source.as_set_mut().expect("a set above");
            if from == to {
                return Ok((set.contains(member), 0));
            }
            if !set.remove(member) {
                return Ok((false, 0));
            }
            *freed += keys::member_footprint(member);
            let emptied = set.len() == 0;
            if emptied {
                *freed += locked.shard(from).remove(from).map_or(0, |e| e.footprint());
            }
            let shard = locked.shard(to);
            let existed = shard.live(to, now, freed).is_some();
            let target = shard.live_or_insert(to, now, freed, || Value::Set(SetValue::default()));
            target.as_set_mut().expect("a set above").insert(member);
            let used =
                keys::member_footprint(member) + if existed { 0 } else { keys::footprint(to, &[]) };
            let events = inner.key_events();
            events.emit(from, KeyEvent::Srem);
            if emptied {
                events.emit(from, KeyEvent::Del);
            }
            events.emit(to, KeyEvent::Sadd);
            locked.log(&[from, to]);
            Ok((true, used))
        });
        let moved = moved.map(|(moved, used)| {
            reserved.settle(used);
            moved
        });
        inner.acknowledge(moved)
    }

    /// One step of SSCAN over the set in `key`: up to `count` members
    /// (more only when several share a position) from `cursor` on, those
    /// matching `pattern` if one is given, and the cursor of the next
    /// step (0 when done). Positions come from a seeded hash of each
    /// member, as SCAN's do, so a member present for the whole scan is
    /// returned exactly once whatever is added or removed meanwhile; each
    /// step costs one pass over the set and covers at least 1/64 of it.
    pub fn set_scan(
        &self,
        key: &[u8],
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<(u64, Vec<Vec<u8>>), StoreError> {
        self.read_set(key, |set| {
            let Some(set) = set else {
                return (0, Vec::new());
            };
            let count = count.max(1).max(set.len() / keys::SCAN_PASSES);
            let mut ahead: Vec<(u64, &[u8])> = set
                .members()
                .map(|m| (position(m), m))
                .filter(|(p, _)| *p >= cursor)
                .collect();
            let next = if ahead.len() <= count {
                0
            } else {
                ahead.select_nth_unstable_by_key(count - 1, |(p, _)| *p);
                let last = ahead[count - 1].0;
                ahead.retain(|(p, _)| *p <= last);
                last + 1
            };
            let members = ahead
                .into_iter()
                .filter(|(_, m)| pattern.is_none_or(|p| glob_match(p, m)))
                .map(|(_, m)| m.to_vec())
                .collect();
            (next, members)
        })
    }

    /// SINTER, SUNION or SDIFF of the sets in `keys` (a missing key is an
    /// empty set; a string is `WrongType`), in byte order.
    pub fn set_combine(&self, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.with_key_shards(keys, |locked, now, freed| {
            let sets = gather(locked, keys, now, freed)?;
            Ok(combine(op, &sets, usize::MAX)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect())
        })
    }

    /// How many members the intersection of the sets in `keys` has, at
    /// most `limit` (SINTERCARD; 0 for no limit).
    pub fn set_inter_card(&self, keys: &[&[u8]], limit: usize) -> Result<usize, StoreError> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        self.inner.with_key_shards(keys, |locked, now, freed| {
            let sets = gather(locked, keys, now, freed)?;
            Ok(combine(SetOp::Inter, &sets, limit).len())
        })
    }

    /// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: the result replaces `to`
    /// (without a TTL; an empty result deletes it), atomically with the
    /// reads; its size. Memory for the inputs' size is reserved first and
    /// settled to the result's.
    pub fn set_combine_store(
        &self,
        op: SetOp,
        to: &[u8],
        keys: &[&[u8]],
    ) -> Result<usize, StoreError> {
        let inner = &*self.inner;
        inner.writable()?;
        check_key(to)?;
        let most: usize = keys::footprint(to, &[])
            + distinct(keys)
                .iter()
                .filter_map(|k| inner.with_live_key(k, KeyEntry::footprint))
                .sum::<usize>();
        let reserved = inner.reserve(most)?;
        let mut all = keys.to_vec();
        all.push(to);
        let stored = inner.with_key_shards(&all, |locked, now, freed| {
            let result: SetValue = {
                let sets = gather(locked, keys, now, freed)?;
                let mut result = SetValue::default();
                for member in combine(op, &sets, usize::MAX) {
                    result.insert(member);
                }
                result
            };
            let len = result.len();
            let shard = locked.shard(to);
            // Redis announces the stored set by the command's name, or `del`
            // for an empty result that removed a key (none if there was none).
            let stored = match op {
                SetOp::Inter => KeyEvent::Sinterstore,
                SetOp::Union => KeyEvent::Sunionstore,
                SetOp::Diff => KeyEvent::Sdiffstore,
            };
            let used = if len == 0 {
                if let Some(removed) = shard.remove(to) {
                    *freed += removed.footprint();
                    inner.key_events().emit(to, KeyEvent::Del);
                }
                0
            } else {
                let value = Value::Set(result);
                let used = keys::footprint(to, &[]) + value.bytes();
                *freed += shard.set(to, value, None);
                used
            };
            inner.log_key(shard, to);
            if len > 0 {
                inner.key_events().emit(to, stored);
            }
            Ok((len, used))
        });
        let stored = stored.map(|(len, used)| {
            reserved.settle(used);
            len
        });
        inner.acknowledge(stored)
    }

    /// Runs `f` on the set in `key` (`None` if missing); `WrongType` for a
    /// string.
    fn read_set<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&SetValue>) -> T,
    ) -> Result<T, StoreError> {
        let mut f = Some(f);
        let found = self.inner.with_live_key(key, |entry| {
            let set = entry.as_set().ok_or(StoreError::WrongType)?;
            Ok((f.take().expect("run once"))(Some(set)))
        });
        match found {
            Some(out) => out,
            None => Ok((f.take().expect("run once"))(None)),
        }
    }
}

/// Each key once, in first-seen order.
fn distinct<'k>(keys: &[&'k [u8]]) -> Vec<&'k [u8]> {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.iter().copied().filter(|k| seen.insert(*k)).collect()
}

/// The sets in `keys`, in order, `None` for a missing key; `WrongType` at
/// the first string, as Redis checks them in order.
fn gather<'l>(
    locked: &'l mut crate::multi_key::Locked<'_>,
    keys: &[&[u8]],
    now: u64,
    freed: &mut usize,
) -> Result<Vec<Option<&'l SetValue>>, StoreError> {
    // Expired entries go first, so that the reads below are plain lookups.
    for key in keys {
        if let Some(entry) = locked.shard(key).live(key, now, freed) {
            entry.as_set().ok_or(StoreError::WrongType)?;
        }
    }
    let locked: &'l crate::multi_key::Locked<'_> = locked;
    Ok(keys
        .iter()
        .map(|key| locked.shard_ref(key).get(key).and_then(KeyEntry::as_set))
        .collect())
}

/// The members of `op` over `sets`, in byte order, at most `limit`.
fn combine<'s>(op: SetOp, sets: &[Option<&'s SetValue>], limit: usize) -> Vec<&'s [u8]> {
    // A set named twice counts once (by address: the same key).
    let mut seen = HashSet::with_capacity(sets.len());
    let unique: Vec<Option<&SetValue>> = sets
        .iter()
        .copied()
        .filter(|set| seen.insert(set.map(|s| s as *const SetValue)))
        .collect();
    match op {
        SetOp::Inter => {
            if unique.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sets: Vec<&SetValue> = unique.into_iter().flatten().collect();
            sets.sort_by_key(|s| s.len());
            let Some((smallest, rest)) = sets.split_first() else {
                return Vec::new();
            };
            smallest
                .members()
                .filter(|m| rest.iter().all(|s| s.contains(m)))
                .take(limit)
                .collect()
        }
        SetOp::Union => {
            let mut all: Vec<&[u8]> = unique.iter().flatten().flat_map(|s| s.members()).collect();
            all.sort_unstable();
            all.dedup();
            all.truncate(limit);
            all
        }
        SetOp::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Vec::new();
            };
            // The first key named again: nothing is left.
            if sets[1..]
                .iter()
                .any(|s| s.is_some_and(|s| std::ptr::eq(s, *first)))
            {
                return Vec::new();
            }
            let others: Vec<&SetValue> = unique[1..].iter().flatten().copied().collect();
            first
                .members()
                .filter(|m| !others.iter().any(|s| s.contains(m)))
                .take(limit)
                .collect()
        }
    }
}

/// Up to `want` distinct members chosen at random, in byte order.
fn pick_distinct<'s>(set: &'s SetValue, want: usize, random: &mut Random) -> Vec<&'s [u8]> {
    let n = set.len();
    if want >= n {
        return set.members().collect();
    }
    if want == 1 {
        // One member: walk only up to it.
        return set.members().nth(random.below(n)).into_iter().collect();
    }
    // Choose which indices to take (or, for most of the set, to leave),
    // then walk the set once.
    let (choose, keep_chosen) = if want <= n / 2 {
        (want, true)
    } else {
        (n - want, false)
    };
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < choose {
        chosen.insert(random.below(n));
    }
    set.members()
        .enumerate()
        .filter(|(i, _)| chosen.contains(i) == keep_chosen)
        .map(|(_, m)| m)
        .collect()
}

/// Fisher-Yates.
fn shuffle<T>(items: &mut [T], random: &mut Random) {
    for i in (1..items.len()).rev() {
        items.swap(i, random.below(i + 1));
    }
}

/// A member's SSCAN position: its hash under a seed fixed for the
/// process, in 63 bits so that `last + 1` never wraps to 0 (done).
fn position(member: &[u8]) -> u64 {
    static SEED: OnceLock<FixedState> = OnceLock::new();
    let state = SEED.get_or_init(|| FixedState::with_seed(SessionId::random().prefix()));
    state.hash_one(member) >> 1
}

/// 64 bits of an id's 128.
fn seed_of(id: &SessionId) -> u64 {
    let (a, b) = id.as_bytes().split_at(8);
    u64::from_le_bytes(a.try_into().expect("8 bytes"))
        ^ u64::from_le_bytes(b.try_into().expect("8 bytes")).rotate_left(17)
}

/// A small generator (SplitMix64) for random picks.
pub(crate) struct Random(u64);

impl Random {
    /// For a write (SPOP): outside a replay, as a read; in a replay,
    /// seeded from the id the leader drew for it. A replay whose entry
    /// carries no id (a log from before SPOP drew one) seeds from the
    /// leader's time and `salt`, the same on every node.
    pub(crate) fn for_write(salt: &[u8], now_ms: u64) -> Random {
        if !replica::replaying() {
            return Random::for_read();
        }
        let seed = match replica::fresh_id() {
            Some(id) => seed_of(&id),
            None => salt.iter().fold(now_ms, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            }),
        };
        Random(seed)
    }

    /// For a read (SRANDMEMBER, RANDOMKEY), and a write outside a replay:
    /// the next seed of this thread's generator, itself seeded once from
    /// the OS, never from the ids a replay carries, which belong to the
    /// writes that drew them. A pick needs no secret, and asking the OS
    /// for each one cost a `getrandom` system call per SPOP beside its
    /// read and write (strace of `redis-benchmark -t spop`).
    pub(crate) fn for_read() -> Random {
        thread_local! {
            /// This thread's generator state; `None` until first used.
            static SEEDS: Cell<Option<u64>> = const { Cell::new(None) };
        }
        SEEDS.with(|state| {
            let mut seeds = Random(state.get().unwrap_or_else(|| seed_of(&SessionId::random())));
            let seed = seeds.next();
            state.set(Some(seeds.0));
            Random(seed)
        })
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (which must be positive).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}
