//! The commands on keys of any type (Redis's "generic" group): DEL,
//! UNLINK, EXISTS, TYPE, the EXPIRE family, PERSIST, TTL, PTTL, RENAME,
//! RENAMENX, COPY,
//! and the keyspace as a whole: KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL.

use bytes::Bytes;
use sessiond::{ExpireCondition, KeyTtl, KeyType};

use super::expiry::{self, Unit};
use super::{count, flag, ok};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `DEL key...` and `UNLINK key...`: how many existed, all deleted at
/// once as in Redis (no client sees some gone and others not).
pub(crate) fn del(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    match args.rest() {
        [key] => Ok(count(usize::from(client.store.delete_key(key)?))),
        keys => {
            let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
            Ok(count(client.store.delete_keys(&keys)?))
        }
    }
}

/// `EXISTS key...`: how many exist, a key named twice counting twice.
pub(crate) fn exists(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    match args.rest() {
        [key] => Ok(count(usize::from(client.store.exists(key)))),
        keys => {
            let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
            Ok(count(client.store.count_existing(&keys)))
        }
    }
}

/// `TYPE key`.
pub(crate) fn kind(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let kind = client.store.key_type(args.bytes()?);
    Ok(Value::Simple(kind.map_or("none", KeyType::name)))
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`.
pub(crate) fn expire(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire_in(client, args, Unit::Ex)
}

/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`.
pub(crate) fn pexpire(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire_in(client, args, Unit::Px)
}

/// `EXPIREAT key unix-seconds [NX | XX | GT | LT]`.
pub(crate) fn expireat(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire_in(client, args, Unit::ExAt)
}

/// `PEXPIREAT key unix-milliseconds [NX | XX | GT | LT]`.
pub(crate) fn pexpireat(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire_in(client, args, Unit::PxAt)
}

/// The EXPIRE family. Redis reads the flags before the time, so a bad flag
/// is reported before a bad number.
fn expire_in(client: &mut Client<'_>, mut args: Args<'_>, unit: Unit) -> Reply {
    let store = client.store;
    let (key, time) = (args.bytes()?, args.bytes()?);
    let condition = expire_condition(args.rest())?;
    let when = expiry::any(store, unit, integer(time)?, args.name())?;
    Ok(flag(store.expire_with(key, when, condition)?))
}

/// The NX, XX, GT and LT flags of EXPIRE, with Redis's rules on which go
/// together (a flag may repeat).
fn expire_condition(flags: &[Bytes]) -> Result<ExpireCondition, RespError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for flag in flags {
        match flag.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(RespError::other(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(flag)
                )));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(RespError::other(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(RespError::other(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNoTtl,
        (_, _, true, _) => ExpireCondition::IfLater,
        (_, _, _, true) => ExpireCondition::IfEarlier,
        (_, true, ..) => ExpireCondition::IfTtl,
        _ => ExpireCondition::Always,
    })
}

/// `PERSIST key`: 1 if the key had a TTL.
pub(crate) fn persist(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    Ok(flag(client.store.persist(key)?))
}

/// `TTL key`: seconds left, rounded to the nearest as Redis does; -1
/// without a TTL, -2 if missing.
pub(crate) fn ttl(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let ttl = client.store.ttl(args.bytes()?);
    Ok(ttl_reply(ttl, |ms| (ms + 500) / 1000))
}

/// `PTTL key`: milliseconds left; -1 without a TTL, -2 if missing.
pub(crate) fn pttl(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let ttl = client.store.ttl(args.bytes()?);
    Ok(ttl_reply(ttl, |ms| ms))
}

fn ttl_reply(ttl: KeyTtl, from_ms: fn(u128) -> u128) -> Value {
    Value::Integer(match ttl {
        KeyTtl::Missing => -2,
        KeyTtl::Persistent => -1,
        KeyTtl::ExpiresIn(left) => i64::try_from(from_ms(left.as_millis())).unwrap_or(i64::MAX),
    })
}

/// `RENAME key newkey`.
pub(crate) fn rename(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    client.store.rename(args.bytes()?, args.bytes()?)?;
    ok()
}

/// `RENAMENX key newkey`: 1 if renamed, 0 if `newkey` exists (or is
/// `key`).
pub(crate) fn renamenx(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (from, to) = (args.bytes()?, args.bytes()?);
    Ok(flag(client.store.rename_with(from, to, true)?))
}

/// `COPY source destination [DB db] [REPLACE]`: 1 if copied. The store
/// has one database: `DB 0` is accepted, any other is Redis's error for
/// a database that does not exist.
pub(crate) fn copy(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (from, to) = (args.bytes()?, args.bytes()?);
    let mut replace = false;
    let mut options = args.rest().iter();
    while let Some(option) = options.next() {
        if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"DB") && options.len() > 0 {
            let db = integer(options.next().expect("checked above"))?;
            let db = i32::try_from(db).map_err(|_| RespError::other("value is out of range"))?;
            if db != 0 {
                return Err(RespError::other("DB index is out of range"));
            }
        } else {
            return Err(RespError::Syntax);
        }
    }
    if from == to {
        return Err(RespError::other(
            "source and destination objects are the same",
        ));
    }
    Ok(flag(client.store.copy_key(from, to, replace)?))
}

/// `KEYS pattern`.
pub(crate) fn keys(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let keys = client.store.keys_matching(args.bytes()?);
    Ok(Value::Array(keys.into_iter().map(Value::Bulk).collect()))
}

/// Most keys one SCAN looks at, whatever its COUNT (which Redis too
/// treats as a hint): a reply of at most 10,000 keys (40 MB at the longest
/// keys) rather than the whole key space for `COUNT 1000000000`.
pub(crate) const MAX_SCAN_COUNT: usize = 10_000;

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`; a repeated option
/// takes its last value, as in Redis; COUNT above [`MAX_SCAN_COUNT`] is
/// taken as that.
pub(crate) fn scan(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let cursor = scan_cursor(args.bytes()?)?;
    let (mut pattern, mut count, mut kind) = (None, 10, None);
    let mut options = args.rest().iter();
    while let Some(option) = options.next() {
        let value = options.next().ok_or(RespError::Syntax)?;
        match option.to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(value),
            b"COUNT" => {
                count = integer(value)?;
                if count < 1 {
                    return Err(RespError::Syntax);
                }
            }
            // An unknown type matches nothing, as in Redis 7.0.
            b"TYPE" => {
                kind = Some(match value.to_ascii_lowercase().as_slice() {
                    b"string" => Some(KeyType::String),
                    b"set" => Some(KeyType::Set),
                    b"hash" => Some(KeyType::Hash),
                    _ => None,
                })
            }
            _ => return Err(RespError::Syntax),
        }
    }
    let (cursor, keys) = match kind {
        Some(None) => (0, Vec::new()),
        kind => client.store.scan_keys(
            cursor,
            usize::try_from(count).map_or(MAX_SCAN_COUNT, |n| n.min(MAX_SCAN_COUNT)),
            pattern.map(|p| &p[..]),
            kind.flatten(),
        ),
    };
    Ok(Value::Array(vec![
        Value::text(cursor.to_string()),
        Value::Array(keys.into_iter().map(Value::Bulk).collect()),
    ]))
}

/// A SCAN cursor: an unsigned 64-bit decimal, as Redis's `strtoull`
/// reads it (so `-1` wraps).
pub(crate) fn scan_cursor(arg: &[u8]) -> Result<u64, RespError> {
    let text = std::str::from_utf8(arg).map_err(|_| RespError::InvalidCursor)?;
    text.parse::<u64>()
        .or_else(|_| text.parse::<i64>().map(|n| n as u64))
        .map_err(|_| RespError::InvalidCursor)
}

/// `DBSIZE`.
pub(crate) fn dbsize(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    Ok(count(client.store.key_count()))
}

/// `FLUSHDB [ASYNC | SYNC]` and `FLUSHALL [ASYNC | SYNC]`: every key and
/// every session (see [`sessiond::Store::flush_all`]).
pub(crate) fn flushall(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let mode = args.rest();
    let known = |m: &Bytes| m.eq_ignore_ascii_case(b"ASYNC") || m.eq_ignore_ascii_case(b"SYNC");
    match mode {
        [] => {}
        [m] if known(m) => {}
        _ => return Err(RespError::Syntax),
    }
    client.store.flush_all()?;
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::args::words;

    #[test]
    fn expire_flags() {
        let c = |text: &str| expire_condition(&words(text));
        assert_eq!(c(""), Ok(ExpireCondition::Always));
        assert_eq!(c("nx nx"), Ok(ExpireCondition::IfNoTtl));
        assert_eq!(c("XX GT"), Ok(ExpireCondition::IfLater));
        assert!(c("NX GT").is_err());
        assert!(c("GT LT").is_err());
        assert!(c("FOO").is_err());
    }

    #[test]
    fn cursors_read_as_strtoull_reads_them() {
        assert_eq!(scan_cursor(b"0"), Ok(0));
        assert_eq!(scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(scan_cursor(b"abc"), Err(RespError::InvalidCursor));
    }
}
