//! Consumer groups on the event stream, in Redis's words: XGROUP,
//! XREADGROUP (blocking too), XACK, XPENDING, XCLAIM, XAUTOCLAIM and
//! XINFO GROUPS / CONSUMERS. The groups live in the engine
//! (`event_groups.rs`: persisted with the journal); this file reads
//! Redis's syntax and writes Redis 7.0's replies.
//!
//! In a replication group these commands are refused: each node's event
//! log is its own (its expiry sweep numbers events apart from the
//! leader's), so a group's state would not be the same on every node.

use bytes::Bytes;
use sessiond::{ClaimOptions, Delivery, EventPos, GroupError, GroupStart};

use super::stream_ids::{StreamId, interval};
use super::streams::{self, is_events};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// What a replication group answers these commands.
const IN_A_GROUP: &str = "consumer groups are refused in a replication group: each node's \
                          event log is its own; read with XREAD from one node";

fn pos(id: StreamId) -> EventPos {
    EventPos {
        ms: id.ms,
        seq: id.seq,
    }
}

fn id(pos: EventPos) -> StreamId {
    StreamId {
        ms: pos.ms,
        seq: pos.seq,
    }
}

fn bulk(bytes: &[u8]) -> Value {
    Value::Bulk(bytes.to_vec())
}

fn text(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

/// Refuses in a replication group; checks that `key` is the event stream
/// (`missing`: the error for a key that is not there).
fn stream_key(
    client: &Client<'_>,
    key: &[u8],
    missing: impl FnOnce() -> RespError,
) -> Result<(), RespError> {
    if client.shared.replication().is_some() {
        return Err(RespError::other(IN_A_GROUP));
    }
    match is_events(client, key)? {
        true => Ok(()),
        false => Err(missing()),
    }
}

/// `NOGROUP No such key '<key>' or consumer group '<group>'<after>`.
fn no_key_or_group(key: &[u8], group: &[u8], after: &str) -> RespError {
    RespError::Coded(
        format!(
            "NOGROUP No such key '{}' or consumer group '{}'{after}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(group)
        )
        .into(),
    )
}

/// The engine's refusal in Redis's words.
fn group_error(error: GroupError, key: &[u8], group: &[u8], nogroup: RespError) -> RespError {
    match error {
        GroupError::NoGroup => nogroup,
        GroupError::Exists => {
            RespError::Coded("BUSYGROUP Consumer Group name already exists".into())
        }
        GroupError::Store(e) => e.into(),
        GroupError::Gap { after, oldest_kept } => RespError::Coded(
            format!(
                "GAP consumer group '{}' of '{}' is at seq {after}, but events after it were \
                 dropped by retention; the oldest kept is seq {oldest_kept}: XGROUP SETID to \
                 accept the loss",
                String::from_utf8_lossy(group),
                String::from_utf8_lossy(key),
            )
            .into(),
        ),
    }
}

/// `XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER | HELP`.
pub(crate) fn xgroup(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let sub = super::subcommand("xgroup", &mut args, XGROUP)?;
    if sub == "help" {
        return Ok(super::slowlog::help(XGROUP_HELP));
    }
    let key = args.bytes()?;
    let group = args.bytes()?;
    let missing = || {
        RespError::other(
            "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want \
             to use the MKSTREAM option to create an empty stream automatically.",
        )
    };
    stream_key(client, key, missing)?;
    let nogroup = || {
        RespError::Coded(
            format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(group),
                String::from_utf8_lossy(key)
            )
            .into(),
        )
    };
    let store = client.store;
    let refused = |e| group_error(e, key, group, nogroup());
    match sub {
        "create" | "setid" => {
            let start = match &args.bytes()?[..] {
                b"$" => GroupStart::Newest,
                other => GroupStart::After(pos(StreamId::parse(other, 0, false)?)),
            };
            let mut entries_read = None;
            while let Some(option) = args.next() {
                if sub == "create" && option.eq_ignore_ascii_case(b"mkstream") {
                    continue;
                }
                match args.next() {
                    Some(n) if option.eq_ignore_ascii_case(b"entriesread") => {
                        let n = integer(n)?;
                        if n < 0 && n != -1 {
                            return Err(RespError::other(
                                "value for ENTRIESREAD must be positive or -1",
                            ));
                        }
                        entries_read = u64::try_from(n).ok();
                    }
                    _ => return Err(RespError::Syntax),
                }
            }
            match sub {
                "create" => store.group_create(group, start, entries_read),
                _ => store.group_set_id(group, start, entries_read),
            }
            .map_err(refused)?;
            Ok(Value::Simple("OK"))
        }
        "destroy" => Ok(Value::Integer(i64::from(
            store.group_destroy(group).map_err(refused)?,
        ))),
        "createconsumer" => {
            let consumer = args.bytes()?;
            let created = store
                .group_create_consumer(group, consumer)
                .map_err(refused)?;
            Ok(Value::Integer(i64::from(created)))
        }
        _ => {
            let consumer = args.bytes()?;
            let pending = store
                .group_delete_consumer(group, consumer)
                .map_err(refused)?;
            Ok(Value::Integer(pending as i64))
        }
    }
}

/// XGROUP's subcommands and their arities (the container counted).
const XGROUP: &[(&str, i32)] = &[
    ("create", -5),
    ("createconsumer", 5),
    ("delconsumer", 5),
    ("destroy", 4),
    ("help", 2),
    ("setid", -5),
];

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

/// XREADGROUP's arguments.
pub(crate) struct GroupRead {
    group: Bytes,
    consumer: Bytes,
    count: usize,
    no_ack: bool,
    block: Option<Option<std::time::Duration>>,
    /// Each stream's key and where it reads: `None` for new events (`>`),
    /// else the consumer's history after that id.
    streams: Vec<(Bytes, Option<StreamId>)>,
}

impl GroupRead {
    /// Whether (and how long) it may wait: as XREAD's, and only a read of
    /// new events waits (a history read answers at once).
    pub(crate) fn block(&self) -> Option<Option<std::time::Duration>> {
        self.block
            .filter(|_| self.streams.iter().any(|(_, from)| from.is_none()))
    }
}

/// Reads XREADGROUP's arguments (Redis's checks, in its order).
pub(crate) fn group_read(client: &Client<'_>, args: Args<'_>) -> Result<GroupRead, RespError> {
    let streams::ReadOptions {
        count,
        block,
        group,
        no_ack,
        keys,
        ids,
    } = streams::read_options("XREADGROUP", args)?;
    let Some((group, consumer)) = group else {
        return Err(RespError::other("Missing GROUP option for XREADGROUP"));
    };
    if client.shared.replication().is_some() {
        return Err(RespError::other(IN_A_GROUP));
    }
    let mut streams = Vec::with_capacity(keys.len());
    let groups = client.store.groups_info();
    for (key, at) in keys.iter().zip(ids) {
        let ours = is_events(client, key)?;
        if !ours || !groups.iter().any(|g| g.name == group) {
            return Err(no_key_or_group(
                key,
                &group,
                " in XREADGROUP with GROUP option",
            ));
        }
        let from = match &at[..] {
            b">" => None,
            b"$" => {
                return Err(RespError::other(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the \
                     history of this consumer by specifying a proper ID, or use the > ID to get \
                     new messages. The $ ID would just return an empty result set.",
                ));
            }
            other => Some(StreamId::parse(other, 0, true)?),
        };
        streams.push((key.clone(), from));
    }
    Ok(GroupRead {
        group,
        consumer,
        count,
        no_ack,
        block,
        streams,
    })
}

/// An entry handed to a consumer, or `[id, nil]` for one retention dropped.
fn delivery((at, event): &Delivery) -> Value {
    match event {
        Some(event) => streams::entry(event),
        None => Value::Array(vec![Value::Bulk(id(*at).to_bulk()), Value::NullArray]),
    }
}

/// Runs a group read now: its answer, or `None` if a read of new events
/// found none (a blocking one then waits).
pub(crate) fn group_read_now(client: &Client<'_>, read: &GroupRead) -> Option<Reply> {
    let store = client.store;
    let mut found = Vec::new();
    let mut any = false;
    for (key, from) in &read.streams {
        let refused = |e| group_error(e, key, &read.group, no_key_or_group(key, &read.group, ""));
        let entries = match from {
            None => {
                match store.group_read_new(&read.group, &read.consumer, read.count, read.no_ack) {
                    Ok(events) if events.is_empty() => continue,
                    Ok(events) => events.iter().map(streams::entry).collect(),
                    Err(e) => return Some(Err(refused(e))),
                }
            }
            Some(after) => {
                match store.group_read_history(&read.group, &read.consumer, pos(*after), read.count)
                {
                    Ok(history) => history.iter().map(delivery).collect(),
                    Err(e) => return Some(Err(refused(e))),
                }
            }
        };
        any = true;
        found.push((bulk(key), Value::Array(entries)));
    }
    if !any {
        return None;
    }
    Some(Ok(streams::per_stream(client.protocol, found)))
}

/// `XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ...`
/// where it cannot wait (EXEC, a script): what is there now, or null.
pub(crate) fn xreadgroup(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    let read = group_read(client, args)?;
    group_read_now(client, &read).unwrap_or(Ok(Value::NullArray))
}

/// `XACK key group id [id ...]`.
pub(crate) fn xack(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?.clone();
    let group = args.bytes()?.clone();
    let ids = args
        .rest()
        .iter()
        .map(|a| StreamId::parse(a, 0, true).map(pos))
        .collect::<Result<Vec<_>, _>>()?;
    if client.shared.replication().is_some() {
        return Err(RespError::other(IN_A_GROUP));
    }
    if !is_events(client, &key)? {
        return Ok(Value::Integer(0));
    }
    let acked = client
        .store
        .group_ack(&group, &ids)
        .map_err(|e| group_error(e, &key, &group, no_key_or_group(&key, &group, "")))?;
    Ok(Value::Integer(acked as i64))
}

/// `XPENDING key group [[IDLE ms] start end count [consumer]]`.
pub(crate) fn xpending(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?.clone();
    let group = args.bytes()?.clone();
    let rest = args.rest();
    let (min_idle, rest) = match rest {
        [word, ms, rest @ ..] if word.eq_ignore_ascii_case(b"idle") => (Some(integer(ms)?), rest),
        rest => (None, rest),
    };
    let extended = match rest {
        [] if min_idle.is_none() => None,
        [start, end, count] => Some((start, end, count, None)),
        // Redis reads a consumer and ignores what follows it.
        [start, end, count, consumer, ..] => Some((start, end, count, Some(consumer))),
        _ => return Err(RespError::Syntax),
    };
    let nogroup = || no_key_or_group(&key, &group, "");
    stream_key(client, &key, nogroup)?;
    let store = client.store;
    let refused = |e| group_error(e, &key, &group, nogroup());
    let Some((start, end, count, consumer)) = extended else {
        let (n, edges, each) = store.group_pending_summary(&group).map_err(refused)?;
        let Some((low, high)) = edges else {
            return Ok(Value::Array(vec![
                Value::Integer(0),
                Value::Null,
                Value::Null,
                Value::NullArray,
            ]));
        };
        let each = each
            .into_iter()
            .map(|(name, n)| Value::Array(vec![bulk(&name), text(&n.to_string())]))
            .collect();
        return Ok(Value::Array(vec![
            Value::Integer(n as i64),
            Value::Bulk(id(low).to_bulk()),
            Value::Bulk(id(high).to_bulk()),
            Value::Array(each),
        ]));
    };
    let (start, end) = interval(start, end)?;
    let count = integer(count)?.max(0) as usize;
    let min_idle = min_idle.unwrap_or(0).max(0) as u64;
    let now = store.now_ms();
    let entries = store
        .group_pending(
            &group,
            (pos(start), pos(end)),
            count,
            consumer.map(|c| &c[..]),
            min_idle,
        )
        .map_err(refused)?;
    Ok(Value::Array(
        entries
            .iter()
            .map(|e| {
                Value::Array(vec![
                    Value::Bulk(id(e.pos).to_bulk()),
                    bulk(&e.consumer),
                    Value::Integer(now.saturating_sub(e.delivered_ms) as i64),
                    Value::Integer(e.deliveries as i64),
                ])
            })
            .collect(),
    ))
}

/// `XCLAIM key group consumer min-idle-time id ... [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]`.
pub(crate) fn xclaim(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, group, consumer) = (
        args.bytes()?.clone(),
        args.bytes()?.clone(),
        args.bytes()?.clone(),
    );
    let min_idle = integer(args.bytes()?)
        .map_err(|_| RespError::other("Invalid min-idle-time argument for XCLAIM"))?;
    let nogroup = || no_key_or_group(&key, &group, "");
    let rest = args.rest();
    // The ids run until the first argument that is not one.
    let ids_end = rest
        .iter()
        .position(|a| StreamId::parse(a, 0, true).is_err())
        .unwrap_or(rest.len());
    let ids: Vec<EventPos> = rest[..ids_end]
        .iter()
        .map(|a| StreamId::parse(a, 0, true).map(pos))
        .collect::<Result<_, _>>()?;
    let mut options = ClaimOptions {
        min_idle_ms: min_idle.max(0) as u64,
        ..ClaimOptions::default()
    };
    let mut words = Args::new("xclaim", &rest[ids_end..]);
    while let Some(word) = words.next() {
        let upper = word.to_ascii_uppercase();
        match &upper[..] {
            b"FORCE" => options.force = true,
            b"JUSTID" => options.just_id = true,
            b"IDLE" | b"TIME" | b"RETRYCOUNT" | b"LASTID" if !words.is_empty() => {
                let value = words.bytes()?;
                match &upper[..] {
                    b"IDLE" => options.idle_ms = Some(integer(value)?.max(0) as u64),
                    b"TIME" => options.time_ms = Some(integer(value)?.max(0) as u64),
                    b"RETRYCOUNT" => options.retry_count = Some(integer(value)?.max(0) as u64),
                    _ => drop(StreamId::parse(value, 0, true)?),
                }
            }
            _ => {
                return Err(RespError::other(format!(
                    "Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(word)
                )));
            }
        }
    }
    stream_key(client, &key, nogroup)?;
    let claimed = client
        .store
        .group_claim(&group, &consumer, &ids, options)
        .map_err(|e| group_error(e, &key, &group, nogroup()))?;
    Ok(Value::Array(
        claimed
            .iter()
            .map(|claim| match options.just_id {
                true => Value::Bulk(id(claim.0).to_bulk()),
                false => delivery(claim),
            })
            .collect(),
    ))
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]`.
pub(crate) fn xautoclaim(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, group, consumer) = (
        args.bytes()?.clone(),
        args.bytes()?.clone(),
        args.bytes()?.clone(),
    );
    let min_idle = integer(args.bytes()?)
        .map_err(|_| RespError::other("Invalid min-idle-time argument for XAUTOCLAIM"))?;
    let start = StreamId::parse(args.bytes()?, 0, false)?;
    let (mut count, mut just_id) = (100usize, false);
    while let Some(word) = args.next() {
        if word.eq_ignore_ascii_case(b"count") && !args.is_empty() {
            let n = integer(args.bytes()?)?;
            if !(1..=i64::MAX / 10).contains(&n) {
                return Err(RespError::other("COUNT must be > 0"));
            }
            count = n as usize;
        } else if word.eq_ignore_ascii_case(b"justid") {
            just_id = true;
        } else {
            return Err(RespError::Syntax);
        }
    }
    let nogroup = || no_key_or_group(&key, &group, "");
    stream_key(client, &key, nogroup)?;
    let (next, claimed, gone) = client
        .store
        .group_autoclaim(
            &group,
            &consumer,
            (min_idle.max(0) as u64, pos(start), count),
            just_id,
        )
        .map_err(|e| group_error(e, &key, &group, nogroup()))?;
    let claimed = claimed
        .iter()
        .map(|claim| match just_id {
            true => Value::Bulk(id(claim.0).to_bulk()),
            false => delivery(claim),
        })
        .collect();
    let gone = gone.iter().map(|p| Value::Bulk(id(*p).to_bulk())).collect();
    Ok(Value::Array(vec![
        Value::Bulk(id(next).to_bulk()),
        Value::Array(claimed),
        Value::Array(gone),
    ]))
}

/// XINFO GROUPS: one map per group.
pub(crate) fn info_groups(client: &Client<'_>) -> Value {
    let groups = client.store.groups_info();
    Value::Array(
        groups
            .iter()
            .map(|g| {
                Value::Map(vec![
                    (text("name"), bulk(&g.name)),
                    (text("consumers"), Value::Integer(g.consumers as i64)),
                    (text("pending"), Value::Integer(g.pending as i64)),
                    (
                        text("last-delivered-id"),
                        Value::Bulk(id(g.last_delivered).to_bulk()),
                    ),
                    (
                        text("entries-read"),
                        g.entries_read
                            .map_or(Value::Null, |n| Value::Integer(n as i64)),
                    ),
                    (text("lag"), Value::Integer(g.lag)),
                ])
            })
            .collect(),
    )
}

/// XINFO CONSUMERS: one map per consumer of `group`.
pub(crate) fn info_consumers(client: &Client<'_>, key: &[u8], group: &[u8]) -> Reply {
    let consumers = client.store.group_consumers(group).map_err(|e| {
        let nogroup = RespError::Coded(
            format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(group),
                String::from_utf8_lossy(key)
            )
            .into(),
        );
        group_error(e, key, group, nogroup)
    })?;
    let now = client.store.now_ms();
    Ok(Value::Array(
        consumers
            .iter()
            .map(|c| {
                Value::Map(vec![
                    (text("name"), bulk(&c.name)),
                    (text("pending"), Value::Integer(c.pending as i64)),
                    (
                        text("idle"),
                        Value::Integer(now.saturating_sub(c.seen_ms) as i64),
                    ),
                ])
            })
            .collect(),
    ))
}
