//! CONFIG GET / SET / RESETSTAT / REWRITE over a fixed set of Redis's
//! parameters (protocol/RESP.md lists them and what each does here).
//!
//! A parameter is live (SET changes the server now: `maxmemory`,
//! `maxmemory-policy`, `maxclients`, `timeout`, the slow log's and the
//! latency monitor's thresholds, `notify-keyspace-events`), stored (SET validates and keeps the
//! value, which GET shows, for parameters that have no meaning here:
//! `hz`, `lfu-log-factor`…), fixed (set at start: `port`, `bind`,
//! `databases`…; SET says so).
//!
//! CONFIG SET is all or nothing, as in Redis: every name is looked up
//! first (an unknown one, a fixed one or one given twice fails the whole
//! command), then every value is checked, and only if all are valid is
//! any applied. The error texts are Redis 7's.

use std::time::Duration;

use bytes::Bytes;

use super::slowlog::help;
use super::{ok, subcommand};
use crate::Shared;
use crate::notifications::KeyspaceEvents;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;
use sessiond::{FsyncPolicy, MemoryPolicy};

const SUBCOMMANDS: &[(&str, i32)] = &[
    ("get", -3),
    ("help", 2),
    ("resetstat", 2),
    ("rewrite", 2),
    ("set", -4),
];

/// A change checked and ready to apply.
type Change = Box<dyn FnOnce(&Shared)>;

/// How SET treats a parameter.
enum Set {
    /// Checks the value and returns the change, or Redis's reason.
    Checked(fn(&Shared, &str) -> Result<Change, String>),
    /// Set at start: Redis's "can't set immutable config".
    Fixed,
    /// An integer in these bounds, kept for GET and meaning nothing here.
    Stored(i64, i64),
}

struct Param {
    name: &'static str,
    get: fn(&Shared) -> String,
    set: Set,
}

/// Redis's bounds for its integer parameters.
const STORED: Set = Set::Stored(0, i32::MAX as i64);

/// The parameters, sorted by name (the order CONFIG GET answers in).
// One line per parameter reads as a table; rustfmt would stack the fields.
#[rustfmt::skip]
const PARAMS: &[Param] = &[
    p("appendfsync", appendfsync, Set::Checked(set_appendfsync)),
    p("appendonly", appendonly, Set::Checked(set_appendonly)),
    p("bind", bind, Set::Fixed),
    p("busy-reply-threshold", |s| s.live.busy_reply_threshold_ms().to_string(), Set::Checked(set_busy_reply_threshold)),
    p("client-output-buffer-limit", output_limit, Set::Fixed),
    p("databases", |_| "1".into(), Set::Fixed),
    p("dir", dir, Set::Fixed),
    p("hz", |s| s.live.hz().to_string(), Set::Checked(set_hz)),
    p("latency-monitor-threshold", |s| s.live.latency_threshold_ms().to_string(), Set::Checked(set_latency_threshold)),
    p("lfu-decay-time", |s| stored(s, "lfu-decay-time", "1"), STORED),
    p("lfu-log-factor", |s| stored(s, "lfu-log-factor", "10"), STORED),
    p("lua-time-limit", |s| s.live.busy_reply_threshold_ms().to_string(), Set::Checked(set_busy_reply_threshold)),
    p("maxclients", |s| s.live.max_clients().to_string(), Set::Checked(set_maxclients)),
    p("maxmemory", maxmemory, Set::Checked(set_maxmemory)),
    p("maxmemory-policy", maxmemory_policy, Set::Checked(set_maxmemory_policy)),
    p("maxmemory-samples", |s| stored(s, "maxmemory-samples", "5"), STORED),
    p("notify-keyspace-events", |s| s.key_hook.notifications.classes().to_string(), Set::Checked(set_keyspace_events)),
    p("port", port, Set::Fixed),
    p("protected-mode", protected_mode, Set::Fixed),
    p("proto-max-bulk-len", |s| crate::resp::max_bulk(s).to_string(), Set::Fixed),
    p("requirepass", requirepass, Set::Checked(set_requirepass)),
    p("save", |_| String::new(), Set::Checked(set_save)),
    p("slowlog-log-slower-than", |s| s.live.slowlog_slower_than_us().to_string(), Set::Checked(set_slowlog_slower_than)),
    p("slowlog-max-len", |s| s.live.slowlog_max_len().to_string(), Set::Checked(set_slowlog_max_len)),
    p("tcp-keepalive", |s| stored(s, "tcp-keepalive", "0"), STORED),
    p("timeout", timeout, Set::Checked(set_timeout)),
];

/// One parameter, positionally.
const fn p(name: &'static str, get: fn(&Shared) -> String, set: Set) -> Param {
    Param { name, get, set }
}

/// `CONFIG GET pattern... | SET name value... | RESETSTAT | REWRITE | HELP`.
pub(crate) fn config(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    match subcommand("config", &mut args, SUBCOMMANDS)? {
        "get" => Ok(get(client.shared, args.rest())),
        "set" => set(client.shared, args.rest()),
        "resetstat" => {
            super::info::reset_stats(client.shared);
            ok()
        }
        "rewrite" => Err(RespError::other(
            "CONFIG REWRITE is not supported: sessiond never rewrites its settings (flags, \
             SESSIOND_* variables, its TOML file); CONFIG SET lasts until the server restarts",
        )),
        _ => Ok(help(&[
            "CONFIG <subcommand> [<arg> ...]. Subcommands are:",
            "GET pattern [pattern ...] -- parameters matching the glob patterns, and their values.",
            "SET name value [name value ...] -- change parameters, all or none.",
            "RESETSTAT -- zero INFO's counters.",
            "REWRITE -- not supported: settings live in flags, the environment and the TOML file.",
            "HELP -- this text.",
        ])),
    }
}

/// The parameters matching any pattern, once each: a pattern without
/// glob characters names one (in any case, answered as spelt), others
/// match names as Redis's globs do, ignoring case.
fn get(shared: &Shared, patterns: &[Bytes]) -> Value {
    let mut seen = vec![false; PARAMS.len()];
    let mut pairs = Vec::new();
    for pattern in patterns {
        let is_glob = pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        for (i, param) in PARAMS.iter().enumerate() {
            if seen[i] {
                continue;
            }
            let lower = pattern.to_ascii_lowercase();
            let hit = match is_glob {
                true => sessiond::glob_match(&lower, param.name.as_bytes()),
                false => lower == param.name.as_bytes(),
            };
            if hit {
                seen[i] = true;
                let name = match is_glob {
                    true => Value::text(param.name),
                    false => Value::Bulk(pattern.to_vec()),
                };
                pairs.push((name, Value::text((param.get)(shared))));
            }
        }
    }
    Value::Map(pairs)
}

fn set(shared: &Shared, pairs: &[Bytes]) -> Reply {
    if pairs.len() % 2 == 1 {
        return Err(RespError::Syntax);
    }
    let failed = |name: &str, why: &str| {
        RespError::other(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    // Names first: unknown beats everything, then fixed or twice.
    let mut found: Vec<&Param> = Vec::new();
    let mut refusal = None;
    for pair in pairs.chunks(2) {
        let given = &pair[0];
        let Some(param) = PARAMS
            .iter()
            .find(|p| given.eq_ignore_ascii_case(p.name.as_bytes()))
        else {
            return Err(RespError::other(format!(
                "Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(given)
            )));
        };
        let given = String::from_utf8_lossy(given);
        if refusal.is_none() {
            if matches!(param.set, Set::Fixed) {
                refusal = Some(failed(&given, "can't set immutable config"));
            } else if found.iter().any(|p| p.name == param.name) {
                refusal = Some(failed(&given, "duplicate parameter"));
            }
        }
        found.push(param);
    }
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    // Then every value, before any is applied.
    let mut changes = Vec::with_capacity(found.len());
    for (param, pair) in found.iter().zip(pairs.chunks(2)) {
        let value = String::from_utf8_lossy(&pair[1]);
        let change = match param.set {
            Set::Checked(check) => check(shared, &value),
            Set::Stored(min, max) => int_in(&value, min, max).map(|n| {
                let name = param.name;
                Box::new(move |shared: &Shared| shared.live.set_stored(name, n.to_string()))
                    as Change
            }),
            Set::Fixed => unreachable!("fixed parameters were refused above"),
        };
        changes.push(change.map_err(|why| failed(param.name, &why))?);
    }
    for change in changes {
        change(shared);
    }
    ok()
}

/// A stored parameter's value, or its default.
fn stored(shared: &Shared, name: &str, default: &str) -> String {
    shared
        .live
        .stored(name)
        .unwrap_or_else(|| default.to_owned())
}

/// An integer as Redis's numeric parameters read it, within bounds.
fn int_in(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n = crate::resp::args::integer(value.as_bytes())
        .map_err(|_| "argument couldn't be parsed into an integer".to_owned())?;
    match (min..=max).contains(&n) {
        true => Ok(n),
        false => Err(format!(
            "argument must be between {min} and {max} inclusive"
        )),
    }
}

/// A memory value as Redis reads one: digits and an optional unit (`b`,
/// `k` = 1000, `kb` = 1024, `m`, `mb`, `g`, `gb`, in any case).
fn memory_value(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let digits = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits);
    let factor: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(factor)
}

fn yes_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn unchanged() -> Change {
    Box::new(|_| {})
}

fn appendonly(shared: &Shared) -> String {
    match shared.store.persistence() {
        Some(_) => "yes".into(),
        None => "no".into(),
    }
}

fn set_appendonly(shared: &Shared, value: &str) -> Result<Change, String> {
    let on = yes_no(value)?;
    match on == shared.store.persistence().is_some() {
        true => Ok(unchanged()),
        false => Err(
            "the journal is chosen at start (--data-dir) and cannot be turned on or \
                      off while the server runs"
                .into(),
        ),
    }
}

fn fsync_name(policy: FsyncPolicy) -> &'static str {
    match policy {
        FsyncPolicy::Always => "always",
        FsyncPolicy::EverySec => "everysec",
        FsyncPolicy::No => "no",
    }
}

fn appendfsync(shared: &Shared) -> String {
    shared
        .store
        .persistence()
        .map_or("everysec", |p| fsync_name(p.fsync))
        .into()
}

fn set_appendfsync(shared: &Shared, value: &str) -> Result<Change, String> {
    let value = value.to_ascii_lowercase();
    if !["everysec", "always", "no"].contains(&value.as_str()) {
        return Err("argument(s) must be one of the following: everysec, always, no".into());
    }
    match value == appendfsync(shared) {
        true => Ok(unchanged()),
        false => Err(
            "the fsync policy is chosen at start (--fsync) and cannot change while \
                      the server runs"
                .into(),
        ),
    }
}

fn bind(shared: &Shared) -> String {
    shared
        .addresses
        .resp
        .unwrap_or(shared.addresses.native)
        .ip()
        .to_string()
}

fn port(shared: &Shared) -> String {
    shared
        .addresses
        .resp
        .unwrap_or(shared.addresses.native)
        .port()
        .to_string()
}

fn dir(_: &Shared) -> String {
    std::env::current_dir().map_or(String::new(), |d| d.display().to_string())
}

/// The normal clients' hard limit is the driver's output cap; replicas
/// and pub/sub clients keep Redis's defaults, which mean nothing here.
fn output_limit(shared: &Shared) -> String {
    format!(
        "normal {} 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        shared.config.max_output_buffer
    )
}

fn protected_mode(shared: &Shared) -> String {
    match shared.config.allow_unauthenticated_remote {
        true => "no".into(),
        false => "yes".into(),
    }
}

/// The token is not shown, unlike Redis's: a token replaced by a reload
/// is meant to lock out whoever held the old one, and a client still
/// connected under the old one must not read the new one here.
fn requirepass(shared: &Shared) -> String {
    match shared.credentials.current().token {
        Some(_) => "(hidden: sessiond does not show its auth token)".into(),
        None => String::new(),
    }
}

fn set_requirepass(_: &Shared, _: &str) -> Result<Change, String> {
    Err(
        "the auth token is set at start (--auth-token, --auth-token-file) and reloaded from \
         its file on SIGHUP; it cannot be set over a connection"
            .into(),
    )
}

fn set_save(_: &Shared, value: &str) -> Result<Change, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() {
        return Ok(unchanged());
    }
    if words.len() % 2 == 1 || words.iter().any(|w| w.parse::<u64>().is_err()) {
        return Err("Invalid save parameters".into());
    }
    Err(
        "there are no save points: with --data-dir every write is journalled and snapshots \
         are taken when the log outgrows the data"
            .into(),
    )
}

fn maxmemory(shared: &Shared) -> String {
    shared.store.stats().memory_limit.unwrap_or(0).to_string()
}

fn set_maxmemory(_: &Shared, value: &str) -> Result<Change, String> {
    let bytes = memory_value(value).ok_or("argument must be a memory value")?;
    Ok(Box::new(move |shared| {
        shared.store.set_memory_limit((bytes > 0).then_some(bytes));
    }))
}

pub(crate) fn maxmemory_policy(shared: &Shared) -> String {
    match shared.store.memory_policy() {
        MemoryPolicy::Reject => "noeviction".into(),
        MemoryPolicy::EvictNearestDeadline => "volatile-ttl".into(),
    }
}

fn set_maxmemory_policy(_: &Shared, value: &str) -> Result<Change, String> {
    let policy = match value.to_ascii_lowercase().as_str() {
        "noeviction" => MemoryPolicy::Reject,
        "volatile-ttl" => MemoryPolicy::EvictNearestDeadline,
        "volatile-lru" | "volatile-lfu" | "volatile-random" | "allkeys-lru" | "allkeys-lfu"
        | "allkeys-random" => {
            return Err(format!(
                "'{value}' is not supported here: sessiond evicts the sessions nearest their \
                 deadline (volatile-ttl) or nothing (noeviction)"
            ));
        }
        _ => {
            return Err(
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                        volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
                        noeviction"
                    .into(),
            );
        }
    };
    Ok(Box::new(move |shared| {
        shared.store.set_memory_policy(policy)
    }))
}

fn set_maxclients(_: &Shared, value: &str) -> Result<Change, String> {
    let n = int_in(value, 1, i64::from(u32::MAX))?;
    Ok(Box::new(move |shared| {
        shared
            .live
            .set_max_clients(usize::try_from(n).unwrap_or(usize::MAX));
    }))
}

fn timeout(shared: &Shared) -> String {
    shared
        .live
        .idle_timeout()
        .map_or(0, |t| t.as_secs())
        .to_string()
}

fn set_timeout(_: &Shared, value: &str) -> Result<Change, String> {
    let secs = int_in(value, 0, i64::from(i32::MAX))?;
    Ok(Box::new(move |shared| {
        let timeout = (secs > 0).then(|| Duration::from_secs(secs as u64));
        shared.live.set_idle_timeout(timeout);
        // Idle connections look at their deadline again now.
        shared.clients.nudge_all();
    }))
}

fn set_slowlog_slower_than(_: &Shared, value: &str) -> Result<Change, String> {
    let us = int_in(value, -1, i64::MAX)?;
    Ok(Box::new(move |shared| {
        shared.live.set_slowlog_slower_than_us(us)
    }))
}

fn set_slowlog_max_len(_: &Shared, value: &str) -> Result<Change, String> {
    let n = int_in(value, 0, i64::MAX)? as u64;
    Ok(Box::new(move |shared| {
        shared.live.set_slowlog_max_len(n);
        shared.slowlog.trim(n);
    }))
}

fn set_latency_threshold(_: &Shared, value: &str) -> Result<Change, String> {
    let ms = int_in(value, 0, i64::MAX)? as u64;
    Ok(Box::new(move |shared| {
        shared.live.set_latency_threshold_ms(ms)
    }))
}

fn set_keyspace_events(_: &Shared, value: &str) -> Result<Change, String> {
    let events = KeyspaceEvents::parse(value.as_bytes())
        .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
    Ok(Box::new(move |shared| {
        shared.key_hook.set_notifications(events)
    }))
}

/// `busy-reply-threshold` / `lua-time-limit`, in milliseconds.
fn set_busy_reply_threshold(_: &Shared, value: &str) -> Result<Change, String> {
    let ms = int_in(value, 0, i64::MAX)? as u64;
    Ok(Box::new(move |shared| {
        shared.live.set_busy_reply_threshold_ms(ms)
    }))
}

/// `hz`, kept within Redis's 1..=500 as Redis keeps it.
fn set_hz(_: &Shared, value: &str) -> Result<Change, String> {
    let hz = int_in(value, 0, i64::from(i32::MAX))?;
    Ok(Box::new(move |shared| {
        shared.live.set_hz(hz.clamp(1, 500) as u32)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_read_as_redis_reads_them() {
        assert_eq!(memory_value("10mb"), Some(10 << 20));
        assert_eq!(memory_value("5GB"), Some(5 << 30));
        assert_eq!(memory_value("1k"), Some(1000));
        assert_eq!(memory_value("100"), Some(100));
        assert_eq!(memory_value("-1"), None);
        assert_eq!(memory_value("1.5mb"), None);
        assert_eq!(memory_value("abc"), None);
    }

    #[test]
    fn parameters_are_sorted_and_unique() {
        assert!(PARAMS.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn integers_out_of_range_say_the_range() {
        assert_eq!(
            int_in("-1", 0, 5),
            Err("argument must be between 0 and 5 inclusive".into())
        );
        assert_eq!(
            int_in("x", 0, 5),
            Err("argument couldn't be parsed into an integer".into())
        );
    }
}
