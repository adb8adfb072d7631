//! The string commands: GET, MGET, SET (all its options), SETNX, GETSET,
//! SETEX, PSETEX, MSET, GETDEL, GETEX, and INCR, DECR, INCRBY, DECRBY.
//!
//! These are the hot path (GET and SET are most of a session store's
//! traffic), so they borrow their arguments from the request and go
//! straight to one store call each.

use bytes::Bytes;
use sessiond::{KeyExpiry, SetCondition, SetOptions, SetOutcome, Store};

use super::expiry::{self, Unit};
use super::ok;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `GET key`: a string's value, null if missing, WRONGTYPE for a set.
pub(crate) fn get(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(bulk_or_null(client.store.get_string(args.bytes()?)?))
}

/// `MGET key...`: null for a key holding a set, where GET says WRONGTYPE,
/// as Redis does; every key read at one instant, so an MSET shows whole
/// or not at all.
pub(crate) fn mget(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let keys: Vec<&[u8]> = args.rest().iter().map(|key| &key[..]).collect();
    let values = client.store.get_many(&keys);
    Ok(Value::Array(values.into_iter().map(bulk_or_null).collect()))
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`.
pub(crate) fn set(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (key, value) = (args.bytes()?, args.bytes()?);
    let options = WriteOptions::parse(args.rest(), Flavor::Set)?;
    let expiry = options.expiry(client.store, "set")?;
    let condition = match (options.nx, options.xx) {
        (true, _) => SetCondition::IfAbsent,
        (_, true) => SetCondition::IfPresent,
        _ => SetCondition::Always,
    };
    let set = SetOptions {
        expiry: expiry.unwrap_or(KeyExpiry::Persist),
        condition,
        return_old: options.get,
    };
    let outcome = client.store.set_key_with(key, value, set)?;
    Ok(match (options.get, outcome.written) {
        (true, _) => bulk_or_null(outcome.old),
        (false, true) => Value::Simple("OK"),
        (false, false) => Value::Null,
    })
}

/// `SETNX key value`: 1 if written, 0 if the key existed.
pub(crate) fn setnx(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    let outcome = set_if(client.store, args, SetCondition::IfAbsent, false)?;
    Ok(super::flag(outcome.written))
}

/// `GETSET key value`: the old value.
pub(crate) fn getset(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    let outcome = set_if(client.store, args, SetCondition::Always, true)?;
    Ok(bulk_or_null(outcome.old))
}

/// A conditional set of the next two arguments, key then value.
fn set_if(
    store: &Store,
    mut args: Args<'_>,
    condition: SetCondition,
    return_old: bool,
) -> Result<SetOutcome, RespError> {
    let options = SetOptions {
        condition,
        return_old,
        ..SetOptions::default()
    };
    Ok(store.set_key_with(args.bytes()?, args.bytes()?, options)?)
}

/// `SETEX key seconds value`.
pub(crate) fn setex(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    set_expiring(client.store, args, Unit::Ex)
}

/// `PSETEX key milliseconds value`.
pub(crate) fn psetex(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    set_expiring(client.store, args, Unit::Px)
}

fn set_expiring(store: &Store, mut args: Args<'_>, unit: Unit) -> Reply {
    let key = args.bytes()?;
    let when = expiry::positive(store, unit, args.bytes()?, args.name())?;
    let options = SetOptions {
        expiry: KeyExpiry::Set(when),
        ..SetOptions::default()
    };
    store.set_key_with(key, args.bytes()?, options)?;
    ok()
}

/// `MSET key value [key value ...]`: all at once, as Redis does.
pub(crate) fn mset(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let pairs = args.rest();
    if !pairs.len().is_multiple_of(2) {
        return Err(RespError::Arity(args.name()));
    }
    client.store.set_many(&super::hashes::pairs(pairs))?;
    ok()
}

/// `GETDEL key`.
pub(crate) fn getdel(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(bulk_or_null(client.store.get_del(args.bytes()?)?))
}

/// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`. Redis looks the
/// key up before it checks the expire time, so a missing key or a set
/// answers as such even with a bad time.
pub(crate) fn getex(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let store = client.store;
    let key = args.bytes()?;
    let options = WriteOptions::parse(args.rest(), Flavor::GetEx)?;
    let expiry = match options.expiry(store, "getex") {
        Ok(expiry) => expiry,
        Err(bad_time) => {
            return match store.get_string(key)? {
                None => Ok(Value::Null),
                Some(_) => Err(bad_time),
            };
        }
    };
    let expiry = match (options.persist, expiry) {
        (true, _) => KeyExpiry::Persist,
        (false, expiry) => expiry.unwrap_or(KeyExpiry::Keep),
    };
    Ok(bulk_or_null(store.get_ex(key, expiry)?))
}

/// `INCR key`.
pub(crate) fn incr(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    add(client.store, args, 1)
}

/// `DECR key`.
pub(crate) fn decr(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    add(client.store, args, -1)
}

/// `INCRBY key n`.
pub(crate) fn incrby(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let by = args.integer()?;
    Ok(Value::Integer(client.store.incr(key, by)?))
}

/// `COUNTER.INCR key increment EX seconds | PX milliseconds`, sessiond's
/// own: INCRBY that gives a key without a TTL (a new counter) that TTL, in
/// one change, so a crash never leaves a rate limiter's counter without
/// its window (as INCR then EXPIRE can). A key with a TTL keeps it.
pub(crate) fn counter_incr(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let by = args.integer()?;
    let scale: i64 = match args.bytes()?.to_ascii_uppercase().as_slice() {
        b"EX" => 1000,
        b"PX" => 1,
        _ => return Err(RespError::Syntax),
    };
    let ms = args
        .integer()?
        .checked_mul(scale)
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
        .ok_or(RespError::InvalidExpire("counter.incr"))?;
    args.finish()?;
    let ttl = std::time::Duration::from_millis(ms);
    Ok(Value::Integer(client.store.incr_with_ttl(key, by, ttl)?))
}

/// `DECRBY key n`.
pub(crate) fn decrby(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let key = args.bytes()?;
    let by = args.integer()?;
    let delta = by
        .checked_neg()
        .ok_or_else(|| RespError::other("decrement would overflow"))?;
    Ok(Value::Integer(client.store.incr(key, delta)?))
}

fn add(store: &Store, mut args: Args<'_>, delta: i64) -> Reply {
    Ok(Value::Integer(store.incr(args.bytes()?, delta)?))
}

fn bulk_or_null(value: Option<Vec<u8>>) -> Value {
    value.map_or(Value::Null, Value::Bulk)
}

/// Which command's options are being read: they share the TTL options.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Set,
    GetEx,
}

/// The options of SET and GETEX, parsed with Redis's compatibility rules
/// (`parseExtendedStringArgumentsOrReply`): a TTL option excludes the
/// other TTL options but may repeat, the last one winning.
#[derive(Default)]
struct WriteOptions<'r> {
    ttl: Option<(Unit, &'r Bytes)>,
    keep_ttl: bool,
    persist: bool,
    nx: bool,
    xx: bool,
    get: bool,
}

impl<'r> WriteOptions<'r> {
    fn parse(args: &'r [Bytes], flavor: Flavor) -> Result<WriteOptions<'r>, RespError> {
        let mut o = WriteOptions::default();
        let set = flavor == Flavor::Set;
        let mut args = args.iter();
        while let Some(option) = args.next() {
            let unit = match option.to_ascii_uppercase().as_slice() {
                b"NX" if set && !o.xx => {
                    o.nx = true;
                    None
                }
                b"XX" if set && !o.nx => {
                    o.xx = true;
                    None
                }
                b"GET" if set => {
                    o.get = true;
                    None
                }
                b"KEEPTTL" if set && !o.persist && o.ttl.is_none() => {
                    o.keep_ttl = true;
                    None
                }
                b"PERSIST" if !set && !o.keep_ttl && o.ttl.is_none() => {
                    o.persist = true;
                    None
                }
                b"EX" => Some(Unit::Ex),
                b"PX" => Some(Unit::Px),
                b"EXAT" => Some(Unit::ExAt),
                b"PXAT" => Some(Unit::PxAt),
                _ => return Err(RespError::Syntax),
            };
            if let Some(unit) = unit {
                let ttl_free =
                    !o.keep_ttl && !o.persist && o.ttl.as_ref().is_none_or(|(u, _)| *u == unit);
                match args.next() {
                    Some(value) if ttl_free => o.ttl = Some((unit, value)),
                    _ => return Err(RespError::Syntax),
                }
            }
        }
        Ok(o)
    }

    /// The TTL option as an expiry, if one was given; Redis's errors for a
    /// bad time. `KEEPTTL` is `Keep`.
    fn expiry(&self, store: &Store, command: &'static str) -> Result<Option<KeyExpiry>, RespError> {
        if self.keep_ttl {
            return Ok(Some(KeyExpiry::Keep));
        }
        let Some((unit, arg)) = self.ttl else {
            return Ok(None);
        };
        expiry::positive(store, unit, arg, command).map(|d| Some(KeyExpiry::Set(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::args::words;

    #[test]
    fn set_options_follow_redis_compatibility_rules() {
        let ok = |text: &str| WriteOptions::parse(&words(text), Flavor::Set).is_ok();
        assert!(ok("NX GET EX 10"));
        assert!(ok("EX 1 EX 2"), "a TTL option may repeat");
        assert!(ok("XX KEEPTTL"));
        assert!(!ok("NX XX"));
        assert!(!ok("EX 1 PX 2"));
        assert!(!ok("KEEPTTL EX 1"));
        assert!(!ok("EX"));
        assert!(!ok("PERSIST"), "PERSIST is GETEX's");
        let getex = |text: &str| WriteOptions::parse(&words(text), Flavor::GetEx).is_ok();
        assert!(getex("PERSIST"));
        assert!(!getex("PERSIST EX 1"));
        assert!(!getex("NX"));
    }
}
