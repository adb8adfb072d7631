//! The hash commands Redis 7.0 has: HSET, HMSET, HSETNX, HGET, HMGET,
//! HGETALL, HKEYS, HVALS, HDEL, HEXISTS, HLEN, HSTRLEN, HINCRBY,
//! HINCRBYFLOAT, HSCAN and HRANDFIELD. The field-TTL commands of Redis
//! 7.4 and 8 are in `hash_ttl.rs`.
//!
//! Fields come back in byte order (the engine keeps them sorted), where
//! Redis answers in its listpack's insertion order or its hash table's:
//! clients treat a hash as a map, and no order is promised by either.

use bytes::Bytes;
use sessiond::{HashError, KeyType, Store, parse_float};

use super::keys::scan_cursor;
use super::{count, flag, ok};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::{Protocol, Value};
use crate::resp::spec::Reply;

impl From<HashError> for RespError {
    fn from(error: HashError) -> RespError {
        match error {
            HashError::Store(e) => RespError::Store(e),
            other => RespError::other(other.to_string()),
        }
    }
}

/// `HSET key field value [field value ...]`: how many fields were new.
pub(crate) fn hset(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    Ok(count(set_pairs(client.store, args)?))
}

/// `HMSET key field value [field value ...]`: HSET answering OK.
pub(crate) fn hmset(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    set_pairs(client.store, args)?;
    ok()
}

fn set_pairs(store: &Store, mut args: Args<'_>) -> Result<usize, RespError> {
    let key = args.bytes()?;
    let rest = args.rest();
    if !rest.len().is_multiple_of(2) {
        return Err(RespError::Arity(args.name()));
    }
    Ok(store.hash_set(key, &pairs(rest))?)
}

/// Field-value pairs from an even run of arguments.
pub(super) fn pairs(args: &[Bytes]) -> Vec<(&[u8], &[u8])> {
    args.chunks_exact(2)
        .map(|pair| (&pair[0][..], &pair[1][..]))
        .collect()
}

/// Arguments as the byte slices the store takes.
pub(super) fn slices(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| &a[..]).collect()
}

/// `HSETNX key field value`: 1 if written.
pub(crate) fn hsetnx(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, field, value) = (args.bytes()?, args.bytes()?, args.bytes()?);
    Ok(flag(client.store.hash_set_if_absent(key, field, value)?))
}

/// `HGET key field`.
pub(crate) fn hget(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, field) = (args.bytes()?, args.bytes()?);
    Ok(bulk_or_null(client.store.hash_get(key, field)?))
}

/// `HMGET key field...`: null for each missing field.
pub(crate) fn hmget(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let values = client.store.hash_get_many(key, &slices(args.rest()))?;
    Ok(Value::Array(values.into_iter().map(bulk_or_null).collect()))
}

/// `HGETALL key`: a map (a flat array in RESP2).
pub(crate) fn hgetall(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let entries = client.store.hash_entries(args.bytes()?)?;
    let pairs = entries
        .into_iter()
        .map(|(f, v)| (Value::Bulk(f), Value::Bulk(v)));
    Ok(Value::Map(pairs.collect()))
}

/// `HKEYS key`.
pub(crate) fn hkeys(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let fields = client.store.hash_fields(args.bytes()?)?;
    Ok(Value::Array(fields.into_iter().map(Value::Bulk).collect()))
}

/// `HVALS key`.
pub(crate) fn hvals(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let values = client.store.hash_values(args.bytes()?)?;
    Ok(Value::Array(values.into_iter().map(Value::Bulk).collect()))
}

/// `HDEL key field...`: how many were there.
pub(crate) fn hdel(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    Ok(count(client.store.hash_remove(key, &slices(args.rest()))?))
}

/// `HEXISTS key field`.
pub(crate) fn hexists(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, field) = (args.bytes()?, args.bytes()?);
    Ok(flag(client.store.hash_contains(key, field)?))
}

/// `HLEN key`: the live fields, exactly.
pub(crate) fn hlen(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(count(client.store.hash_len(args.bytes()?)?))
}

/// `HSTRLEN key field`.
pub(crate) fn hstrlen(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, field) = (args.bytes()?, args.bytes()?);
    Ok(count(client.store.hash_value_len(key, field)?))
}

/// `HINCRBY key field increment`. Redis reads the increment before it
/// looks at the key, so a bad number is reported before a wrong type.
pub(crate) fn hincrby(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, field) = (args.bytes()?, args.bytes()?);
    let by = args.integer()?;
    Ok(Value::Integer(client.store.hash_incr(key, field, by)?))
}

/// `HINCRBYFLOAT key field increment`.
pub(crate) fn hincrbyfloat(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, field) = (args.bytes()?, args.bytes()?);
    let by = parse_float(args.bytes()?).ok_or(RespError::other("value is not a valid float"))?;
    if !by.is_finite() {
        return Err(RespError::other("value is NaN or Infinity"));
    }
    Ok(Value::Bulk(client.store.hash_incr_float(key, field, by)?))
}

/// Most fields one HSCAN step looks at, whatever its COUNT: SCAN's bound.
const MAX_SCAN_COUNT: usize = 10_000;

/// `HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]`. As in
/// Redis, the cursor is read first, then the key (a missing key answers
/// an empty scan, another type WRONGTYPE, before the options are read).
pub(crate) fn hscan(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    let cursor = scan_cursor(args.bytes()?)?;
    let empty = || Value::Array(vec![Value::text("0"), Value::Array(Vec::new())]);
    match store.key_type(key) {
        None => return Ok(empty()),
        Some(KeyType::Hash) => {}
        Some(_) => return Err(sessiond::StoreError::WrongType.into()),
    }
    let (mut pattern, mut count, mut novalues) = (None, 10usize, false);
    let mut options = args.rest().iter();
    while let Some(option) = options.next() {
        match option.to_ascii_uppercase().as_slice() {
            b"NOVALUES" => novalues = true,
            b"MATCH" => pattern = Some(options.next().ok_or(RespError::Syntax)?),
            b"COUNT" => {
                let n = integer(options.next().ok_or(RespError::Syntax)?)?;
                if n < 1 {
                    return Err(RespError::Syntax);
                }
                count = usize::try_from(n).map_or(MAX_SCAN_COUNT, |n| n.min(MAX_SCAN_COUNT));
            }
            _ => return Err(RespError::Syntax),
        }
    }
    // "*" matches everything: no filter, as in Redis.
    let pattern = pattern.filter(|p| &p[..] != b"*").map(|p| &p[..]);
    let (next, entries) = store.hash_scan(key, cursor, count, pattern)?;
    let mut items = Vec::with_capacity(entries.len() * 2);
    for (field, value) in entries {
        items.push(Value::Bulk(field));
        if !novalues {
            items.push(Value::Bulk(value));
        }
    }
    Ok(Value::Array(vec![
        Value::text(next.to_string()),
        Value::Array(items),
    ]))
}

/// Most fields a negative HRANDFIELD count may ask for (each drawn with
/// repeats, so the reply is that long whatever the hash holds).
const MAX_RANDOM_REPEATS: u64 = 100_000;

/// `HRANDFIELD key [count [WITHVALUES]]`.
pub(crate) fn hrandfield(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    let Some(count) = args.next() else {
        let picked = store.hash_random(key, 1)?;
        return Ok(picked
            .into_iter()
            .next()
            .map_or(Value::Null, |(f, _)| Value::Bulk(f)));
    };
    let count = integer(count)?;
    if count == i64::MIN {
        return Err(RespError::other(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    let with_values = match args.rest() {
        [] => false,
        [word] if word.eq_ignore_ascii_case(b"WITHVALUES") => true,
        _ => return Err(RespError::Syntax),
    };
    if with_values && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(RespError::other("value is out of range"));
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPEATS {
        return Err(RespError::other(format!(
            "HRANDFIELD draws at most {MAX_RANDOM_REPEATS} fields with repeats"
        )));
    }
    let picked = store.hash_random(key, count)?;
    let resp3 = client.protocol == Protocol::Resp3;
    let mut items = Vec::with_capacity(picked.len() * if with_values { 2 } else { 1 });
    for (field, value) in picked {
        match (with_values, resp3) {
            (false, _) => items.push(Value::Bulk(field)),
            (true, true) => items.push(Value::Array(vec![Value::Bulk(field), Value::Bulk(value)])),
            (true, false) => items.extend([Value::Bulk(field), Value::Bulk(value)]),
        }
    }
    Ok(Value::Array(items))
}

pub(super) fn bulk_or_null(value: Option<Vec<u8>>) -> Value {
    value.map_or(Value::Null, Value::Bulk)
}
