//! What a client may ask about keys without changing them: TOUCH,
//! EXPIRETIME, PEXPIRETIME, RANDOMKEY, OBJECT (ENCODING, REFCOUNT,
//! IDLETIME, FREQ, HELP) and MEMORY (USAGE, HELP).

use sessiond::KeyDeadline;

use super::count;
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `TOUCH key...`: how many exist. The engine keeps no access times, so
/// nothing else changes.
pub(crate) fn touch(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let keys: Vec<&[u8]> = args.rest().iter().map(|k| &k[..]).collect();
    Ok(count(client.store.count_existing(&keys)))
}

/// `EXPIRETIME key`: the Unix second at which it dies (rounded to the
/// nearest, as Redis does), -1 without a TTL, -2 if missing.
pub(crate) fn expiretime(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    deadline(client, args, |ms| (ms + 500) / 1000)
}

/// `PEXPIRETIME key`: the same in milliseconds.
pub(crate) fn pexpiretime(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    deadline(client, args, |ms| ms)
}

fn deadline(client: &mut Client<'_>, mut args: Args<'_>, unit: fn(u64) -> u64) -> Reply {
    Ok(Value::Integer(
        match client.store.key_deadline(args.bytes()?) {
            KeyDeadline::Missing => -2,
            KeyDeadline::Persistent => -1,
            KeyDeadline::AtMs(ms) => i64::try_from(unit(ms)).unwrap_or(i64::MAX),
        },
    ))
}

/// `RANDOMKEY`: a key, or null for an empty store.
pub(crate) fn randomkey(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    Ok(client.store.random_key().map_or(Value::Null, Value::Bulk))
}

/// Redis's OBJECT HELP lines, after the header.
const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// Redis's MEMORY HELP lines, after the header: only USAGE is answered,
/// but the help is Redis's, so that a tool reading it finds what it knows.
const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// `OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ key`, `OBJECT HELP`.
/// IDLETIME is always 0: the engine keeps no access time per key (a key's
/// record is packed for memory), so every key reads as just used. FREQ is
/// Redis's error when the eviction policy is not LFU, which ours never is.
pub(crate) fn object(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let typed = args.bytes()?;
    let sub = typed.to_ascii_lowercase();
    let rest = args.rest();
    let arity = match sub.as_slice() {
        b"help" => 0,
        b"encoding" | b"refcount" | b"idletime" | b"freq" => 1,
        _ => return Err(unknown_subcommand(typed, "OBJECT")),
    };
    if rest.len() != arity {
        return Err(subcommand_arity("object", &sub));
    }
    let [key] = rest else {
        return Ok(help(OBJECT_HEADER, OBJECT_HELP));
    };
    let Some(info) = client.store.object_info(key) else {
        return Ok(Value::Null);
    };
    Ok(match sub.as_slice() {
        b"encoding" => Value::text(info.encoding),
        b"refcount" => Value::Integer(info.refcount),
        b"idletime" => Value::Integer(0),
        _ => {
            return Err(RespError::other(
                "An LFU maxmemory policy is not selected, access frequency not tracked. \
                 Please note that when switching between policies at runtime LRU and LFU \
                 data will take some time to adjust.",
            ));
        }
    })
}

/// `MEMORY USAGE key [SAMPLES n]`: the bytes the store charges for the
/// key (its name, value and overhead; every member of a set, whatever
/// SAMPLES says), null if missing; `MEMORY HELP`.
pub(crate) fn memory(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let typed = args.bytes()?;
    let sub = typed.to_ascii_lowercase();
    let rest = args.rest();
    match (sub.as_slice(), rest) {
        (b"help", []) => Ok(help(MEMORY_HEADER, MEMORY_HELP)),
        (b"usage", [key, options @ ..]) => {
            let mut options = options.iter();
            while let Some(option) = options.next() {
                match options.next() {
                    Some(n) if option.eq_ignore_ascii_case(b"SAMPLES") => {
                        if integer(n)? < 0 {
                            return Err(RespError::Syntax);
                        }
                    }
                    _ => return Err(RespError::Syntax),
                }
            }
            Ok(client.store.key_memory(key).map_or(Value::Null, count))
        }
        (b"doctor" | b"stats" | b"malloc-stats" | b"purge", []) => Err(RespError::other(format!(
            "MEMORY {} is not supported here: INFO memory and the metrics listener have the \
             store's memory figures",
            String::from_utf8_lossy(typed).to_ascii_uppercase()
        ))),
        (b"help" | b"usage" | b"doctor" | b"stats" | b"malloc-stats" | b"purge", _) => {
            Err(subcommand_arity("memory", &sub))
        }
        _ => Err(unknown_subcommand(typed, "MEMORY")),
    }
}

/// Redis 7's error for a subcommand it does not have.
fn unknown_subcommand(typed: &[u8], command: &str) -> RespError {
    let typed: String = String::from_utf8_lossy(typed).chars().take(128).collect();
    RespError::other(format!("unknown subcommand '{typed}'. Try {command} HELP."))
}

/// Redis 7's arity error for a subcommand, named `command|sub`.
fn subcommand_arity(command: &str, sub: &[u8]) -> RespError {
    RespError::other(format!(
        "wrong number of arguments for '{command}|{}' command",
        String::from_utf8_lossy(sub)
    ))
}

const OBJECT_HEADER: &str = "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:";
const MEMORY_HEADER: &str = "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:";

/// A HELP reply as Redis's `addReplyHelp` writes it: a header naming the
/// command, the lines, and HELP itself, all simple strings.
fn help(header: &'static str, lines: &[&'static str]) -> Value {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Value::Simple(header));
    out.extend(lines.iter().map(|line| Value::Simple(line)));
    out.push(Value::Simple("HELP"));
    out.push(Value::Simple("    Prints this help."));
    Value::Array(out)
}
