//! The set commands: SADD, SREM, SMEMBERS, SISMEMBER, SCARD, which session
//! libraries written for Redis use as an owner's index of sessions.

use super::{count, flag};
use crate::resp::args::Args;
use crate::resp::client::Client;
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
