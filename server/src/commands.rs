//! The native face's command layer: a decoded [`Request`] in, a
//! [`Response`] out.
//!
//! Both faces are thin over one command layer, and that layer is the
//! engine's typed API ([`Store`]): the engine holds every rule (what a TTL
//! means, what a write may do, the clock), and each face only translates.
//! This module translates native requests; the Redis face's handlers
//! (`resp/cmd/`) call the same `Store` methods directly with arguments
//! parsed from RESP, so neither face is a copy of the other and neither
//! goes through the other's types. What the faces share beyond the store
//! is in the connection policy (`policy.rs`:
//! authentication and counting, done before a request gets here).

use sessiond_protocol::wire::{MAX_EVENTS_READ, Reply, Request, Response, ServerError};

use crate::stats::ServerStats;
use sessiond::Store;

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
        Request::DeleteNoted { id, note } => {
            Reply::Bool(store.delete_with_note(&id, noted(&note))?)
        }
        Request::Rotate { id } => Reply::Id(store.rotate(&id)?),
        Request::List { owner } => Reply::List(store.list(&owner)),
        Request::Count { owner } => Reply::Count(saturate(store.count(&owner))),
        Request::DeleteOwner { owner, keep } => {
            Reply::Count(saturate(store.delete_owner(&owner, keep.as_ref())?))
        }
        Request::DeleteOwnerNoted { owner, keep, note } => Reply::Count(saturate(
            store.delete_owner_with_note(&owner, keep.as_ref(), noted(&note))?,
        )),
        // The read itself; waiting for an event when there is none is the
        // connection's (`connection.rs`), which calls this again.
        Request::EventsRead { after, max, .. } => read_events(store, after, max)?,
        Request::KeySet { key, ttl, value } => {
            store.set_key(&key, value, ttl)?;
            Reply::Done
        }
        Request::KeyGet { key } => Reply::Value(store.get_string(&key)?),
        Request::KeyDelete { key } => Reply::Bool(store.delete_key(&key)?),
        Request::KeyExpire { key, ttl } => Reply::Bool(store.expire_key(&key, ttl)?),
        Request::KeyTtl { key } => Reply::Ttl(store.ttl(&key)),
        Request::KeyIncr { key, delta } => Reply::Integer(store.incr(&key, delta)?),
        Request::KeyIncrTtl { key, delta, ttl } => {
            Reply::Integer(store.incr_with_ttl(&key, delta, ttl)?)
        }
        // Every kind of key, as an operator listing the key space expects;
        // the engine's walk gives the guarantees SPEC.md §8 states.
        Request::KeyScan {
            cursor,
            count,
            pattern,
        } => {
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            let (cursor, keys) = store.scan_keys(cursor, count, pattern.as_deref(), None);
            Reply::Scan { cursor, keys }
        }
        // A connection's own request, answered by `connection.rs`.
        Request::CacheRegister { .. } => {
            return Err(ServerError::Unavailable(
                "CACHE_REGISTER registers the connection it comes on".into(),
            ));
        }
        // Membership changes belong to a replication group; a standalone
        // server has none to change.
        Request::NodeAdd { .. } | Request::NodeRemove { .. } => {
            return Err(ServerError::Unavailable(
                "not in a replication group".into(),
            ));
        }
    };
    Ok(reply)
}

/// At most [`MAX_EVENTS_READ`] events after `after` (0 is taken as 1),
/// or the gap retention left.
pub(crate) fn read_events(store: &Store, after: u64, max: u32) -> Response {
    let max = max.clamp(1, MAX_EVENTS_READ) as usize;
    match store.read_events(after, max) {
        Ok(events) => Ok(Reply::Events(events)),
        Err(gap) => Err(ServerError::EventsGap {
            after: gap.after,
            oldest_kept: gap.oldest_kept,
        }),
    }
}

/// A note as the wire carries it: empty for none.
fn noted(note: &[u8]) -> Option<&[u8]> {
    (!note.is_empty()).then_some(note)
}

/// Counts travel as `u32`; no owner has four billion sessions, but a count
/// must never wrap if one did.
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
