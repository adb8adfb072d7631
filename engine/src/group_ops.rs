//! The store's consumer-group operations (`event_groups.rs` holds the
//! state and its journal records): create, move, destroy; read new events
//! or a consumer's history; acknowledge; list what is pending; claim and
//! auto-claim what a consumer left. Each takes the groups' lock, computes
//! its changes, applies and journals them as one record (a BATCH when
//! there are several, so a crash keeps all or none), and answers once
//! they are as durable as the store's policy asks.

use sessiond_protocol::Event;

use crate::event_groups::{
    ConsumerInfo, EventPos, GroupChange, GroupError, GroupInfo, Groups, PendingEntry,
};
use crate::events::EventImage;
use crate::persist::Entry;
use crate::store::{Inner, Store};

/// Where a group starts or is moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStart {
    /// After the newest event (`$`).
    Newest,
    /// After this id.
    After(EventPos),
}

/// XCLAIM's options beyond its ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimOptions {
    /// Only entries idle at least this long are claimed.
    pub min_idle_ms: u64,
    /// Set the delivery time to this long ago (IDLE); else now.
    pub idle_ms: Option<u64>,
    /// Set the delivery time to this time (TIME, Unix ms), before IDLE.
    pub time_ms: Option<u64>,
    /// Set the delivery count (RETRYCOUNT); else one more, or as it was
    /// with `just_id`.
    pub retry_count: Option<u64>,
    /// Create a pending entry for an event that has none (FORCE).
    pub force: bool,
    /// Answer ids only and leave the delivery count (JUSTID).
    pub just_id: bool,
}

/// An entry handed to a consumer: its id and its event, `None` when
/// retention has dropped it (Redis's deleted entry).
pub type Delivery = (EventPos, Option<Event>);

impl Store {
    /// XGROUP CREATE: a new group at `start`, having read `entries_read`
    /// events if the caller says (ENTRIESREAD).
    pub fn group_create(
        &self,
        group: &[u8],
        start: GroupStart,
        entries_read: Option<u64>,
    ) -> Result<(), GroupError> {
        self.place(group, start, entries_read, true)
    }

    /// XGROUP SETID: moves a group (the way to accept a gap).
    pub fn group_set_id(
        &self,
        group: &[u8],
        start: GroupStart,
        entries_read: Option<u64>,
    ) -> Result<(), GroupError> {
        self.place(group, start, entries_read, false)
    }

    /// Creates a group at `start`, or moves one that exists there.
    fn place(
        &self,
        group: &[u8],
        start: GroupStart,
        entries_read: Option<u64>,
        create: bool,
    ) -> Result<(), GroupError> {
        self.groups_change(|inner, groups| {
            match (create, groups.groups.contains_key(group)) {
                (true, true) => return Err(GroupError::Exists),
                (false, false) => return Err(GroupError::NoGroup),
                _ => {}
            }
            let (last, after) = inner.position(start);
            let change = GroupChange::Position {
                group: group.to_vec(),
                last,
                after,
                entries_read,
                create,
            };
            Ok(((), vec![change]))
        })
    }

    /// XGROUP DESTROY: whether there was such a group.
    pub fn group_destroy(&self, group: &[u8]) -> Result<bool, GroupError> {
        self.groups_change(|_, groups| {
            let there = groups.groups.contains_key(group);
            let changes = match there {
                true => vec![GroupChange::Destroy {
                    group: group.to_vec(),
                }],
                false => Vec::new(),
            };
            Ok((there, changes))
        })
    }

    /// XGROUP CREATECONSUMER: whether the consumer is new.
    pub fn group_create_consumer(&self, group: &[u8], consumer: &[u8]) -> Result<bool, GroupError> {
        self.groups_change(|inner, groups| {
            let g = known(groups, group)?;
            if g.consumers.contains_key(consumer) {
                return Ok((false, Vec::new()));
            }
            Ok((true, vec![seen(group, consumer, inner.now_ms())]))
        })
    }

    /// XGROUP DELCONSUMER: how many pending entries it had (now gone).
    pub fn group_delete_consumer(
        &self,
        group: &[u8],
        consumer: &[u8],
    ) -> Result<usize, GroupError> {
        self.groups_change(|_, groups| {
            let g = known(groups, group)?;
            if !g.consumers.contains_key(consumer) {
                return Ok((0, Vec::new()));
            }
            let pending = g
                .pending
                .values()
                .filter(|p| p.consumer == consumer)
                .count();
            let forget = GroupChange::Forget {
                group: group.to_vec(),
                consumer: consumer.to_vec(),
            };
            Ok((pending, vec![forget]))
        })
    }

    /// XREADGROUP `>`: up to `count` events after the group's position,
    /// delivered to `consumer` (pending until acknowledged, unless
    /// `no_ack`). A gap if retention dropped events the group has not read.
    pub fn group_read_new(
        &self,
        group: &[u8],
        consumer: &[u8],
        count: usize,
        no_ack: bool,
    ) -> Result<Vec<Event>, GroupError> {
        self.groups_change(|inner, groups| {
            let g = known(groups, group)?;
            let now = inner.now_ms();
            let images =
                inner
                    .events()
                    .read(now, g.after, count)
                    .map_err(|gap| GroupError::Gap {
                        after: gap.after,
                        oldest_kept: gap.oldest_kept,
                    })?;
            let events: Vec<Event> = images.iter().map(EventImage::decode).collect();
            let mut changes = vec![seen(group, consumer, now)];
            if let Some(last) = events.last() {
                changes.push(GroupChange::Position {
                    group: group.to_vec(),
                    last: pos_of(last),
                    after: last.seq,
                    entries_read: Some(last.seq),
                    create: false,
                });
                if !no_ack {
                    changes.push(GroupChange::Assign {
                        group: group.to_vec(),
                        consumer: consumer.to_vec(),
                        delivered_ms: now,
                        entries: events.iter().map(|e| (pos_of(e), 1)).collect(),
                    });
                }
            }
            Ok((events, changes))
        })
    }

    /// XREADGROUP with an id: `consumer`'s own pending entries after
    /// `after`, up to `count`, delivered again.
    pub fn group_read_history(
        &self,
        group: &[u8],
        consumer: &[u8],
        after: EventPos,
        count: usize,
    ) -> Result<Vec<Delivery>, GroupError> {
        self.groups_change(|inner, groups| {
            let g = known(groups, group)?;
            let now = inner.now_ms();
            let mine: Vec<(EventPos, u64)> = g
                .pending
                .range(after..)
                .filter(|(pos, p)| **pos > after && p.consumer == consumer)
                .take(count)
                .map(|(pos, p)| (*pos, p.deliveries + 1))
                .collect();
            let delivered = mine
                .iter()
                .map(|(pos, _)| (*pos, inner.event_at(*pos)))
                .collect();
            let mut changes = vec![seen(group, consumer, now)];
            if !mine.is_empty() {
                changes.push(assign(group, consumer, now, mine));
            }
            Ok((delivered, changes))
        })
    }

    /// XACK: how many of `ids` were pending (0 for a group that does not
    /// exist, as Redis answers).
    pub fn group_ack(&self, group: &[u8], ids: &[EventPos]) -> Result<usize, GroupError> {
        self.groups_change(|_, groups| {
            let Some(g) = groups.groups.get(group) else {
                return Ok((0, Vec::new()));
            };
            let mut acked: Vec<EventPos> = ids
                .iter()
                .copied()
                .filter(|id| g.pending.contains_key(id))
                .collect();
            acked.sort_unstable();
            acked.dedup();
            let changes = match acked.is_empty() {
                true => Vec::new(),
                false => vec![GroupChange::Ack {
                    group: group.to_vec(),
                    ids: acked.clone(),
                }],
            };
            Ok((acked.len(), changes))
        })
    }

    /// XPENDING's extended form: pending entries with ids in `from..=to`,
    /// of `consumer` if given, idle at least `min_idle_ms`, up to `count`.
    pub fn group_pending(
        &self,
        group: &[u8],
        (from, to): (EventPos, EventPos),
        count: usize,
        consumer: Option<&[u8]>,
        min_idle_ms: u64,
    ) -> Result<Vec<PendingEntry>, GroupError> {
        let inner = &*self.inner;
        let groups = inner.groups().lock();
        let g = known(&groups, group)?;
        let now = inner.now_ms();
        if from > to {
            return Ok(Vec::new());
        }
        Ok(g.pending
            .range(from..=to)
            .filter(|(_, p)| consumer.is_none_or(|c| p.consumer == c))
            .filter(|(_, p)| now.saturating_sub(p.delivered_ms) >= min_idle_ms)
            .take(count)
            .map(|(pos, p)| PendingEntry {
                pos: *pos,
                consumer: p.consumer.clone(),
                delivered_ms: p.delivered_ms,
                deliveries: p.deliveries,
            })
            .collect())
    }

    /// XPENDING's summary: how many are pending, the lowest and highest
    /// ids, and how many each consumer has (consumers in name order).
    #[allow(clippy::type_complexity)]
    pub fn group_pending_summary(
        &self,
        group: &[u8],
    ) -> Result<(usize, Option<(EventPos, EventPos)>, Vec<(Vec<u8>, usize)>), GroupError> {
        let groups = self.inner.groups().lock();
        let g = known(&groups, group)?;
        let edges = g
            .pending
            .keys()
            .next()
            .zip(g.pending.keys().next_back())
            .map(|(a, b)| (*a, *b));
        let mut each: std::collections::BTreeMap<&[u8], usize> = Default::default();
        for p in g.pending.values() {
            *each.entry(&p.consumer).or_default() += 1;
        }
        let each = each.into_iter().map(|(c, n)| (c.to_vec(), n)).collect();
        Ok((g.pending.len(), edges, each))
    }

    /// XCLAIM: gives `consumer` the entries of `ids` that qualify.
    pub fn group_claim(
        &self,
        group: &[u8],
        consumer: &[u8],
        ids: &[EventPos],
        options: ClaimOptions,
    ) -> Result<Vec<Delivery>, GroupError> {
        self.groups_change(|inner, groups| {
            let g = known(groups, group)?;
            let now = inner.now_ms();
            let delivered_ms = match (options.time_ms, options.idle_ms) {
                (Some(time), _) => time,
                (None, Some(idle)) => now.saturating_sub(idle),
                (None, None) => now,
            };
            let mut claimed = Vec::new();
            let mut gone = Vec::new();
            let mut out = Vec::new();
            for id in ids {
                let event = inner.event_at(*id);
                let deliveries = match g.pending.get(id) {
                    Some(p) if now.saturating_sub(p.delivered_ms) < options.min_idle_ms => continue,
                    Some(_) if event.is_none() => {
                        gone.push(*id);
                        continue;
                    }
                    Some(p) => p.deliveries,
                    None if options.force && event.is_some() => 0,
                    None => continue,
                };
                let deliveries = match (options.retry_count, options.just_id) {
                    (Some(n), _) => n,
                    (None, true) => deliveries,
                    (None, false) => deliveries + 1,
                };
                claimed.push((*id, deliveries));
                out.push((*id, if options.just_id { None } else { event }));
            }
            let mut changes = vec![seen(group, consumer, now)];
            if !gone.is_empty() {
                changes.push(GroupChange::Ack {
                    group: group.to_vec(),
                    ids: gone,
                });
            }
            if !claimed.is_empty() {
                changes.push(assign(group, consumer, delivered_ms, claimed));
            }
            Ok((out, changes))
        })
    }

    /// XAUTOCLAIM: from `start`, looks at up to `count` pending entries
    /// (at most ten times as many when skipping young ones) and gives
    /// `consumer` those idle at least `min_idle_ms`. Returns where the next
    /// call starts (`0-0` at the end), what was claimed, and the ids whose
    /// events retention dropped (no longer pending).
    #[allow(clippy::type_complexity)]
    pub fn group_autoclaim(
        &self,
        group: &[u8],
        consumer: &[u8],
        (min_idle_ms, start, count): (u64, EventPos, usize),
        just_id: bool,
    ) -> Result<(EventPos, Vec<Delivery>, Vec<EventPos>), GroupError> {
        self.groups_change(|inner, groups| {
            let g = known(groups, group)?;
            let now = inner.now_ms();
            let mut attempts = count.saturating_mul(10);
            let (mut claimed, mut out, mut gone) = (Vec::new(), Vec::new(), Vec::new());
            let mut next = EventPos::default();
            for (id, p) in g.pending.range(start..) {
                if out.len() + gone.len() >= count || attempts == 0 {
                    next = *id;
                    break;
                }
                attempts -= 1;
                if now.saturating_sub(p.delivered_ms) < min_idle_ms {
                    continue;
                }
                match inner.event_at(*id) {
                    None => gone.push(*id),
                    Some(event) => {
                        let deliveries = p.deliveries + u64::from(!just_id);
                        claimed.push((*id, deliveries));
                        out.push((*id, (!just_id).then_some(event)));
                    }
                }
            }
            let mut changes = vec![seen(group, consumer, now)];
            if !gone.is_empty() {
                changes.push(GroupChange::Ack {
                    group: group.to_vec(),
                    ids: gone.clone(),
                });
            }
            if !claimed.is_empty() {
                changes.push(assign(group, consumer, now, claimed));
            }
            Ok(((next, out, gone), changes))
        })
    }

    /// XINFO GROUPS: every group, in name order.
    pub fn groups_info(&self) -> Vec<GroupInfo> {
        let inner = &*self.inner;
        let groups = inner.groups().lock();
        let now = inner.now_ms();
        let newest = inner.events().info(now).last_seq;
        groups
            .groups
            .iter()
            .map(|(name, g)| {
                // Where the group is, when it has not read since it was
                // placed: the events up to its position.
                let read = g.entries_read.unwrap_or(g.after);
                GroupInfo {
                    name: name.clone(),
                    consumers: g.consumers.len(),
                    pending: g.pending.len(),
                    last_delivered: g.last,
                    entries_read: g.entries_read,
                    lag: newest as i64 - read as i64,
                }
            })
            .collect()
    }

    /// XINFO CONSUMERS: a group's consumers, in name order.
    pub fn group_consumers(&self, group: &[u8]) -> Result<Vec<ConsumerInfo>, GroupError> {
        let groups = self.inner.groups().lock();
        let g = known(&groups, group)?;
        Ok(g.consumers
            .iter()
            .map(|(name, seen_ms)| ConsumerInfo {
                name: name.clone(),
                pending: g.pending.values().filter(|p| p.consumer == *name).count(),
                seen_ms: *seen_ms,
            })
            .collect())
    }

    /// Runs one group operation: `decide` reads the groups and returns
    /// its answer with the changes it makes, which are applied and
    /// journaled (as one record) under the same lock.
    fn groups_change<T>(
        &self,
        decide: impl FnOnce(&Inner, &Groups) -> Result<(T, Vec<GroupChange>), GroupError>,
    ) -> Result<T, GroupError> {
        let inner = &*self.inner;
        inner.writable()?;
        let mut groups = inner.groups().lock();
        let (answer, changes) = decide(inner, &groups)?;
        for change in &changes {
            groups.apply(change);
        }
        if inner.has_journal() && !changes.is_empty() {
            let bodies: Vec<Vec<u8>> = changes
                .iter()
                .map(|change| {
                    let mut packed = Vec::new();
                    change.encode(&mut packed);
                    let mut body = Vec::new();
                    Entry::Group(&packed).encode(&mut body);
                    body
                })
                .collect();
            inner.log_encoded(&bodies);
        }
        drop(groups);
        Ok(inner.acknowledge(Ok(answer))?)
    }
}

impl Inner {
    /// A group's position for `start`, and the seq it then reads after.
    /// A group placed before the oldest kept event reads from it: placing
    /// it is accepting what retention dropped before.
    fn position(&self, start: GroupStart) -> (EventPos, u64) {
        let now = self.now_ms();
        match start {
            GroupStart::Newest => {
                let info = self.events().info(now);
                let ms = if info.len > 0 { info.last_at_ms } else { 0 };
                let last = EventPos {
                    ms,
                    seq: info.last_seq,
                };
                (last, info.last_seq)
            }
            GroupStart::After(pos) => (pos, self.events().first_after(now, pos.ms, pos.seq) - 1),
        }
    }

    /// The kept event with exactly this id.
    fn event_at(&self, pos: EventPos) -> Option<Event> {
        let images = self
            .events()
            .range(self.now_ms(), pos.seq, pos.seq, 1, false);
        images
            .first()
            .filter(|image| image.at_ms() == pos.ms)
            .map(EventImage::decode)
    }
}

fn known<'g>(
    groups: &'g Groups,
    name: &[u8],
) -> Result<&'g crate::event_groups::Group, GroupError> {
    groups.groups.get(name).ok_or(GroupError::NoGroup)
}

fn seen(group: &[u8], consumer: &[u8], now: u64) -> GroupChange {
    GroupChange::Seen {
        group: group.to_vec(),
        consumer: consumer.to_vec(),
        now,
    }
}

fn assign(group: &[u8], consumer: &[u8], at: u64, entries: Vec<(EventPos, u64)>) -> GroupChange {
    GroupChange::Assign {
        group: group.to_vec(),
        consumer: consumer.to_vec(),
        delivered_ms: at,
        entries,
    }
}

fn pos_of(event: &Event) -> EventPos {
    EventPos {
        ms: event.at_ms,
        seq: event.seq,
    }
}
