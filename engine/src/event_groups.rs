//! Consumer groups over the session event log: named readers that share
//! the events among their consumers, each event delivered to one of them
//! and kept pending until it is acknowledged, so that an app server that
//! dies with events in hand has them delivered again (claimed) to another.
//! Redis streams' consumer groups, over the one stream this store has.
//!
//! # The model
//! A group has a position, the id of the last event it delivered (an
//! event's id is the pair `(at_ms, seq)`, see `events.rs`), the count of
//! events it has read (the seq of the last one delivered: seqs number
//! every event ever logged, so this is exact), its consumers with the time
//! each was last seen, and its pending entries: for each event delivered
//! and not yet acknowledged, its id, who has it, when it was last
//! delivered and how many times. Reading new events moves the position
//! and adds pending entries; reading a consumer's history, claiming and
//! auto-claiming re-deliver pending ones; acknowledging removes them. An
//! entry stays pending after retention dropped its event, as in Redis: it
//! is then delivered as deleted (no fields) until acknowledged.
//!
//! # Persistence
//! Every change is journaled as one record of primitive changes
//! ([`GroupChange`]) with their outcome spelled out (the pending entries as
//! set, the position as moved, the time), so that recovery replays it
//! without consulting the event log or the clock; a snapshot writes each
//! group as the changes that rebuild it. Groups are few and small beside
//! the sessions: one mutex guards them all, taken before the event log's.

use std::collections::BTreeMap;

/// An event's id in the stream: its time and its seq, ordered as the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct EventPos {
    /// Unix milliseconds.
    pub ms: u64,
    /// The sequence part.
    pub seq: u64,
}

/// A group that does not exist, or one that does where it must not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// No group of that name.
    #[error("no such consumer group")]
    NoGroup,
    /// CREATE named a group that exists.
    #[error("consumer group name already exists")]
    Exists,
    /// The store refused the change (a full disk, a read-only follower).
    #[error(transparent)]
    Store(#[from] sessiond_protocol::StoreError),
    /// A read found events after the group's position dropped by
    /// retention: the group has missed them (SETID accepts the loss).
    #[error(
        "events after the group's position {after} were dropped by retention; the oldest kept is {oldest_kept}"
    )]
    Gap {
        /// The seq the group would read after.
        after: u64,
        /// The oldest seq kept.
        oldest_kept: u64,
    },
}

/// One pending entry: an event delivered and not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The event's id.
    pub pos: EventPos,
    /// The consumer that has it.
    pub consumer: Vec<u8>,
    /// When it was last delivered, Unix ms.
    pub delivered_ms: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
}

/// What XINFO GROUPS tells of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Its name.
    pub name: Vec<u8>,
    /// Its consumers.
    pub consumers: usize,
    /// Its pending entries.
    pub pending: usize,
    /// The id of the last event it delivered (or where it was set).
    pub last_delivered: EventPos,
    /// Events it has read: the seq of the last one delivered; `None` from
    /// its creation or a move until it first reads (as Redis 7.0 shows
    /// it), unless the move said.
    pub entries_read: Option<u64>,
    /// Events logged that it has not read yet.
    pub lag: i64,
}

/// What XINFO CONSUMERS tells of a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Its name.
    pub name: Vec<u8>,
    /// Its pending entries.
    pub pending: usize,
    /// When it last read, claimed or was created, Unix ms.
    pub seen_ms: u64,
}

/// One group's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    pub last: EventPos,
    /// The seq it reads after: that of the last event it delivered, or,
    /// once placed at an id, of the last event at or before it then
    /// (kept or not). A read finding events after it dropped is a gap.
    pub after: u64,
    pub entries_read: Option<u64>,
    /// Consumer name to the time it was last seen.
    pub consumers: BTreeMap<Vec<u8>, u64>,
    pub pending: BTreeMap<EventPos, Pending>,
}

/// A pending entry's facts (its id is the map's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub consumer: Vec<u8>,
    pub delivered_ms: u64,
    pub deliveries: u64,
}

/// One primitive change to the groups: what a record journals and
/// recovery replays, each with its outcome spelled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupChange {
    /// A new group at `last` (CREATE), or an existing one moved there
    /// (SETID; also the position a read advanced to).
    Position {
        group: Vec<u8>,
        last: EventPos,
        after: u64,
        entries_read: Option<u64>,
        create: bool,
    },
    Destroy {
        group: Vec<u8>,
    },
    /// A consumer created, or seen at `now`.
    Seen {
        group: Vec<u8>,
        consumer: Vec<u8>,
        now: u64,
    },
    /// A consumer deleted with its pending entries.
    Forget {
        group: Vec<u8>,
        consumer: Vec<u8>,
    },
    /// Pending entries set to these facts (a delivery, a re-delivery, a
    /// claim).
    Assign {
        group: Vec<u8>,
        consumer: Vec<u8>,
        delivered_ms: u64,
        entries: Vec<(EventPos, u64)>,
    },
    /// Pending entries acknowledged.
    Ack {
        group: Vec<u8>,
        ids: Vec<EventPos>,
    },
}

/// Every group, by name.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Groups {
    /// Applies one change (the same code for a live change and its
    /// replay). Changes to a group that is gone are ignored.
    pub(crate) fn apply(&mut self, change: &GroupChange) {
        match change {
            GroupChange::Position {
                group,
                last,
                after,
                entries_read,
                create,
            } => {
                if *create {
                    self.groups.entry(group.clone()).or_default();
                }
                if let Some(g) = self.groups.get_mut(group) {
                    g.last = *last;
                    g.after = *after;
                    g.entries_read = *entries_read;
                }
            }
            GroupChange::Destroy { group } => {
                self.groups.remove(group);
            }
            GroupChange::Seen {
                group,
                consumer,
                now,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.consumers.insert(consumer.clone(), *now);
                }
            }
            GroupChange::Forget { group, consumer } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.consumers.remove(consumer);
                    g.pending.retain(|_, p| p.consumer != *consumer);
                }
            }
            GroupChange::Assign {
                group,
                consumer,
                delivered_ms,
                entries,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    for (pos, deliveries) in entries {
                        let pending = Pending {
                            consumer: consumer.clone(),
                            delivered_ms: *delivered_ms,
                            deliveries: *deliveries,
                        };
                        g.pending.insert(*pos, pending);
                    }
                }
            }
            GroupChange::Ack { group, ids } => {
                if let Some(g) = self.groups.get_mut(group) {
                    for id in ids {
                        g.pending.remove(id);
                    }
                }
            }
        }
    }

    /// The changes that rebuild every group, for a snapshot.
    pub(crate) fn rebuild(&self) -> Vec<GroupChange> {
        let mut changes = Vec::new();
        for (name, g) in &self.groups {
            changes.push(GroupChange::Position {
                group: name.clone(),
                last: g.last,
                after: g.after,
                entries_read: g.entries_read,
                create: true,
            });
            for (consumer, seen) in &g.consumers {
                changes.push(GroupChange::Seen {
                    group: name.clone(),
                    consumer: consumer.clone(),
                    now: *seen,
                });
            }
            for (pos, p) in &g.pending {
                changes.push(GroupChange::Assign {
                    group: name.clone(),
                    consumer: p.consumer.clone(),
                    delivered_ms: p.delivered_ms,
                    entries: vec![(*pos, p.deliveries)],
                });
            }
        }
        changes
    }
}

// The record's encoding: a tag, then little-endian u64s and byte strings
// prefixed by their u32 length.
const POSITION: u8 = 1;
const CREATE: u8 = 2;
const DESTROY: u8 = 3;
const SEEN: u8 = 4;
const FORGET: u8 = 5;
const ASSIGN: u8 = 6;
const ACK: u8 = 7;

impl GroupChange {
    /// The change as a GROUP record's body (protocol/PERSISTENCE.md).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        let num = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(&n.to_le_bytes());
        match self {
            GroupChange::Position {
                group,
                last,
                after,
                entries_read,
                create,
            } => {
                out.push(if *create { CREATE } else { POSITION });
                bytes(out, group);
                num(out, last.ms);
                num(out, last.seq);
                num(out, *after);
                // u64::MAX: not known (no seq gets that high).
                num(out, entries_read.unwrap_or(u64::MAX));
            }
            GroupChange::Destroy { group } => {
                out.push(DESTROY);
                bytes(out, group);
            }
            GroupChange::Seen {
                group,
                consumer,
                now,
            } => {
                out.push(SEEN);
                bytes(out, group);
                bytes(out, consumer);
                num(out, *now);
            }
            GroupChange::Forget { group, consumer } => {
                out.push(FORGET);
                bytes(out, group);
                bytes(out, consumer);
            }
            GroupChange::Assign {
                group,
                consumer,
                delivered_ms,
                entries,
            } => {
                out.push(ASSIGN);
                bytes(out, group);
                bytes(out, consumer);
                num(out, *delivered_ms);
                num(out, entries.len() as u64);
                for (pos, deliveries) in entries {
                    num(out, pos.ms);
                    num(out, pos.seq);
                    num(out, *deliveries);
                }
            }
            GroupChange::Ack { group, ids } => {
                out.push(ACK);
                bytes(out, group);
                num(out, ids.len() as u64);
                for id in ids {
                    num(out, id.ms);
                    num(out, id.seq);
                }
            }
        }
    }

    /// Reads a GROUP record's body; an error for a damaged one.
    pub(crate) fn decode(body: &[u8]) -> Result<GroupChange, &'static str> {
        let mut r = Reader(body);
        let change = match r.u8()? {
            tag @ (POSITION | CREATE) => GroupChange::Position {
                group: r.bytes()?,
                last: r.pos()?,
                after: r.u64()?,
                entries_read: Some(r.u64()?).filter(|&n| n != u64::MAX),
                create: tag == CREATE,
            },
            DESTROY => GroupChange::Destroy { group: r.bytes()? },
            SEEN => GroupChange::Seen {
                group: r.bytes()?,
                consumer: r.bytes()?,
                now: r.u64()?,
            },
            FORGET => GroupChange::Forget {
                group: r.bytes()?,
                consumer: r.bytes()?,
            },
            ASSIGN => {
                let (group, consumer, delivered_ms) = (r.bytes()?, r.bytes()?, r.u64()?);
                let n = r.count(24)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((r.pos()?, r.u64()?));
                }
                GroupChange::Assign {
                    group,
                    consumer,
                    delivered_ms,
                    entries,
                }
            }
            ACK => {
                let group = r.bytes()?;
                let n = r.count(16)?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(r.pos()?);
                }
                GroupChange::Ack { group, ids }
            }
            _ => return Err("an unknown consumer-group change"),
        };
        match r.0.is_empty() {
            true => Ok(change),
            false => Err("a consumer-group change of the wrong length"),
        }
    }
}

/// A cursor over a record's body.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        if self.0.len() < n {
            return Err("a consumer-group change cut short");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn pos(&mut self) -> Result<EventPos, &'static str> {
        Ok(EventPos {
            ms: self.u64()?,
            seq: self.u64()?,
        })
    }

    fn bytes(&mut self) -> Result<Vec<u8>, &'static str> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        Ok(self.take(len)?.to_vec())
    }

    /// A count of items of `size` bytes each, no more than the body holds.
    fn count(&mut self, size: usize) -> Result<usize, &'static str> {
        let n = self.u64()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(size) <= self.0.len() => Ok(n),
            _ => Err("a consumer-group change cut short"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(ms: u64, seq: u64) -> EventPos {
        EventPos { ms, seq }
    }

    #[test]
    fn changes_round_trip_and_damage_is_refused() {
        let g = b"g".to_vec();
        let changes = [
            GroupChange::Position {
                group: g.clone(),
                last: pos(5, 6),
                after: 6,
                entries_read: None,
                create: true,
            },
            GroupChange::Position {
                group: g.clone(),
                last: pos(7, 8),
                after: 8,
                entries_read: Some(8),
                create: false,
            },
            GroupChange::Seen {
                group: g.clone(),
                consumer: b"alice".to_vec(),
                now: 99,
            },
            GroupChange::Assign {
                group: g.clone(),
                consumer: b"alice".to_vec(),
                delivered_ms: 100,
                entries: vec![(pos(5, 6), 1), (pos(7, 8), 3)],
            },
            GroupChange::Ack {
                group: g.clone(),
                ids: vec![pos(5, 6)],
            },
            GroupChange::Forget {
                group: g.clone(),
                consumer: b"alice".to_vec(),
            },
            GroupChange::Destroy { group: g },
        ];
        for change in &changes {
            let mut body = Vec::new();
            change.encode(&mut body);
            assert_eq!(&GroupChange::decode(&body).unwrap(), change);
            assert!(GroupChange::decode(&body[..body.len() - 1]).is_err());
            body.push(0);
            assert!(GroupChange::decode(&body).is_err());
        }
        // A count that claims more than the body holds.
        let mut body = vec![ACK];
        body.extend_from_slice(&1u32.to_le_bytes());
        body.push(b'g');
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(GroupChange::decode(&body).is_err());
    }

    #[test]
    fn a_snapshot_rebuilds_the_same_groups() {
        let mut groups = Groups::default();
        let g = b"g".to_vec();
        for change in [
            GroupChange::Position {
                group: g.clone(),
                last: pos(1, 1),
                after: 1,
                entries_read: Some(1),
                create: true,
            },
            GroupChange::Seen {
                group: g.clone(),
                consumer: b"bob".to_vec(),
                now: 7,
            },
            GroupChange::Assign {
                group: g.clone(),
                consumer: b"bob".to_vec(),
                delivered_ms: 8,
                entries: vec![(pos(1, 1), 2)],
            },
        ] {
            groups.apply(&change);
        }
        let mut rebuilt = Groups::default();
        for change in groups.rebuild() {
            rebuilt.apply(&change);
        }
        let (a, b) = (&groups.groups[&g], &rebuilt.groups[&g]);
        assert_eq!((a.last, a.entries_read), (b.last, b.entries_read));
        assert_eq!(a.consumers, b.consumers);
        assert_eq!(a.pending, b.pending);
    }
}
