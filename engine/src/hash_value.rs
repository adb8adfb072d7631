//! A hash value: fields with values, each field with an optional
//! millisecond deadline of its own (Redis 7.4's field TTLs).
//!
//! Apps keep one hash per user with a field per session and a TTL on each
//! field, and read HLEN as the number of devices: so an expired field must
//! never be counted or shown. Every operation on a hash first reaps the
//! fields whose deadline has passed ([`HashValue::reap`], a walk of the
//! deadline index from its start, so it costs only what it removes), and
//! the key's wheel entry is kept at the hash's earliest field deadline so
//! that the expiry cycle reaps the fields of a hash nobody reads
//! (`keys.rs`).
//!
//! Fields live in a B-tree, as set members do: replies come back in a
//! stable, sorted order and no second seeded hasher is needed to keep
//! clients from aiming fields at one bucket. The fields that have a
//! deadline are also in a second B-tree ordered by deadline, which makes
//! the next deadline, the expired fields and "every field is expired"
//! questions logarithmic.

use std::collections::{BTreeMap, BTreeSet};

/// Bytes a field adds beyond its name and value: two boxed slices, its
/// share of a B-tree node and its deadline slot.
pub(crate) const FIELD_OVERHEAD: usize = 64;

/// Bytes a field's deadline adds to the deadline index beyond a copy of
/// the field's name: the entry's share of a B-tree node and its box.
pub(crate) const DEADLINE_OVERHEAD: usize = 40;

/// Hashes of up to this many fields answer HSCAN in one step, as Redis's
/// small (listpack) hashes do.
pub(crate) const SMALL_HASH: usize = 128;

/// One field's value and deadline (Unix ms, 0 = none).
#[derive(Clone)]
struct Field {
    value: Box<[u8]>,
    deadline: u64,
}

/// A hash value with its accounted bytes kept alongside, so that charging
/// it never walks the fields.
#[derive(Default, Clone)]
pub(crate) struct HashValue {
    fields: BTreeMap<Box<[u8]>, Field>,
    /// `(deadline, field)` for every field that has a deadline.
    deadlines: BTreeSet<(u64, Box<[u8]>)>,
    bytes: usize,
}

/// Bytes charged for a field and its value, without a deadline.
pub(crate) fn field_footprint(field: &[u8], value: &[u8]) -> usize {
    field.len() + value.len() + FIELD_OVERHEAD
}

/// Bytes a deadline on `field` adds.
pub(crate) fn deadline_footprint(field: &[u8]) -> usize {
    field.len() + DEADLINE_OVERHEAD
}

impl HashValue {
    /// Bytes charged for the whole value.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Fields held, expired ones not yet reaped included (callers reap
    /// first).
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// A field's value, whatever its deadline.
    pub(crate) fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.fields.get(field).map(|f| &*f.value)
    }

    /// A field's deadline: `None` if there is no such field, `Some(None)`
    /// if it has no deadline.
    pub(crate) fn deadline_of(&self, field: &[u8]) -> Option<Option<u64>> {
        self.fields
            .get(field)
            .map(|f| Some(f.deadline).filter(|d| *d != 0))
    }

    /// Sets a field's value; says whether the field is new. An existing
    /// field keeps its deadline only with `keep_ttl` (HINCRBY, HSETEX
    /// KEEPTTL); HSET's overwrite drops it, as Redis's does.
    pub(crate) fn set(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        match self.fields.get_mut(field) {
            Some(old) => {
                self.bytes = self.bytes - old.value.len() + value.len();
                // A value of the same length (a counter, a token, a
                // rewritten session) is copied over, not reallocated.
                match old.value.len() == value.len() {
                    true => old.value.copy_from_slice(value),
                    false => old.value = value.into(),
                }
                let deadline = old.deadline;
                if !keep_ttl && deadline != 0 {
                    self.set_deadline(field, None);
                }
                false
            }
            None => {
                self.bytes += field_footprint(field, value);
                let value = Field {
                    value: value.into(),
                    deadline: 0,
                };
                self.fields.insert(field.into(), value);
                true
            }
        }
    }

    /// Removes a field, returning its value.
    pub(crate) fn remove(&mut self, field: &[u8]) -> Option<Box<[u8]>> {
        let (name, old) = self.fields.remove_entry(field)?;
        self.bytes -= field_footprint(&name, &old.value);
        if old.deadline != 0 {
            self.deadlines.remove(&(old.deadline, name));
            self.bytes -= deadline_footprint(field);
        }
        Some(old.value)
    }

    /// Gives a field a deadline (`None`: none); says whether it exists.
    /// A deadline of 0 ms is kept as 1 ms: 0 means "none".
    pub(crate) fn set_deadline(&mut self, field: &[u8], deadline: Option<u64>) -> bool {
        let Some(entry) = self.fields.get_mut(field) else {
            return false;
        };
        let new = deadline.map_or(0, |d| d.max(1));
        let old = std::mem::replace(&mut entry.deadline, new);
        if old == new {
            return true;
        }
        if old != 0 {
            self.deadlines.remove(&(old, Box::from(field)));
            self.bytes -= deadline_footprint(field);
        }
        if new != 0 {
            self.deadlines.insert((new, field.into()));
            self.bytes += deadline_footprint(field);
        }
        true
    }

    /// Removes every field whose deadline is `now_ms` or earlier; returns
    /// the bytes freed.
    pub(crate) fn reap(&mut self, now_ms: u64) -> usize {
        let before = self.bytes;
        while let Some((deadline, _)) = self.deadlines.first()
            && *deadline <= now_ms
        {
            let (_, field) = self.deadlines.pop_first().expect("seen above");
            self.bytes -= deadline_footprint(&field);
            if let Some(old) = self.fields.remove(&field) {
                self.bytes -= field_footprint(&field, &old.value);
            }
        }
        before - self.bytes
    }

    /// The earliest field deadline, if any field has one.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Whether no field is alive at `now_ms` (every field has a deadline
    /// and the latest has passed; or there are no fields at all).
    pub(crate) fn all_expired(&self, now_ms: u64) -> bool {
        self.fields.len() == self.deadlines.len()
            && self.deadlines.last().is_none_or(|(d, _)| *d <= now_ms)
    }

    /// Every field, value and deadline, in field order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8], Option<u64>)> {
        self.fields
            .iter()
            .map(|(k, f)| (&**k, &*f.value, Some(f.deadline).filter(|d| *d != 0)))
    }

    /// One step of HSCAN: fields whose `position` is `from` or later, at
    /// least `count` of them (more in a large hash, so that a whole scan
    /// costs a bounded number of passes; and all of them in a small one,
    /// as Redis answers a small hash in one step), in position order.
    /// Returns where the next step starts, `None` when done.
    ///
    /// A position is the field's seeded hash, which never changes, so a
    /// field present for the whole scan is returned exactly once however
    /// the hash changes between steps.
    pub(crate) fn scan(
        &self,
        from: u64,
        count: usize,
        position: impl Fn(&[u8]) -> u64,
        mut visit: impl FnMut(&[u8], &[u8]),
    ) -> Option<u64> {
        if from == 0 && self.fields.len() <= SMALL_HASH {
            self.iter().for_each(|(f, v, _)| visit(f, v));
            return None;
        }
        let count = count.max(1).max(self.fields.len() / 64);
        let mut ahead: Vec<(u64, &[u8], &[u8])> = self
            .iter()
            .map(|(f, v, _)| (position(f), f, v))
            .filter(|(p, _, _)| *p >= from)
            .collect();
        if ahead.len() <= count {
            ahead.sort_unstable_by_key(|(p, _, _)| *p);
            ahead.iter().for_each(|(_, f, v)| visit(f, v));
            return None;
        }
        ahead.select_nth_unstable_by_key(count - 1, |(p, _, _)| *p);
        let last = ahead[count - 1].0;
        let mut step: Vec<_> = ahead.into_iter().filter(|(p, _, _)| *p <= last).collect();
        step.sort_unstable_by_key(|(p, _, _)| *p);
        step.iter().for_each(|(_, f, v)| visit(f, v));
        last.checked_add(1)
    }

    /// The fields at the given ranks (0 = the first in field order), each
    /// rank as often as it is listed, in the order listed.
    pub(crate) fn at_ranks(&self, ranks: &[usize]) -> Vec<(&[u8], &[u8])> {
        let mut order: Vec<(usize, usize)> = ranks.iter().copied().zip(0..).collect();
        order.sort_unstable();
        let mut out = vec![(&[][..], &[][..]); ranks.len()];
        let mut fields = self.fields.iter().enumerate();
        let mut current = fields.next();
        for (rank, slot) in order {
            while let Some((i, _)) = current
                && i < rank
            {
                current = fields.next();
            }
            if let Some((_, (field, value))) = current {
                out[slot] = (&**field, &*value.value);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_follow_fields_values_and_deadlines() {
        let mut hash = HashValue::default();
        assert!(hash.set(b"f", b"value", false));
        assert_eq!(hash.bytes(), field_footprint(b"f", b"value"));
        assert!(!hash.set(b"f", b"v", false));
        assert_eq!(hash.bytes(), field_footprint(b"f", b"v"));
        assert!(hash.set_deadline(b"f", Some(5_000)));
        assert_eq!(
            hash.bytes(),
            field_footprint(b"f", b"v") + deadline_footprint(b"f")
        );
        assert!(hash.set(b"g", b"w", false));
        assert_eq!(hash.remove(b"f").as_deref(), Some(&b"v"[..]));
        assert_eq!(hash.bytes(), field_footprint(b"g", b"w"));
        assert!(hash.next_deadline().is_none());
        assert!(!hash.set_deadline(b"nope", Some(1)));
    }

    #[test]
    fn an_overwrite_drops_the_deadline_unless_kept() {
        let mut hash = HashValue::default();
        hash.set(b"f", b"1", false);
        hash.set_deadline(b"f", Some(9_000));
        hash.set(b"f", b"2", true);
        assert_eq!(hash.deadline_of(b"f"), Some(Some(9_000)));
        hash.set(b"f", b"3", false);
        assert_eq!(hash.deadline_of(b"f"), Some(None));
        assert_eq!(hash.next_deadline(), None);
        assert_eq!(hash.bytes(), field_footprint(b"f", b"3"));
    }

    #[test]
    fn reaping_removes_exactly_the_expired_fields() {
        let mut hash = HashValue::default();
        for (i, field) in [b"a", b"b", b"c"].into_iter().enumerate() {
            hash.set(field, b"v", false);
            hash.set_deadline(field, Some(1_000 * (i as u64 + 1)));
        }
        assert!(!hash.all_expired(2_999));
        assert!(hash.all_expired(3_000));
        let before = hash.bytes();
        let freed = hash.reap(2_000);
        assert_eq!(
            freed,
            2 * (field_footprint(b"a", b"v") + deadline_footprint(b"a"))
        );
        assert_eq!(hash.bytes(), before - freed);
        assert_eq!(hash.len(), 1);
        assert_eq!(hash.next_deadline(), Some(3_000));
        hash.set(b"d", b"v", false);
        assert!(!hash.all_expired(u64::MAX), "d has no deadline");
        assert_eq!(
            hash.reap(5_000),
            field_footprint(b"c", b"v") + deadline_footprint(b"c")
        );
        assert_eq!(
            hash.iter().map(|(f, ..)| f.to_vec()).collect::<Vec<_>>(),
            [b"d"]
        );
    }

    #[test]
    fn ranks_pick_fields_in_the_order_asked() {
        let mut hash = HashValue::default();
        for field in [b"a", b"b", b"c"] {
            hash.set(field, field, false);
        }
        let picked: Vec<_> = hash
            .at_ranks(&[2, 0, 2, 1])
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(picked, [&b"c"[..], b"a", b"c", b"b"]);
    }

    #[test]
    fn a_large_scan_returns_every_field_once() {
        let mut hash = HashValue::default();
        for i in 0..1000u32 {
            hash.set(&i.to_le_bytes(), b"v", false);
        }
        let position = |f: &[u8]| u64::from(u32::from_le_bytes(f.try_into().unwrap())) * 7919;
        let (mut seen, mut from, mut steps) = (Vec::new(), Some(0), 0);
        while let Some(at) = from {
            from = hash.scan(at, 10, position, |f, _| seen.push(f.to_vec()));
            steps += 1;
        }
        assert!(steps > 10, "a large hash is scanned in steps");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 1000);
    }
}
