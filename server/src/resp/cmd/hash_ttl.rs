//! The field-TTL commands of Redis 7.4 and 8: HEXPIRE, HPEXPIRE,
//! HEXPIREAT, HPEXPIREAT, HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME,
//! HPERSIST, HGETEX, HSETEX and HGETDEL, with Redis 8's argument rules,
//! error texts and per-field reply codes.
//!
//! Every deadline is made absolute here, from the store's time
//! ([`Store::now_ms`]), which a replication group pins to the leader's
//! stamp while it replays the write: each node computes the same one.
//! Redis bounds a field deadline at 2^46 - 1 ms after the epoch; so does
//! this face.

use bytes::Bytes;
use sessiond::{
    Deadline, ExpireCondition, FieldExpire, FieldPersist, FieldTtl, HashSetOptions, KeyExpiry,
    KeyType, SetCondition, Store, StoreError,
};

use super::hashes::{bulk_or_null, pairs, slices};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// Redis's `HFE_MAX_ABS_TIME_MSEC`: the latest field deadline.
const MAX_DEADLINE_MS: i64 = (1 << 46) - 1;

/// How a field-TTL time counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// A Unix time in seconds.
    ExAt,
    /// A Unix time in milliseconds.
    PxAt,
}

/// A field-TTL time argument as Redis's `parseExpireTime` reads it: a
/// non-negative integer whose deadline is at most [`MAX_DEADLINE_MS`].
fn deadline(
    store: &Store,
    arg: &[u8],
    unit: Unit,
    command: &'static str,
) -> Result<Deadline, RespError> {
    let n = integer(arg)?;
    if n < 0 {
        return Err(RespError::other("invalid expire time, must be >= 0"));
    }
    let ms = match unit {
        Unit::Ex | Unit::ExAt if n > MAX_DEADLINE_MS / 1000 => {
            return Err(RespError::InvalidExpire(command));
        }
        Unit::Ex | Unit::ExAt => n * 1000,
        Unit::Px | Unit::PxAt => n,
    };
    let base = match unit {
        Unit::Ex | Unit::Px => i64::try_from(store.now_ms()).unwrap_or(i64::MAX),
        Unit::ExAt | Unit::PxAt => 0,
    };
    if ms > MAX_DEADLINE_MS - base {
        return Err(RespError::InvalidExpire(command));
    }
    Ok(Deadline::absolute_ms(ms + base))
}

/// A key that exists and is no hash is WRONGTYPE before any argument is
/// read, as Redis looks the key up first.
fn check_hash(store: &Store, key: &[u8]) -> Result<(), RespError> {
    match store.key_type(key) {
        Some(kind) if kind != KeyType::Hash => Err(StoreError::WrongType.into()),
        _ => Ok(()),
    }
}

/// `FIELDS numfields field...` at the end of a command: the fields, or
/// Redis's errors (`count_error` is the command's own text for a bad
/// number).
fn fields<'a>(rest: &'a [Bytes], count_error: &'static str) -> Result<Vec<&'a [u8]>, RespError> {
    let Some((_, rest)) = rest
        .split_first()
        .filter(|(word, _)| word.eq_ignore_ascii_case(b"FIELDS"))
    else {
        return Err(RespError::other(
            "Mandatory argument FIELDS is missing or not at the right position",
        ));
    };
    let (n, fields) = rest.split_first().ok_or(RespError::other(count_error))?;
    let n = integer(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or(RespError::other(count_error))?;
    if usize::try_from(n).ok() != Some(fields.len()) {
        return Err(RespError::other(
            "The `numfields` parameter must match the number of arguments",
        ));
    }
    Ok(slices(fields))
}

const POSITIVE_COUNT: &str = "Number of fields must be a positive integer";

/// `HEXPIRE key seconds [NX | XX | GT | LT] FIELDS numfields field...`.
pub(crate) fn hexpire(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire(client, args, Unit::Ex)
}

/// `HPEXPIRE key milliseconds [NX | XX | GT | LT] FIELDS numfields field...`.
pub(crate) fn hpexpire(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire(client, args, Unit::Px)
}

/// `HEXPIREAT key unix-seconds [NX | XX | GT | LT] FIELDS numfields field...`.
pub(crate) fn hexpireat(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire(client, args, Unit::ExAt)
}

/// `HPEXPIREAT key unix-ms [NX | XX | GT | LT] FIELDS numfields field...`.
pub(crate) fn hpexpireat(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    expire(client, args, Unit::PxAt)
}

/// The HEXPIRE family: per field -2 (no such field), 0 (condition not
/// met), 1 (set) or 2 (deleted: the time was already past).
fn expire(client: &mut Client<'_>, mut args: Args<'_>, unit: Unit) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    check_hash(store, key)?;
    let when = deadline(store, args.bytes()?, unit, args.name())?;
    let mut rest = args.rest();
    let condition = match rest.first().map(|o| o.to_ascii_uppercase()).as_deref() {
        Some(b"NX") => Some(ExpireCondition::IfNoTtl),
        Some(b"XX") => Some(ExpireCondition::IfTtl),
        Some(b"GT") => Some(ExpireCondition::IfLater),
        Some(b"LT") => Some(ExpireCondition::IfEarlier),
        _ => None,
    };
    if condition.is_some() {
        rest = &rest[1..];
    }
    let fields = fields(rest, "Parameter `numFields` should be greater than 0")?;
    let condition = condition.unwrap_or(ExpireCondition::Always);
    let outcomes = store.hash_expire(key, &fields, when, condition)?;
    let code = |o: FieldExpire| match o {
        FieldExpire::NoField => -2,
        FieldExpire::NotMet => 0,
        FieldExpire::Set => 1,
        FieldExpire::Deleted => 2,
    };
    Ok(integers(outcomes.into_iter().map(code)))
}

/// `HTTL key FIELDS numfields field...`: seconds left, rounded up.
pub(crate) fn httl(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    ttl(client, args, |at, now| (at - now).div_ceil(1000))
}

/// `HPTTL key FIELDS numfields field...`: milliseconds left.
pub(crate) fn hpttl(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    ttl(client, args, |at, now| at - now)
}

/// `HEXPIRETIME key FIELDS numfields field...`: the Unix second, rounded up.
pub(crate) fn hexpiretime(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    ttl(client, args, |at, _| at.div_ceil(1000))
}

/// `HPEXPIRETIME key FIELDS numfields field...`: the Unix millisecond.
pub(crate) fn hpexpiretime(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    ttl(client, args, |at, _| at)
}

/// The HTTL family: per field -2 (no such field), -1 (no TTL), or the
/// deadline as `shown` turns it and the time into a number.
fn ttl(client: &mut Client<'_>, mut args: Args<'_>, shown: fn(u64, u64) -> u64) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    check_hash(store, key)?;
    let fields = fields(args.rest(), POSITIVE_COUNT)?;
    let (ttls, now) = store.hash_ttl(key, &fields)?;
    let code = |t: FieldTtl| match t {
        FieldTtl::NoField => -2,
        FieldTtl::Persistent => -1,
        FieldTtl::At(at) => i64::try_from(shown(at, now.min(at))).unwrap_or(i64::MAX),
    };
    Ok(integers(ttls.into_iter().map(code)))
}

/// `HPERSIST key FIELDS numfields field...`: per field -2, -1 or 1.
pub(crate) fn hpersist(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    check_hash(store, key)?;
    let fields = fields(args.rest(), POSITIVE_COUNT)?;
    let code = |o: FieldPersist| match o {
        FieldPersist::NoField => -2,
        FieldPersist::NoTtl => -1,
        FieldPersist::Persisted => 1,
    };
    let outcomes = store.hash_persist(key, &fields)?;
    Ok(integers(outcomes.into_iter().map(code)))
}

/// `HGETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] FIELDS numfields
/// field...`: the values (null for a missing field), and the new TTL on
/// each field that exists.
pub(crate) fn hgetex(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    check_hash(store, key)?;
    let mut rest = args.rest();
    let option = rest.first().map(|o| o.to_ascii_uppercase());
    let unit = match option.as_deref() {
        Some(b"EX") => Some(Unit::Ex),
        Some(b"PX") => Some(Unit::Px),
        Some(b"EXAT") => Some(Unit::ExAt),
        Some(b"PXAT") => Some(Unit::PxAt),
        _ => None,
    };
    let expiry = match (unit, option.as_deref()) {
        (Some(unit), _) => {
            let time = rest.get(1).ok_or(RespError::Arity(args.name()))?;
            let when = deadline(store, time, unit, args.name())?;
            rest = &rest[2..];
            KeyExpiry::Set(when)
        }
        (None, Some(b"PERSIST")) => {
            rest = &rest[1..];
            KeyExpiry::Persist
        }
        _ => KeyExpiry::Keep,
    };
    if rest.len() < 2 {
        return Err(RespError::Arity(args.name()));
    }
    let fields = fields(rest, POSITIVE_COUNT)?;
    let values = store.hash_get_ex(key, &fields, expiry)?;
    Ok(Value::Array(values.into_iter().map(bulk_or_null).collect()))
}

/// `HGETDEL key FIELDS numfields field...`: the values, each field
/// deleted (and the hash with its last one).
pub(crate) fn hgetdel(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    check_hash(store, key)?;
    let fields = fields(args.rest(), POSITIVE_COUNT)?;
    let values = store.hash_get_del(key, &fields)?;
    Ok(Value::Array(values.into_iter().map(bulk_or_null).collect()))
}

/// `HSETEX key [FNX | FXX] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
/// FIELDS numfields field value...`: 1 if the fields were set, 0 if FNX or
/// FXX did not hold. The options are read in any order until FIELDS, as
/// Redis reads them.
pub(crate) fn hsetex(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    let name = args.name();
    let rest = args.rest();
    let (mut condition, mut expiry) = (None, None);
    let mut i = 0;
    let pairs_at = loop {
        let Some(word) = rest.get(i) else {
            return Err(RespError::Arity(name));
        };
        let word = word.to_ascii_uppercase();
        let unit = match word.as_slice() {
            b"FIELDS" => {
                // The count, and at least one pair after it.
                if i + 3 >= rest.len() {
                    return Err(RespError::Arity(name));
                }
                let n = integer(&rest[i + 1])
                    .ok()
                    .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
                    .ok_or(RespError::other("invalid number of fields"))?;
                let remaining = rest.len() - i - 2;
                if !remaining.is_multiple_of(2) || usize::try_from(n).ok() != Some(remaining / 2) {
                    return Err(RespError::Arity(name));
                }
                break i + 2;
            }
            b"FNX" | b"FXX" if condition.is_some() => {
                return Err(RespError::other(
                    "Only one of FXX or FNX arguments can be specified",
                ));
            }
            b"FNX" => {
                condition = Some(SetCondition::IfAbsent);
                None
            }
            b"FXX" => {
                condition = Some(SetCondition::IfPresent);
                None
            }
            b"EX" => Some(Unit::Ex),
            b"PX" => Some(Unit::Px),
            b"EXAT" => Some(Unit::ExAt),
            b"PXAT" => Some(Unit::PxAt),
            b"KEEPTTL" => None,
            _ => {
                return Err(RespError::other(format!(
                    "unknown argument: {}",
                    String::from_utf8_lossy(&rest[i])
                )));
            }
        };
        let ttl_option = unit.is_some() || word.as_slice() == b"KEEPTTL";
        if ttl_option && expiry.is_some() {
            return Err(RespError::other(
                "Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
            ));
        }
        match unit {
            Some(unit) => {
                let time = rest
                    .get(i + 1)
                    .ok_or(RespError::other("missing expire time"))?;
                expiry = Some(KeyExpiry::Set(deadline(store, time, unit, name)?));
                i += 2;
            }
            None => {
                if ttl_option {
                    expiry = Some(KeyExpiry::Keep);
                }
                i += 1;
            }
        }
    };
    let options = HashSetOptions {
        condition: condition.unwrap_or(SetCondition::Always),
        expiry: expiry.unwrap_or(KeyExpiry::Persist),
    };
    let written = store.hash_set_with(key, &pairs(&rest[pairs_at..]), options)?;
    Ok(super::flag(written))
}

fn integers(codes: impl Iterator<Item = i64>) -> Value {
    Value::Array(codes.map(Value::Integer).collect())
}
