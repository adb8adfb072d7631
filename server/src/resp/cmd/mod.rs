//! The Redis face's command handlers, one file per group, as Redis groups
//! them: `connection.rs`, `strings.rs`, `keys.rs` (Redis's "generic"),
//! `sets.rs`, `transactions.rs` (MULTI, EXEC, WATCH…), `server.rs`, `replication.rs` (ROLE, SENTINEL and INFO's
//! replication section, from the group view), and `sessions.rs` for our
//! SESSION.* commands; `expiry.rs` holds the TTL arguments strings and
//! keys share.
//!
//! A handler is a [`Handler`](super::spec::Handler): it reads its
//! arguments from an [`Args`](super::args::Args) cursor, calls the
//! [`Store`](sessiond::Store) directly, and returns a typed reply or a
//! [`RespError`](super::errors::RespError). It is listed once, in
//! `table.rs`, which is all the dispatch, arity checks and COMMAND know.
//! Engine rules (what a TTL means, the clock, what a write may do) stay in
//! the engine; a handler only reads Redis's syntax and writes Redis's
//! replies.

pub(crate) mod connection;
mod expiry;
pub(crate) mod group;
pub(crate) mod keys;
pub(crate) mod replication;
pub(crate) mod server;
pub(crate) mod sessions;
pub(crate) mod sets;
pub(crate) mod strings;
pub(crate) mod transactions;

use super::reply::Value;
use super::spec::Reply;

/// `+OK`.
fn ok() -> Reply {
    Ok(Value::Simple("OK"))
}

/// A count as an integer reply.
fn count(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A yes or no as Redis's 1 or 0.
fn flag(yes: bool) -> Value {
    Value::Integer(i64::from(yes))
}
