//! What clients ask a Redis server about itself: `INFO` and `COMMAND`.
//!
//! INFO's numbers come from the command layer's statistics (the native
//! `STATS` request), spelled in Redis's `# Section` / `key:value` format;
//! COMMAND answers from the arity tables of the other modules, enough for
//! clients that probe it.

use bytes::Bytes;
use sessiond_protocol::wire::{Reply, Request};

use super::errors::unexpected;
use super::reply::Value;
use super::{keys, run_command, sessions};
use crate::Shared;
use crate::commands::{Command, Output};

/// Commands of the connection, with Redis's arities.
const CONNECTION: &[(&str, i32)] = &[
    ("ping", -1),
    ("echo", 2),
    ("auth", -2),
    ("hello", -1),
    ("select", 2),
    ("quit", -1),
    ("reset", 1),
    ("client", -2),
    ("command", -1),
    ("info", -1),
];

/// Every key, set and session command the face answers.
const DATA: &[&str] = &[
    "get",
    "getdel",
    "getex",
    "getset",
    "mget",
    "set",
    "setex",
    "psetex",
    "setnx",
    "mset",
    "del",
    "unlink",
    "exists",
    "type",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "ttl",
    "pttl",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "rename",
    "keys",
    "scan",
    "dbsize",
    "flushdb",
    "flushall",
    "time",
    "sadd",
    "srem",
    "smembers",
    "sismember",
    "scard",
    "session.create",
    "session.get",
    "session.touch",
    "session.set",
    "session.del",
    "session.rotate",
    "session.list",
    "session.count",
    "session.delowner",
];

/// Every command with its arity.
fn all_commands() -> impl Iterator<Item = (&'static str, i32)> {
    CONNECTION.iter().copied().chain(DATA.iter().map(|name| {
        let arity = keys::arity(name)
            .or_else(|| sessions::arity(name))
            .expect("every data command has an arity");
        (*name, arity)
    }))
}

/// A command's entry as `COMMAND INFO` gives it (Redis 7's ten fields):
/// name, arity, flags, first key, last key, key step, ACL categories, tips,
/// key specs, subcommands. Flags and the rest are left empty.
fn entry(name: &str, arity: i32) -> Value {
    let (first, last, step) = match name {
        "mget" | "del" | "unlink" | "exists" => (1, -1, 1),
        "mset" => (1, -1, 2),
        "rename" => (1, 2, 1),
        "keys" | "scan" | "dbsize" | "flushdb" | "flushall" | "time" => (0, 0, 0),
        _ if name.starts_with("session.") => (0, 0, 0),
        _ if CONNECTION.iter().any(|(n, _)| *n == name) => (0, 0, 0),
        _ => (1, 1, 1),
    };
    Value::Array(vec![
        Value::text(name),
        Value::Integer(i64::from(arity)),
        Value::Set(Vec::new()),
        Value::Integer(first),
        Value::Integer(last),
        Value::Integer(step),
        Value::Set(Vec::new()),
        Value::Set(Vec::new()),
        Value::Array(Vec::new()),
        Value::Array(Vec::new()),
    ])
}

/// `COMMAND`, `COMMAND COUNT | LIST | INFO name... | DOCS [name...]`.
pub(super) fn command(args: &[Bytes]) -> Result<Value, Value> {
    let Some(sub) = args.first() else {
        return Ok(Value::Array(
            all_commands().map(|(n, a)| entry(n, a)).collect(),
        ));
    };
    let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
    match (sub.as_str(), &args[1..]) {
        ("count", []) => Ok(Value::Integer(all_commands().count() as i64)),
        ("list", []) => Ok(Value::Array(
            all_commands().map(|(n, _)| Value::text(n)).collect(),
        )),
        ("info", names) => Ok(Value::Array(
            names
                .iter()
                .map(|name| {
                    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                    all_commands()
                        .find(|(n, _)| *n == name)
                        .map_or(Value::Null, |(n, a)| entry(n, a))
                })
                .collect(),
        )),
        // No documentation is served: an empty map, which clients accept.
        ("docs", _) => Ok(Value::Map(Vec::new())),
        _ => Err(Value::err(format!(
            "unknown subcommand or wrong number of arguments for '{sub}'. Try COMMAND HELP."
        ))),
    }
}

/// INFO's sections, in order; `INFO` without arguments (or `default`)
/// shows them all.
const SECTIONS: &[&str] = &["server", "clients", "memory", "persistence", "keyspace"];

/// `INFO [section ...]`: `server`, `clients`, `memory`, `persistence`,
/// `keyspace`, or
/// `default`, `all`, `everything`; unknown sections are left out.
pub(super) fn info(args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    let stats = match run_command(shared, Command::Native(Request::Stats))? {
        Output::Reply(Reply::Stats(stats)) => stats,
        other => return Err(unexpected(other)),
    };
    let stat = |name: &str| stats.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let everything = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "default" | "all" | "everything"));
    let mut text = String::new();
    for section in SECTIONS {
        if !everything && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| lines.push((k.to_owned(), v));
        match *section {
            "server" => {
                text.push_str("# Server\r\n");
                add("redis_version", "7.0.15".into());
                add("sessiond_version", env!("CARGO_PKG_VERSION").into());
                add("redis_mode", "standalone".into());
                add("os", std::env::consts::OS.into());
                add("arch_bits", (usize::BITS).to_string());
                add("process_id", std::process::id().to_string());
            }
            "clients" => {
                text.push_str("# Clients\r\n");
                add("connected_clients", stat("connections").to_string());
                add("maxclients", shared.config.max_connections.to_string());
            }
            "memory" => {
                text.push_str("# Memory\r\n");
                let used = stat("bytes_used");
                let rss = stat("rss_bytes");
                let max = stat("memory_limit");
                add("used_memory", used.to_string());
                add("used_memory_human", human(used));
                add("used_memory_rss", rss.to_string());
                add("used_memory_rss_human", human(rss));
                add("maxmemory", max.to_string());
                add("maxmemory_human", human(max));
            }
            "persistence" => {
                text.push_str("# Persistence\r\n");
                // Redis's names, so that tools that watch them work.
                let status = match stat("persist_writes_refused") {
                    0 => "ok",
                    _ => "err",
                };
                add("loading", "0".into());
                add(
                    "aof_enabled",
                    u64::from(stat("persist_fsync") > 0).to_string(),
                );
                add("aof_last_write_status", status.into());
                add("aof_current_size", stat("persist_log_bytes").to_string());
                add("aof_rewrites", stat("persist_compactions").to_string());
            }
            _ => {
                text.push_str("# Keyspace\r\n");
                let keys = stat("keys");
                // Like Redis, no line for an empty database.
                if keys > 0 {
                    add("db0", format!("keys={keys}"));
                }
                add("sessions", stat("sessions").to_string());
            }
        }
        for (k, v) in lines {
            text.push_str(&format!("{k}:{v}\r\n"));
        }
    }
    Ok(Value::Bulk(text.into_bytes()))
}

/// Bytes as Redis shows them: `1.50M`, `823.00K`, `12B`.
fn human(bytes: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_arity_and_no_duplicates() {
        let names: Vec<_> = all_commands().map(|(n, _)| n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
    }

    #[test]
    fn memory_in_redis_units() {
        assert_eq!(human(12), "12B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 20), "3.00M");
    }
}
