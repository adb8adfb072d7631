//! The string commands that edit or measure a value in place: APPEND,
//! STRLEN, GETRANGE (and its old name SUBSTR), SETRANGE, INCRBYFLOAT, and
//! MSETNX. `strings.rs` has the whole-value ones.

use sessiond::FloatError;

use super::{count, flag};
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// Redis's largest string (`proto-max-bulk-len`'s default, 512 MB):
/// SETRANGE past it is Redis's error; below it the store's own value limit
/// may refuse first, with its own error.
const MAX_BULK: u64 = 512 * 1024 * 1024;

/// `APPEND key value`: the new length.
pub(crate) fn append(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, suffix) = (args.bytes()?, args.bytes()?);
    Ok(count(client.store.append(key, suffix)?))
}

/// `STRLEN key`: 0 for a missing key.
pub(crate) fn strlen(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(count(client.store.string_len(args.bytes()?)?))
}

/// `GETRANGE key start end` and `SUBSTR key start end`: an empty string
/// for a missing key or an empty range. Redis reads both numbers before
/// it looks at the key.
pub(crate) fn getrange(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let (start, end) = (args.integer()?, args.integer()?);
    Ok(Value::Bulk(client.store.get_range(key, start, end)?))
}

/// `SETRANGE key offset value`: the new length.
pub(crate) fn setrange(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let offset = args.integer()?;
    let value = args.bytes()?;
    let offset = u64::try_from(offset).map_err(|_| RespError::other("offset is out of range"))?;
    if !value.is_empty() && offset.saturating_add(value.len() as u64) > MAX_BULK {
        return Err(RespError::other(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    // Below 512 MB, so it fits a usize on every platform we build for.
    let offset = usize::try_from(offset).map_err(|_| RespError::other("offset is out of range"))?;
    Ok(count(client.store.set_range(key, offset, value)?))
}

/// `INCRBYFLOAT key increment`: the sum, as Redis prints it.
pub(crate) fn incrbyfloat(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, increment) = (args.bytes()?, args.bytes()?);
    match client.store.incr_by_float(key, increment) {
        Ok(text) => Ok(Value::Bulk(text)),
        Err(FloatError::Store(e)) => Err(e.into()),
        Err(other) => Err(RespError::other(other.to_string())),
    }
}

/// `MSETNX key value [key value ...]`: 1 if every key was set, 0 if one
/// existed and none was.
pub(crate) fn msetnx(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let rest = args.rest();
    if !rest.len().is_multiple_of(2) {
        return Err(RespError::Arity(args.name()));
    }
    Ok(flag(
        client
            .store
            .set_many_if_absent(&super::hashes::pairs(rest))?,
    ))
}
