//! The Redis face's command handlers, one file per group, as Redis groups
//! them: `connection.rs`, `strings.rs` and `string_edits.rs`, `keys.rs`
//! and `key_info.rs` (Redis's "generic"), `sets.rs` and `set_algebra.rs`,
//! `hashes.rs` and `hash_ttl.rs` (field TTLs), `pubsub.rs`, `transactions.rs` (MULTI, EXEC, WATCH…), `server.rs`, `replication.rs` (ROLE, SENTINEL and INFO's
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

pub(crate) mod clients;
pub(crate) mod config;
pub(crate) mod connection;
mod expiry;
pub(crate) mod group;
pub(crate) mod hash_ttl;
pub(crate) mod hashes;
pub(crate) mod info;
pub(crate) mod key_info;
pub(crate) mod keys;
pub(crate) mod monitor;
pub(crate) mod pubsub;
pub(crate) mod replication;
pub(crate) mod scripting;
pub(crate) mod server;
pub(crate) mod sessions;
pub(crate) mod set_algebra;
pub(crate) mod sets;
pub(crate) mod slowlog;
pub(crate) mod stream_groups;
pub(crate) mod stream_ids;
pub(crate) mod streams;
pub(crate) mod string_edits;
pub(crate) mod strings;
pub(crate) mod transactions;

use super::args::Args;
use super::errors::RespError;
use super::reply::Value;
use super::spec::Reply;

/// Reads a container command's subcommand (CLIENT, CONFIG, SLOWLOG,
/// LATENCY) and checks its arity as Redis 7's command table does:
/// `table` lists each subcommand with its arity, the container and the
/// subcommand counted. Returns the subcommand's name as the table spells
/// it, or Redis's errors for an unknown one or a wrong count.
fn subcommand(
    container: &str,
    args: &mut Args<'_>,
    table: &[(&'static str, i32)],
) -> Result<&'static str, RespError> {
    let given = args.bytes()?;
    let Some((name, arity)) = table
        .iter()
        .find(|(name, _)| given.eq_ignore_ascii_case(name.as_bytes()))
    else {
        return Err(RespError::other(format!(
            "unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(&given[..given.len().min(128)]),
            container.to_ascii_uppercase()
        )));
    };
    let count = i64::try_from(args.remaining() + 2).unwrap_or(i64::MAX);
    let arity = i64::from(*arity);
    let fits = match arity >= 0 {
        true => count == arity,
        false => count >= -arity,
    };
    if !fits {
        return Err(RespError::other(format!(
            "wrong number of arguments for '{container}|{name}' command"
        )));
    }
    Ok(name)
}

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
