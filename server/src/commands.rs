//! The command layer: a decoded request in, a response out.
//!
//! This is the one place where protocol requests meet the engine. It does
//! no I/O and knows no wire format, so every listener (the native protocol
//! and RESP) is a thin face over it rather than a second copy of the
//! logic: [`execute`] runs a native [`Request`], [`run`] a [`Command`],
//! which is a `Request` or one of the key operations not yet on the native
//! wire. Authentication is the connection's business and happens
//! before a request gets here.

use bytes::Bytes;
use sessiond_protocol::wire::{Reply, Request, Response, ServerError};

use crate::stats::ServerStats;
use sessiond::{Deadline, ExpireCondition, KeyExpiry, KeyType, SetOptions, SetOutcome, Store};

/// Runs one request against the store.
pub(crate) fn execute(store: &Store, stats: &ServerStats, request: Request) -> Response {
    let reply = match request {
        Request::Ping | Request::Auth { .. } => Reply::Done,
        Request::Stats => Reply::Stats(stats.snapshot(store)),
        Request::Create(new) => Reply::Id(store.create(new)?),
        Request::Get { id, touch: true } => Reply::Session(store.get(&id)?),
        Request::Get { id, touch: false } => Reply::Session(store.peek(&id)?),
        Request::Update {
            id,
            expected_version,
            data,
        } => Reply::Version(store.update(&id, &data, expected_version)?),
        Request::Touch { id } => Reply::Time(store.touch(&id)?),
        Request::Delete { id } => Reply::Bool(store.delete(&id)?),
        Request::Rotate { id } => Reply::Id(store.rotate(&id)?),
        Request::List { owner } => Reply::List(store.list(&owner)),
        Request::Count { owner } => Reply::Count(saturate(store.count(&owner))),
        Request::DeleteOwner { owner, keep } => {
            Reply::Count(saturate(store.delete_owner(&owner, keep.as_ref())?))
        }
        Request::KeySet { key, ttl, value } => {
            store.set_key(&key, value, ttl)?;
            Reply::Done
        }
        Request::KeyGet { key } => Reply::Value(store.get_string(&key)?),
        Request::KeyDelete { key } => Reply::Bool(store.delete_key(&key)?),
        Request::KeyExpire { key, ttl } => Reply::Bool(store.expire_key(&key, ttl)?),
        Request::KeyTtl { key } => Reply::Ttl(store.ttl(&key)),
        Request::KeyIncr { key, delta } => Reply::Integer(store.incr(&key, delta)?),
    };
    Ok(reply)
}

/// Counts travel as `u32`; no owner has four billion sessions, but a count
/// must never wrap if one did.
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A command for the engine: a native-protocol [`Request`], or one of the
/// Redis-shaped key operations that the native protocol does not carry
/// yet.
///
/// Why a second enum rather than new `Request` variants: a `Request` is a
/// wire message, and each new one needs an opcode, a codec, golden vectors
/// and support in both clients (SPEC.md §8). Until that lands, these
/// operations still run here, through the one command layer, so the RESP
/// face holds no engine logic of its own and the native face can take them
/// over by moving a variant into `Request`.
#[derive(Debug)]
pub(crate) enum Command {
    /// Anything the native protocol carries.
    Native(Request),
    /// SET with options, SETNX, GETSET.
    SetWith {
        key: Bytes,
        value: Bytes,
        options: SetOptions,
    },
    /// GETEX (and GETDEL, as a deadline already past).
    GetEx {
        key: Bytes,
        expiry: KeyExpiry,
    },
    /// A string key's value, `WrongType` for a set (GET, MGET).
    GetString {
        key: Bytes,
    },
    Persist {
        key: Bytes,
    },
    Exists {
        key: Bytes,
    },
    Type {
        key: Bytes,
    },
    ExpireWith {
        key: Bytes,
        when: Deadline,
        condition: ExpireCondition,
    },
    Rename {
        from: Bytes,
        to: Bytes,
    },
    KeyCount,
    FlushAll,
    Keys {
        pattern: Bytes,
    },
    Scan {
        cursor: u64,
        count: usize,
        pattern: Option<Bytes>,
        kind: Option<KeyType>,
    },
    SetAdd {
        key: Bytes,
        members: Vec<Bytes>,
    },
    SetRemove {
        key: Bytes,
        members: Vec<Bytes>,
    },
    SetMembers {
        key: Bytes,
    },
    SetContains {
        key: Bytes,
        member: Bytes,
    },
    SetLen {
        key: Bytes,
    },
}

/// What a [`Command`] returns.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// A native reply (also yes/no, counts and values of the new commands).
    Reply(Reply),
    /// What a conditional set did.
    Written(SetOutcome),
    /// A key's type, `None` if missing.
    Kind(Option<KeyType>),
    /// Keys or set members.
    Strings(Vec<Vec<u8>>),
    /// One SCAN step: the next cursor and the keys found.
    Scan { cursor: u64, keys: Vec<Vec<u8>> },
}

/// Runs one command against the store.
pub(crate) fn run(
    store: &Store,
    stats: &ServerStats,
    command: Command,
) -> Result<Output, ServerError> {
    let count = |n: usize| Output::Reply(Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX)));
    let output = match command {
        Command::Native(request) => Output::Reply(execute(store, stats, request)?),
        Command::SetWith {
            key,
            value,
            options,
        } => Output::Written(store.set_key_with(&key, value, options)?),
        Command::GetEx { key, expiry } => Output::Reply(Reply::Value(store.get_ex(&key, expiry)?)),
        Command::GetString { key } => Output::Reply(Reply::Value(store.get_string(&key)?)),
        Command::Persist { key } => Output::Reply(Reply::Bool(store.persist(&key)?)),
        Command::Exists { key } => Output::Reply(Reply::Bool(store.exists(&key))),
        Command::Type { key } => Output::Kind(store.key_type(&key)),
        Command::ExpireWith {
            key,
            when,
            condition,
        } => Output::Reply(Reply::Bool(store.expire_with(&key, when, condition)?)),
        Command::Rename { from, to } => {
            store.rename(&from, &to)?;
            Output::Reply(Reply::Done)
        }
        Command::KeyCount => count(store.key_count()),
        Command::FlushAll => {
            store.flush_all()?;
            Output::Reply(Reply::Done)
        }
        Command::Keys { pattern } => Output::Strings(store.keys_matching(&pattern)),
        Command::Scan {
            cursor,
            count,
            pattern,
            kind,
        } => {
            let (cursor, keys) = store.scan_keys(cursor, count, pattern.as_deref(), kind);
            Output::Scan { cursor, keys }
        }
        Command::SetAdd { key, members } => count(store.set_add(&key, &slices(&members))?),
        Command::SetRemove { key, members } => count(store.set_remove(&key, &slices(&members))?),
        Command::SetMembers { key } => Output::Strings(store.set_members(&key)?),
        Command::SetContains { key, member } => {
            Output::Reply(Reply::Bool(store.set_contains(&key, &member)?))
        }
        Command::SetLen { key } => count(store.set_len(&key)?),
    };
    Ok(output)
}

fn slices(items: &[Bytes]) -> Vec<&[u8]> {
    items.iter().map(|item| &item[..]).collect()
}
