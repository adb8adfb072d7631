//! The set commands on one set: SADD, SREM, SMEMBERS, SISMEMBER, SCARD,
//! which session libraries written for Redis use as an owner's index of
//! sessions, and SMISMEMBER, SPOP, SRANDMEMBER, SMOVE, SSCAN.
//! `set_algebra.rs` has the commands over several sets.

use sessiond::{KeyType, MAX_RANDOM_MEMBERS};

use super::keys::{MAX_SCAN_COUNT, scan_cursor};
use super::{count, flag};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `SADD key member...`: how many were new.
pub(crate) fn sadd(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let members: Vec<&[u8]> = args.rest().iter().map(|m| &m[..]).collect();
    Ok(count(client.store.set_add(key, &members)?))
}

/// `SREM key member...`: how many were there.
pub(crate) fn srem(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let members: Vec<&[u8]> = args.rest().iter().map(|m| &m[..]).collect();
    Ok(count(client.store.set_remove(key, &members)?))
}

/// `SMEMBERS key`: a set reply (an array in RESP2), in byte order.
pub(crate) fn smembers(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let members = client.store.set_members(args.bytes()?)?;
    Ok(Value::Set(members.into_iter().map(Value::Bulk).collect()))
}

/// `SISMEMBER key member`.
pub(crate) fn sismember(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, member) = (args.bytes()?, args.bytes()?);
    Ok(flag(client.store.set_contains(key, member)?))
}

/// `SCARD key`.
pub(crate) fn scard(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(count(client.store.set_len(args.bytes()?)?))
}

/// `SMISMEMBER key member...`: 1 or 0 for each.
pub(crate) fn smismember(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let members: Vec<&[u8]> = args.rest().iter().map(|m| &m[..]).collect();
    let found = client.store.set_contains_each(key, &members)?;
    Ok(Value::Array(found.into_iter().map(flag).collect()))
}

/// `SPOP key [count]`: a member (null if none) or, with a count, a set
/// of up to that many.
pub(crate) fn spop(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let Some(n) = args.next() else {
        let popped = client.store.set_pop(key, None)?;
        return Ok(popped.into_iter().next().map_or(Value::Null, Value::Bulk));
    };
    args.finish().map_err(|_| RespError::Syntax)?;
    // Redis's words for a count that is not a positive integer, whatever
    // is wrong with it.
    let n = integer(n)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| RespError::other("value is out of range, must be positive"))?;
    let popped = client.store.set_pop(key, Some(n))?;
    Ok(Value::Set(popped.into_iter().map(Value::Bulk).collect()))
}

/// `SRANDMEMBER key [count]`: a member (null if none) or, with a count,
/// an array: up to `count` distinct members, or for a negative count
/// exactly `-count` with repeats (at most [`MAX_RANDOM_MEMBERS`]).
pub(crate) fn srandmember(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let Some(n) = args.next() else {
        let picked = client.store.set_random_members(key, None)?;
        return Ok(picked.into_iter().next().map_or(Value::Null, Value::Bulk));
    };
    args.finish().map_err(|_| RespError::Syntax)?;
    let n = integer(n)?;
    if n == i64::MIN {
        return Err(RespError::other(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    if n < 0 && n.unsigned_abs() > MAX_RANDOM_MEMBERS as u64 {
        return Err(RespError::other(format!(
            "value is out of range: a negative count asks for at most {MAX_RANDOM_MEMBERS} members here"
        )));
    }
    let picked = client.store.set_random_members(key, Some(n))?;
    Ok(Value::Array(picked.into_iter().map(Value::Bulk).collect()))
}

/// `SMOVE source destination member`: 1 if moved.
pub(crate) fn smove(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (from, to, member) = (args.bytes()?, args.bytes()?, args.bytes()?);
    Ok(flag(client.store.set_move(from, to, member)?))
}

/// `SSCAN key cursor [MATCH pattern] [COUNT n]`. As Redis: the cursor is
/// read first, then a missing key answers an empty scan and a string
/// WRONGTYPE, and only then are the options read; COUNT above SCAN's cap
/// is taken as the cap.
pub(crate) fn sscan(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let cursor = scan_cursor(args.bytes()?)?;
    let empty = || Value::Array(vec![Value::text("0"), Value::Array(Vec::new())]);
    match client.store.key_type(key) {
        None => return Ok(empty()),
        Some(KeyType::Set) => {}
        Some(_) => return Err(sessiond::StoreError::WrongType.into()),
    }
    let (mut pattern, mut count) = (None, 10i64);
    let mut options = args.rest().iter();
    while let Some(option) = options.next() {
        let value = options.next().ok_or(RespError::Syntax)?;
        match option.to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(&value[..]),
            b"COUNT" => {
                count = integer(value)?;
                if count < 1 {
                    return Err(RespError::Syntax);
                }
            }
            _ => return Err(RespError::Syntax),
        }
    }
    let count = usize::try_from(count).map_or(MAX_SCAN_COUNT, |n| n.min(MAX_SCAN_COUNT));
    let (next, members) = client.store.set_scan(key, cursor, count, pattern)?;
    Ok(Value::Array(vec![
        Value::text(next.to_string()),
        Value::Array(members.into_iter().map(Value::Bulk).collect()),
    ]))
}
