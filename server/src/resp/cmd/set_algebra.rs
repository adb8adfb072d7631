//! The commands over several sets: SINTER, SUNION, SDIFF, their STORE
//! forms, and SINTERCARD. Each reads (and writes) all its keys at once
//! (see `engine/src/set_ops.rs`).

use bytes::Bytes;
use sessiond::SetOp;

use super::count;
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `SINTER key...`.
pub(crate) fn sinter(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    combine(client, args, SetOp::Inter)
}

/// `SUNION key...`.
pub(crate) fn sunion(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    combine(client, args, SetOp::Union)
}

/// `SDIFF key...`.
pub(crate) fn sdiff(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    combine(client, args, SetOp::Diff)
}

/// `SINTERSTORE destination key...`: the result's size.
pub(crate) fn sinterstore(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    store(client, args, SetOp::Inter)
}

/// `SUNIONSTORE destination key...`.
pub(crate) fn sunionstore(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    store(client, args, SetOp::Union)
}

/// `SDIFFSTORE destination key...`.
pub(crate) fn sdiffstore(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    store(client, args, SetOp::Diff)
}

fn combine(client: &mut Client<'_>, mut args: Args<'_>, op: SetOp) -> Reply {
    let keys = as_keys(args.rest());
    let members = client.store.set_combine(op, &keys)?;
    Ok(Value::Set(members.into_iter().map(Value::Bulk).collect()))
}

fn store(client: &mut Client<'_>, mut args: Args<'_>, op: SetOp) -> Reply {
    let to = args.bytes()?;
    let keys = as_keys(args.rest());
    Ok(count(client.store.set_combine_store(op, to, &keys)?))
}

/// `SINTERCARD numkeys key... [LIMIT limit]`: the intersection's size,
/// counted up to `limit` (0: no limit). Redis's own errors for a bad
/// `numkeys` or `LIMIT`.
pub(crate) fn sintercard(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let numkeys = integer(args.bytes()?)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RespError::other("numkeys should be greater than 0"))?;
    let rest = args.rest();
    let numkeys = usize::try_from(numkeys)
        .ok()
        .filter(|n| *n <= rest.len())
        .ok_or_else(|| RespError::other("Number of keys can't be greater than number of args"))?;
    let (keys, options) = rest.split_at(numkeys);
    let mut limit = 0;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match options.next() {
            Some(n) if option.eq_ignore_ascii_case(b"LIMIT") => {
                limit = integer(n)
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| RespError::other("LIMIT can't be negative"))?;
            }
            _ => return Err(RespError::Syntax),
        }
    }
    let keys = as_keys(keys);
    Ok(count(client.store.set_inter_card(&keys, limit)?))
}

fn as_keys(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|k| &k[..]).collect()
}
