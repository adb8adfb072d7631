//! The key and set commands of the RESP face, spelled as Redis spells
//! them: arguments parsed with Redis's rules and error texts, translated
//! into [`Command`]s for the one command layer, and the outputs written
//! back as Redis replies. Nothing here touches the store directly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sessiond_protocol::KeyTtl;
use sessiond_protocol::wire::{Reply, Request};

use super::errors::{INVALID_CURSOR, SYNTAX, invalid_expire, unexpected, wrong_arity};
use super::reply::Value;
use super::{integer, run_command};
use crate::Shared;
use crate::commands::{Command, Output};
use sessiond::{Deadline, ExpireCondition, KeyExpiry, KeyType, SetCondition, SetOptions};

/// Redis's arity of each command here: the exact argument count (command
/// name included), or its negation for a minimum.
pub(super) fn arity(name: &str) -> Option<i32> {
    Some(match name {
        "get" | "getdel" | "ttl" | "pttl" | "incr" | "decr" | "type" | "persist" | "keys"
        | "smembers" | "scard" => 2,
        "getset" | "setnx" | "incrby" | "decrby" | "rename" | "sismember" => 3,
        "setex" | "psetex" => 4,
        "dbsize" | "time" => 1,
        "flushdb" | "flushall" => -1,
        "getex" | "mget" | "del" | "unlink" | "exists" | "scan" => -2,
        "set" | "mset" | "expire" | "pexpire" | "expireat" | "pexpireat" | "sadd" | "srem" => -3,
        _ => return None,
    })
}

/// Runs a key or set command whose arity [`arity`] accepted.
pub(super) fn run(name: &str, args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    // A key for a command: the argument itself, shared, not copied.
    let key = || args[0].clone();
    match name {
        "get" => get(shared, key()),
        // MGET answers null for a key holding a set, where GET says
        // WRONGTYPE: Redis does the same.
        "mget" => Ok(Value::Array(
            args.iter()
                .map(|k| get(shared, k.clone()).unwrap_or(Value::Null))
                .collect(),
        )),
        "set" => set(args, shared),
        "setnx" => {
            let written = set_with(shared, args, SetCondition::IfAbsent, false)?;
            Ok(Value::Integer(i64::from(written.0)))
        }
        "getset" => Ok(set_with(shared, args, SetCondition::Always, true)?.1),
        "setex" | "psetex" => {
            let unit = if name == "setex" { Unit::Ex } else { Unit::Px };
            let when = deadline(unit, &args[1], name)?;
            let options = SetOptions {
                expiry: KeyExpiry::Set(when),
                ..SetOptions::default()
            };
            write(shared, &args[0], &args[2], options)?;
            Ok(Value::Simple("OK"))
        }
        "mset" => {
            if !args.len().is_multiple_of(2) {
                return Err(wrong_arity(name));
            }
            for pair in args.chunks(2) {
                write(shared, &pair[0], &pair[1], SetOptions::default())?;
            }
            Ok(Value::Simple("OK"))
        }
        "getdel" => getex_reply(shared, key(), KeyExpiry::Set(Deadline::AtMs(0))),
        "getex" => getex(args, shared),
        "del" | "unlink" => count_each(shared, args, |key| {
            Command::Native(Request::KeyDelete { key: key.to_vec() })
        }),
        "exists" => count_each(shared, args, |key| Command::Exists { key: key.clone() }),
        "type" => match run_command(shared, Command::Type { key: key() })? {
            Output::Kind(kind) => Ok(Value::Simple(kind.map_or("none", KeyType::name))),
            other => Err(unexpected(other)),
        },
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(name, args, shared),
        "persist" => boolean(shared, Command::Persist { key: key() }),
        "ttl" | "pttl" => ttl(name, args[0].to_vec(), shared),
        "incr" | "decr" => incr(
            shared,
            args[0].to_vec(),
            if name == "incr" { 1 } else { -1 },
        ),
        "incrby" | "decrby" => {
            let by = integer(&args[1])?;
            let delta = match name {
                "incrby" => by,
                _ => by
                    .checked_neg()
                    .ok_or_else(|| Value::err("decrement would overflow"))?,
            };
            incr(shared, args[0].to_vec(), delta)
        }
        "rename" => {
            let command = Command::Rename {
                from: key(),
                to: args[1].clone(),
            };
            run_command(shared, command)?;
            Ok(Value::Simple("OK"))
        }
        "keys" => strings(shared, Command::Keys { pattern: key() }, Value::Array),
        "scan" => scan(args, shared),
        "dbsize" => integer_reply(shared, Command::KeyCount),
        "flushdb" | "flushall" => {
            let mode = args.first().map(|m| m.to_ascii_uppercase());
            if args.len() > 1 || mode.is_some_and(|m| m != b"ASYNC" && m != b"SYNC") {
                return Err(Value::err(SYNTAX));
            }
            run_command(shared, Command::FlushAll)?;
            Ok(Value::Simple("OK"))
        }
        "sadd" | "srem" => {
            let members = args[1..].to_vec();
            let command = match name {
                "sadd" => Command::SetAdd {
                    key: key(),
                    members,
                },
                _ => Command::SetRemove {
                    key: key(),
                    members,
                },
            };
            integer_reply(shared, command)
        }
        "smembers" => strings(shared, Command::SetMembers { key: key() }, Value::Set),
        "sismember" => boolean(
            shared,
            Command::SetContains {
                key: key(),
                member: args[1].clone(),
            },
        ),
        "scard" => integer_reply(shared, Command::SetLen { key: key() }),
        "time" => Ok(time()),
        _ => unreachable!("every command with an arity is handled"),
    }
}

/// GET: a string's value, null if missing, WRONGTYPE for a set.
fn get(shared: &Shared, key: Bytes) -> Result<Value, Value> {
    value_reply(run_command(shared, Command::GetString { key })?)
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`.
fn set(args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    let options = WriteOptions::parse(&args[2..], Flavor::Set)?;
    let expiry = options.expiry("set")?;
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
    let outcome = write(shared, &args[0], &args[1], set)?;
    Ok(match (options.get, outcome.written) {
        (true, _) => outcome.old.map_or(Value::Null, Value::Bulk),
        (false, true) => Value::Simple("OK"),
        (false, false) => Value::Null,
    })
}

/// SETNX and GETSET: a conditional set of `args[0]` to `args[1]`; returns
/// whether it was written and the old value as a reply.
fn set_with(
    shared: &Shared,
    args: &[Bytes],
    condition: SetCondition,
    return_old: bool,
) -> Result<(bool, Value), Value> {
    let options = SetOptions {
        condition,
        return_old,
        ..SetOptions::default()
    };
    let outcome = write(shared, &args[0], &args[1], options)?;
    Ok((
        outcome.written,
        outcome.old.map_or(Value::Null, Value::Bulk),
    ))
}

fn write(
    shared: &Shared,
    key: &Bytes,
    value: &Bytes,
    options: SetOptions,
) -> Result<sessiond::SetOutcome, Value> {
    let command = Command::SetWith {
        key: key.clone(),
        value: value.clone(),
        options,
    };
    match run_command(shared, command)? {
        Output::Written(outcome) => Ok(outcome),
        other => Err(unexpected(other)),
    }
}

/// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`. Redis looks the
/// key up before it checks the expire time, so a missing key or a set
/// answers as such even with a bad time.
fn getex(args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    let options = WriteOptions::parse(&args[1..], Flavor::GetEx)?;
    let expiry = match options.expiry("getex") {
        Ok(expiry) => expiry,
        Err(bad_time) => {
            return match get(shared, args[0].clone())? {
                Value::Null => Ok(Value::Null),
                _ => Err(bad_time),
            };
        }
    };
    let expiry = match (options.persist, expiry) {
        (true, _) => KeyExpiry::Persist,
        (false, expiry) => expiry.unwrap_or(KeyExpiry::Keep),
    };
    getex_reply(shared, args[0].clone(), expiry)
}

fn getex_reply(shared: &Shared, key: Bytes, expiry: KeyExpiry) -> Result<Value, Value> {
    value_reply(run_command(shared, Command::GetEx { key, expiry })?)
}

/// `EXPIRE key n [NX | XX | GT | LT]`, and PEXPIRE, EXPIREAT, PEXPIREAT.
fn expire(name: &str, args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    let condition = expire_condition(&args[2..])?;
    let n = integer(&args[1])?;
    let unit = match name {
        "expire" => Unit::Ex,
        "pexpire" => Unit::Px,
        "expireat" => Unit::ExAt,
        _ => Unit::PxAt,
    };
    let ms = unit.millis(n).ok_or_else(|| invalid_expire(name))?;
    let when = match unit {
        Unit::Ex | Unit::Px => {
            ms.checked_add(now_ms())
                .ok_or_else(|| invalid_expire(name))?;
            // Zero or less: already past, which deletes the key.
            match u64::try_from(ms) {
                Ok(ms) if ms > 0 => Deadline::In(Duration::from_millis(ms)),
                _ => Deadline::AtMs(0),
            }
        }
        Unit::ExAt | Unit::PxAt => Deadline::AtMs(u64::try_from(ms).unwrap_or(0)),
    };
    let command = Command::ExpireWith {
        key: args[0].clone(),
        when,
        condition,
    };
    boolean(shared, command)
}

/// The NX, XX, GT and LT flags of EXPIRE, with Redis's rules on which go
/// together (a flag may repeat).
fn expire_condition(flags: &[Bytes]) -> Result<ExpireCondition, Value> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for flag in flags {
        match flag.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(Value::err(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(flag)
                )));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Value::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Value::err(
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

fn ttl(name: &str, key: Vec<u8>, shared: &Shared) -> Result<Value, Value> {
    match run_command(shared, Command::Native(Request::KeyTtl { key }))? {
        Output::Reply(Reply::Ttl(KeyTtl::Missing)) => Ok(Value::Integer(-2)),
        Output::Reply(Reply::Ttl(KeyTtl::Persistent)) => Ok(Value::Integer(-1)),
        Output::Reply(Reply::Ttl(KeyTtl::ExpiresIn(left))) if name == "pttl" => {
            Ok(Value::Integer(left.as_millis() as i64))
        }
        // Redis rounds to the nearest second.
        Output::Reply(Reply::Ttl(KeyTtl::ExpiresIn(left))) => {
            Ok(Value::Integer(((left.as_millis() + 500) / 1000) as i64))
        }
        other => Err(unexpected(other)),
    }
}

fn incr(shared: &Shared, key: Vec<u8>, delta: i64) -> Result<Value, Value> {
    integer_reply(shared, Command::Native(Request::KeyIncr { key, delta }))
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`; a repeated option
/// takes its last value, as in Redis.
fn scan(args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    let cursor = scan_cursor(&args[0])?;
    let (mut pattern, mut count, mut kind) = (None, 10, None);
    let mut options = args[1..].iter();
    while let Some(option) = options.next() {
        let value = options.next().ok_or_else(|| Value::err(SYNTAX))?;
        match option.to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = Some(value.clone()),
            b"COUNT" => {
                count = integer(value)?;
                if count < 1 {
                    return Err(Value::err(SYNTAX));
                }
            }
            // An unknown type matches nothing, as in Redis 7.0.
            b"TYPE" => {
                kind = Some(match value.to_ascii_lowercase().as_slice() {
                    b"string" => Some(KeyType::String),
                    b"set" => Some(KeyType::Set),
                    _ => None,
                })
            }
            _ => return Err(Value::err(SYNTAX)),
        }
    }
    let command = Command::Scan {
        cursor,
        count: usize::try_from(count).unwrap_or(usize::MAX),
        pattern,
        kind: kind.flatten(),
    };
    match run_command(shared, command)? {
        Output::Scan { .. } if kind == Some(None) => Ok(scan_reply(0, Vec::new())),
        Output::Scan { cursor, keys } => Ok(scan_reply(cursor, keys)),
        other => Err(unexpected(other)),
    }
}

fn scan_reply(cursor: u64, keys: Vec<Vec<u8>>) -> Value {
    Value::Array(vec![
        Value::text(cursor.to_string()),
        Value::Array(keys.into_iter().map(Value::Bulk).collect()),
    ])
}

/// A SCAN cursor: an unsigned 64-bit decimal, as Redis's `strtoull`
/// reads it (so `-1` wraps).
fn scan_cursor(arg: &[u8]) -> Result<u64, Value> {
    let text = std::str::from_utf8(arg).map_err(|_| Value::err(INVALID_CURSOR))?;
    text.parse::<u64>()
        .or_else(|_| text.parse::<i64>().map(|n| n as u64))
        .map_err(|_| Value::err(INVALID_CURSOR))
}

/// TIME: Unix seconds and microseconds, as two bulk strings.
fn time() -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Value::Array(vec![
        Value::text(now.as_secs().to_string()),
        Value::text(now.subsec_micros().to_string()),
    ])
}

fn now_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() as i64
}

/// Runs one command per key and counts the yeses (DEL, EXISTS).
fn count_each(
    shared: &Shared,
    keys: &[Bytes],
    command: impl Fn(&Bytes) -> Command,
) -> Result<Value, Value> {
    let mut yes = 0;
    for key in keys {
        if run_command(shared, command(key))? == Output::Reply(Reply::Bool(true)) {
            yes += 1;
        }
    }
    Ok(Value::Integer(yes))
}

fn boolean(shared: &Shared, command: Command) -> Result<Value, Value> {
    match run_command(shared, command)? {
        Output::Reply(Reply::Bool(yes)) => Ok(Value::Integer(i64::from(yes))),
        other => Err(unexpected(other)),
    }
}

fn integer_reply(shared: &Shared, command: Command) -> Result<Value, Value> {
    match run_command(shared, command)? {
        Output::Reply(Reply::Integer(n)) => Ok(Value::Integer(n)),
        other => Err(unexpected(other)),
    }
}

fn value_reply(output: Output) -> Result<Value, Value> {
    match output {
        Output::Reply(Reply::Value(value)) => Ok(value.map_or(Value::Null, Value::Bulk)),
        other => Err(unexpected(other)),
    }
}

fn strings(
    shared: &Shared,
    command: Command,
    wrap: fn(Vec<Value>) -> Value,
) -> Result<Value, Value> {
    match run_command(shared, command)? {
        Output::Strings(items) => Ok(wrap(items.into_iter().map(Value::Bulk).collect())),
        other => Err(unexpected(other)),
    }
}

/// How a TTL argument counts: seconds or milliseconds, from now or from
/// the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl Unit {
    /// `n` in milliseconds, `None` if that overflows (Redis's check).
    fn millis(self, n: i64) -> Option<i64> {
        match self {
            Unit::Ex | Unit::ExAt => n.checked_mul(1000),
            Unit::Px | Unit::PxAt => Some(n),
        }
    }
}

/// A TTL argument of SET, SETEX, PSETEX or GETEX as a deadline: a positive
/// integer whose deadline does not overflow, or Redis's errors.
fn deadline(unit: Unit, arg: &[u8], command: &str) -> Result<Deadline, Value> {
    let n = integer(arg)?;
    let invalid = || invalid_expire(command);
    let ms = unit.millis(n).filter(|ms| *ms > 0).ok_or_else(invalid)?;
    match unit {
        Unit::Ex | Unit::Px => {
            ms.checked_add(now_ms()).ok_or_else(invalid)?;
            Ok(Deadline::In(Duration::from_millis(ms as u64)))
        }
        Unit::ExAt | Unit::PxAt => Ok(Deadline::AtMs(ms as u64)),
    }
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
struct WriteOptions {
    ttl: Option<(Unit, Bytes)>,
    keep_ttl: bool,
    persist: bool,
    nx: bool,
    xx: bool,
    get: bool,
}

impl WriteOptions {
    fn parse(args: &[Bytes], flavor: Flavor) -> Result<WriteOptions, Value> {
        let mut o = WriteOptions::default();
        let mut i = 0;
        while i < args.len() {
            let next = args.get(i + 1);
            let set = flavor == Flavor::Set;
            let ttl_free = |o: &WriteOptions, unit: Unit| {
                !o.keep_ttl && !o.persist && o.ttl.as_ref().is_none_or(|(u, _)| *u == unit)
            };
            let unit = match args[i].to_ascii_uppercase().as_slice() {
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
                _ => return Err(Value::err(SYNTAX)),
            };
            if let Some(unit) = unit {
                match next {
                    Some(value) if ttl_free(&o, unit) => o.ttl = Some((unit, value.clone())),
                    _ => return Err(Value::err(SYNTAX)),
                }
                i += 1;
            }
            i += 1;
        }
        Ok(o)
    }

    /// The TTL option as an expiry, if one was given; Redis's errors for a
    /// bad time. `KEEPTTL` is `Keep`.
    fn expiry(&self, command: &str) -> Result<Option<KeyExpiry>, Value> {
        if self.keep_ttl {
            return Ok(Some(KeyExpiry::Keep));
        }
        let Some((unit, arg)) = &self.ttl else {
            return Ok(None);
        };
        deadline(*unit, arg, command).map(|d| Some(KeyExpiry::Set(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::errors::not_an_integer;
    use super::*;

    fn args(text: &str) -> Vec<Bytes> {
        text.split_whitespace()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn set_options_follow_redis_compatibility_rules() {
        let ok = |text: &str| WriteOptions::parse(&args(text), Flavor::Set).is_ok();
        assert!(ok("NX GET EX 10"));
        assert!(ok("EX 1 EX 2"), "a TTL option may repeat");
        assert!(ok("XX KEEPTTL"));
        assert!(!ok("NX XX"));
        assert!(!ok("EX 1 PX 2"));
        assert!(!ok("KEEPTTL EX 1"));
        assert!(!ok("EX"));
        assert!(!ok("PERSIST"), "PERSIST is GETEX's");
        let getex = |text: &str| WriteOptions::parse(&args(text), Flavor::GetEx).is_ok();
        assert!(getex("PERSIST"));
        assert!(!getex("PERSIST EX 1"));
        assert!(!getex("NX"));
    }

    #[test]
    fn expire_times_are_checked_as_redis_does() {
        assert!(deadline(Unit::Ex, b"0", "set").is_err());
        assert!(deadline(Unit::Ex, b"-1", "set").is_err());
        assert!(deadline(Unit::Ex, b"9999999999999999", "set").is_err());
        assert_eq!(
            deadline(Unit::Px, b"1500", "set"),
            Ok(Deadline::In(Duration::from_millis(1500)))
        );
        assert_eq!(deadline(Unit::ExAt, b"2", "set"), Ok(Deadline::AtMs(2000)));
        assert_eq!(deadline(Unit::Ex, b"abc", "set"), Err(not_an_integer()));
    }

    #[test]
    fn expire_flags() {
        let c = |text: &str| expire_condition(&args(text));
        assert_eq!(c(""), Ok(ExpireCondition::Always));
        assert_eq!(c("nx nx"), Ok(ExpireCondition::IfNoTtl));
        assert_eq!(c("XX GT"), Ok(ExpireCondition::IfLater));
        assert!(c("NX GT").is_err());
        assert!(c("GT LT").is_err());
        assert!(c("FOO").is_err());
    }
}
