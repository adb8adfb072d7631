//! The session event log as a read-only Redis stream at the reserved key
//! `__sessiond:events`: XREAD (blocking too), XRANGE, XREVRANGE, XLEN,
//! XINFO. Any Redis client's stream API then consumes session events.
//!
//! Each event is an entry `<at_ms>-<seq>` (`stream_ids.rs`) with the
//! fields `type` (`created`, `rotated`, `updated`, `ended`), `reason` (an
//! end's reason, else empty), `id`, `owner`, `labels` (a JSON object of
//! strings), then `new_id` for a rotation and `note` for an end whose
//! deleter gave one. The log's retention is the stream's trimming: its
//! first entry is the oldest kept event.
//!
//! Unlike a Redis stream, a reader can be told it fell behind: XREAD
//! after an id older than what retention kept, when events after it were
//! dropped, answers `-GAP …` instead of silently skipping them (XREAD
//! from `0` or `0-0` starts at the oldest kept and is never a gap).
//! XRANGE and XREVRANGE read what is kept, as on Redis.
//!
//! Other keys are not streams here (sessiond stores strings, sets and
//! hashes): a missing key reads as an empty stream, as on Redis, and a
//! key of another type is WRONGTYPE. XADD and the rest of the stream
//! commands stay unknown: this stream is written by the store alone.

use std::time::Duration;

use bytes::Bytes;
use sessiond::{Event, EventKind};

use super::stream_ids::{StreamId, interval};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::{Protocol, Value};
use crate::resp::spec::Reply;

/// The reserved key of the event stream.
pub(crate) const EVENTS_KEY: &[u8] = b"__sessiond:events";

/// Most entries one read returns when it names no COUNT (bounding the
/// reply a client can ask for with one command; COUNT can ask for more,
/// up to the log's retention).
pub(crate) const DEFAULT_COUNT: usize = 10_000;

/// The id of an event's entry.
fn id_of(event: &Event) -> StreamId {
    StreamId {
        ms: event.at_ms,
        seq: event.seq,
    }
}

/// An entry as Redis replies it: `[id, [field, value, ...]]`.
pub(crate) fn entry(event: &Event) -> Value {
    let text = |s: &str| Value::Bulk(s.as_bytes().to_vec());
    let (reason, extra) = match &event.kind {
        EventKind::Ended { reason, note } => (
            reason.name(),
            note.as_ref()
                .map(|note| ("note", Value::Bulk(note.clone()))),
        ),
        EventKind::Rotated { new_id } => ("", Some(("new_id", text(&new_id.to_string())))),
        EventKind::Created | EventKind::Updated => ("", None),
    };
    let mut fields = vec![
        text("type"),
        text(event.kind.name()),
        text("reason"),
        text(reason),
        text("id"),
        text(&event.id.to_string()),
        text("owner"),
        Value::Bulk(event.owner.clone()),
        text("labels"),
        text(&labels_json(event)),
    ];
    if let Some((name, value)) = extra {
        fields.push(text(name));
        fields.push(value);
    }
    Value::Array(vec![
        Value::Bulk(id_of(event).to_bulk()),
        Value::Array(fields),
    ])
}

/// The labels as a JSON object of strings, in their order.
fn labels_json(event: &Event) -> String {
    let mut out = String::from("{");
    for (n, (key, value)) in event.labels.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        json_string(key, &mut out);
        out.push(':');
        json_string(value, &mut out);
    }
    out.push('}');
    out
}

/// A JSON string literal (RFC 8259: `"`, `\` and control characters
/// escaped).
fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `key` names a stream: ours; `Ok(false)` for a missing key (an
/// empty stream); WRONGTYPE for a key of another type.
pub(crate) fn is_events(client: &Client<'_>, key: &[u8]) -> Result<bool, RespError> {
    if key == EVENTS_KEY {
        return Ok(true);
    }
    match client.store.key_type(key) {
        None => Ok(false),
        Some(_) => Err(sessiond::StoreError::WrongType.into()),
    }
}

/// The first kept event after `id`, as a sequence number (the one after
/// the newest if none is).
fn first_after(client: &Client<'_>, id: StreamId) -> u64 {
    client.store.events_first_after(id.ms, id.seq)
}

/// `XLEN key`.
pub(crate) fn xlen(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    match is_events(client, key)? {
        true => Ok(Value::Integer(client.store.events_info().len as i64)),
        false => Ok(Value::Integer(0)),
    }
}

/// `XRANGE key start end [COUNT n]`.
pub(crate) fn xrange(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    range(client, args, false)
}

/// `XREVRANGE key end start [COUNT n]`.
pub(crate) fn xrevrange(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    range(client, args, true)
}

fn range(client: &mut Client<'_>, mut args: Args<'_>, reverse: bool) -> Reply {
    let key = args.bytes()?;
    let (first, second) = (args.bytes()?, args.bytes()?);
    let (start, end) = match reverse {
        true => interval(second, first)?,
        false => interval(first, second)?,
    };
    let mut count = None;
    while let Some(option) = args.next() {
        match args.next() {
            Some(n) if option.eq_ignore_ascii_case(b"count") => {
                count = Some(integer(n)?.max(0) as usize);
            }
            _ => return Err(RespError::Syntax),
        }
    }
    if !is_events(client, key)? {
        return Ok(Value::Array(Vec::new()));
    }
    if count == Some(0) {
        return Ok(Value::NullArray);
    }
    if start > end {
        return Ok(Value::Array(Vec::new()));
    }
    let from = match start.prev() {
        Some(before) => first_after(client, before),
        None => 0,
    };
    let to = first_after(client, end).saturating_sub(1);
    let max = count.unwrap_or(usize::MAX);
    let events = client.store.events_range(from, to, max, reverse);
    Ok(Value::Array(events.iter().map(entry).collect()))
}

/// XREAD's arguments.
pub(crate) struct ReadRequest {
    count: usize,
    /// `BLOCK ms`: `Some(None)` for `BLOCK 0`, which waits for ever.
    block: Option<Option<Duration>>,
    /// Each stream's key and the sequence to read after (`None` for a key
    /// that is no stream: missing, so empty).
    streams: Vec<(Bytes, Option<u64>)>,
}

impl ReadRequest {
    /// How long the read may wait for an entry: `None` if it must not,
    /// `Some(None)` for ever.
    pub(crate) fn block(&self) -> Option<Option<Duration>> {
        self.block
    }
}

/// What XREAD and XREADGROUP share: their options, then the keys and ids
/// after STREAMS. Checked in Redis's order (an option's error as it is
/// met), so that both commands refuse what Redis refuses, with its words.
pub(crate) struct ReadOptions<'a> {
    /// COUNT; [`DEFAULT_COUNT`] when absent or not positive.
    pub count: usize,
    /// BLOCK: `Some(None)` for `BLOCK 0`, which waits for ever.
    pub block: Option<Option<Duration>>,
    /// XREADGROUP's GROUP group consumer.
    pub group: Option<(Bytes, Bytes)>,
    /// XREADGROUP's NOACK.
    pub no_ack: bool,
    pub keys: &'a [Bytes],
    pub ids: &'a [Bytes],
}

/// Reads the options of `command` (`"XREAD"` or `"XREADGROUP"`, which
/// alone takes GROUP and NOACK).
pub(crate) fn read_options<'a>(
    command: &str,
    mut args: Args<'a>,
) -> Result<ReadOptions<'a>, RespError> {
    let grouped = command == "XREADGROUP";
    let (mut count, mut block, mut group, mut no_ack) = (DEFAULT_COUNT, None, None, false);
    let rest = loop {
        let Some(option) = args.next() else {
            return Err(RespError::Syntax);
        };
        let more = args.remaining();
        let is = |word: &[u8]| option.eq_ignore_ascii_case(word);
        if is(b"block") && more > 0 {
            block = Some(block_timeout(args.bytes()?)?);
        } else if is(b"count") && more > 0 {
            count = match integer(args.bytes()?)? {
                n if n <= 0 => DEFAULT_COUNT,
                n => n as usize,
            };
        } else if is(b"streams") && more > 0 {
            break args.rest();
        } else if (is(b"group") && more >= 2) || is(b"noack") {
            if !grouped {
                let word = String::from_utf8_lossy(option).to_ascii_uppercase();
                return Err(RespError::other(format!(
                    "The {word} option is only supported by XREADGROUP. You called XREAD instead."
                )));
            }
            match is(b"noack") {
                true => no_ack = true,
                false => group = Some((args.bytes()?.clone(), args.bytes()?.clone())),
            }
        } else {
            return Err(RespError::Syntax);
        }
    };
    if rest.len() % 2 != 0 {
        return Err(RespError::other(format!(
            "Unbalanced {command} list of streams: for each stream key an ID or '$' must be \
             specified."
        )));
    }
    let (keys, ids) = rest.split_at(rest.len() / 2);
    Ok(ReadOptions {
        count,
        block,
        group,
        no_ack,
        keys,
        ids,
    })
}

/// Reads XREAD's arguments, resolving `$` and each id to a sequence now
/// (so a blocked read waits for what comes after this moment).
pub(crate) fn read_request(client: &Client<'_>, args: Args<'_>) -> Result<ReadRequest, RespError> {
    let ReadOptions {
        count,
        block,
        keys,
        ids,
        ..
    } = read_options("XREAD", args)?;
    let mut streams = Vec::with_capacity(keys.len());
    for (key, id) in keys.iter().zip(ids) {
        let ours = is_events(client, key)?;
        let after = match (&id[..], ours) {
            (b"$", true) => Some(client.store.events_info().last_seq),
            (b"$", false) => None,
            (b">", _) => {
                return Err(RespError::other(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP \
                     <group> <consumer> option.",
                ));
            }
            (_, ours) => {
                let id = StreamId::parse(id, 0, true)?;
                match ours {
                    true => Some(after_id(client, id)?),
                    false => None,
                }
            }
        };
        streams.push((key.clone(), after));
    }
    Ok(ReadRequest {
        count,
        block,
        streams,
    })
}

/// BLOCK's milliseconds: `None` for 0, which waits for ever.
pub(crate) fn block_timeout(arg: &[u8]) -> Result<Option<Duration>, RespError> {
    let ms =
        integer(arg).map_err(|_| RespError::other("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(RespError::other("timeout is negative"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// A read's answer: each stream's key and entries, a map in RESP3, an
/// array of pairs in RESP2.
pub(crate) fn per_stream(protocol: Protocol, found: Vec<(Value, Value)>) -> Value {
    match protocol {
        Protocol::Resp3 => Value::Map(found),
        Protocol::Resp2 => Value::Array(
            found
                .into_iter()
                .map(|(key, entries)| Value::Array(vec![key, entries]))
                .collect(),
        ),
    }
}

/// The sequence to read after for an XREAD id, or `-GAP` if events after
/// it were dropped by retention.
fn after_id(client: &Client<'_>, id: StreamId) -> Result<u64, RespError> {
    let info = client.store.events_info();
    let first = first_after(client, id);
    let dropped_after_it = info.dropped > 0
        && id != StreamId::MIN
        && first == info.first_seq
        && id.seq.saturating_add(1) < info.first_seq;
    if dropped_after_it {
        let oldest = StreamId {
            ms: info.first_at_ms,
            seq: info.first_seq,
        };
        return Err(RespError::Coded(
            format!(
                "GAP events after {id} were dropped by retention; the oldest kept is {oldest}: \
                 read from 0 to accept the loss"
            )
            .into(),
        ));
    }
    Ok(first.saturating_sub(1))
}

/// The entries a read finds now: `None` if there are none (a blocking
/// read then waits).
pub(crate) fn read_now(client: &Client<'_>, request: &ReadRequest) -> Option<Value> {
    let mut found = Vec::new();
    for (key, after) in &request.streams {
        let Some(after) = after else { continue };
        // A gap that opened while the read waited is reported the same way.
        let events = match client.store.read_events(*after, request.count) {
            Ok(events) => events,
            Err(gap) => {
                return Some(Value::from(RespError::Coded(
                    format!("GAP {gap}: read from 0 to accept the loss").into(),
                )));
            }
        };
        if !events.is_empty() {
            let entries = Value::Array(events.iter().map(entry).collect());
            found.push((Value::Bulk(key.to_vec()), entries));
        }
    }
    if found.is_empty() {
        return None;
    }
    Some(per_stream(client.protocol, found))
}

/// The highest sequence a blocked read has already looked past: it wakes
/// when the log's newest goes beyond it.
pub(crate) fn newest(client: &Client<'_>) -> u64 {
    client.store.events_info().last_seq
}

/// `XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...` where it cannot
/// wait (in EXEC, in a script): what is there now, or null. The
/// connection's own path blocks (`resp/blocking.rs`).
pub(crate) fn xread(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    let request = read_request(client, args)?;
    Ok(read_now(client, &request).unwrap_or(Value::NullArray))
}

/// `XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP`.
pub(crate) fn xinfo(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let all = args.rest();
    let given = all.first().cloned().unwrap_or_default();
    let mut args = Args::new("xinfo", all);
    match super::subcommand("xinfo", &mut args, XINFO)? {
        "help" => Ok(super::slowlog::help(&[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ])),
        "stream" => {
            let key = args.bytes()?;
            let full = match args.next() {
                None => None,
                Some(word) if word.eq_ignore_ascii_case(b"full") => match args.next() {
                    None => Some(10),
                    Some(word) if word.eq_ignore_ascii_case(b"count") => {
                        let n = integer(args.bytes()?)?;
                        Some(if n <= 0 { usize::MAX } else { n as usize })
                    }
                    Some(_) => return Err(RespError::Syntax),
                },
                Some(_) => return Err(wrong_arguments(&given)),
            };
            if !args.is_empty() {
                return Err(wrong_arguments(&given));
            }
            if !is_events(client, key)? {
                return Err(RespError::other("no such key"));
            }
            Ok(stream_info(client, full))
        }
        sub => {
            let key = args.bytes()?;
            if !is_events(client, key)? {
                return Err(RespError::other("no such key"));
            }
            match sub {
                "groups" => Ok(super::stream_groups::info_groups(client)),
                _ => super::stream_groups::info_consumers(client, key, args.bytes()?),
            }
        }
    }
}

/// XINFO's subcommands and their arities (the container counted).
const XINFO: &[(&str, i32)] = &[("consumers", 4), ("groups", 3), ("help", 2), ("stream", -3)];

/// Redis's answer to XINFO STREAM with arguments it does not take.
fn wrong_arguments(sub: &[u8]) -> RespError {
    RespError::other(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// XINFO STREAM's map: Redis 7.0's fields, in its order.
fn stream_info(client: &Client<'_>, full: Option<usize>) -> Value {
    let store = client.store;
    let info = store.events_info();
    let first = store.events_range(0, u64::MAX, 1, false);
    let last = store.events_range(0, u64::MAX, 1, true);
    let text = |s: &str| Value::Bulk(s.as_bytes().to_vec());
    let id = |id: StreamId| Value::Bulk(id.to_bulk());
    let last_id = last.first().map_or(
        StreamId {
            ms: 0,
            seq: info.last_seq,
        },
        id_of,
    );
    let first_id = first.first().map_or(StreamId::MIN, id_of);
    // Redis's radix tree packs up to 100 entries a node; the figures say
    // as much about this log, which is not one.
    let nodes = info.len.div_ceil(100) as i64;
    let mut fields = vec![
        (text("length"), Value::Integer(info.len as i64)),
        (text("radix-tree-keys"), Value::Integer(nodes)),
        (text("radix-tree-nodes"), Value::Integer(nodes + 1)),
        (text("last-generated-id"), id(last_id)),
        (text("max-deleted-entry-id"), id(StreamId::MIN)),
        (text("entries-added"), Value::Integer(info.last_seq as i64)),
        (text("recorded-first-entry-id"), id(first_id)),
    ];
    match full {
        None => {
            let edge = |e: &[Event]| e.first().map_or(Value::Null, entry);
            let groups = store.groups_info().len() as i64;
            fields.push((text("groups"), Value::Integer(groups)));
            fields.push((text("first-entry"), edge(&first)));
            fields.push((text("last-entry"), edge(&last)));
        }
        Some(count) => {
            let entries = store.events_range(0, u64::MAX, count, false);
            fields.push((
                text("entries"),
                Value::Array(entries.iter().map(entry).collect()),
            ));
            fields.push((text("groups"), Value::Array(Vec::new())));
        }
    }
    Value::Map(fields)
}
