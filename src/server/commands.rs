//! The command layer: a decoded request in, a response out.
//!
//! This is the one place where protocol requests meet the engine. It does
//! no I/O and knows no wire format, so every listener (the native protocol
//! today, RESP next) is a thin face over it rather than a second copy of
//! the logic. Authentication is the connection's business and happens
//! before a request gets here.

use sessiond_protocol::wire::{Reply, Request, Response};

use crate::Store;
use crate::server::stats::ServerStats;

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
        Request::Delete { id } => Reply::Bool(store.delete(&id)),
        Request::Rotate { id } => Reply::Id(store.rotate(&id)?),
        Request::List { owner } => Reply::List(store.list(&owner)),
        Request::Count { owner } => Reply::Count(saturate(store.count(&owner))),
        Request::DeleteOwner { owner, keep } => {
            Reply::Count(saturate(store.delete_owner(&owner, keep.as_ref())))
        }
        Request::KeySet { key, ttl, value } => {
            store.set_key(&key, value, ttl)?;
            Reply::Done
        }
        Request::KeyGet { key } => Reply::Value(store.get_key(&key)),
        Request::KeyDelete { key } => Reply::Bool(store.delete_key(&key)),
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
