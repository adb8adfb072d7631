//! SLOWLOG and LATENCY: the slow log and the latency monitor
//! (`slowlog.rs` of the server keeps them), in Redis's reply shapes.

use super::{count, ok, subcommand};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

const SLOWLOG: &[(&str, i32)] = &[("get", -2), ("help", 2), ("len", 2), ("reset", 2)];

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
pub(crate) fn slowlog(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let log = &client.shared.slowlog;
    match (subcommand("slowlog", &mut args, SLOWLOG)?, args.rest()) {
        ("get", rest) => {
            let wanted = match rest {
                [] => Some(10),
                [n] => match integer(n) {
                    Ok(-1) => None,
                    Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    _ => {
                        return Err(RespError::other(
                            "count should be greater than or equal to -1",
                        ));
                    }
                },
                _ => {
                    return Err(RespError::other(
                        "wrong number of arguments for 'slowlog|get' command",
                    ));
                }
            };
            let entries = log.newest(wanted);
            Ok(Value::Array(
                entries
                    .into_iter()
                    .map(|e| {
                        Value::Array(vec![
                            Value::Integer(i64::try_from(e.id).unwrap_or(i64::MAX)),
                            Value::Integer(i64::try_from(e.time).unwrap_or(i64::MAX)),
                            Value::Integer(
                                i64::try_from(e.duration.as_micros()).unwrap_or(i64::MAX),
                            ),
                            Value::Array(e.args.iter().map(|a| Value::Bulk(a.to_vec())).collect()),
                            Value::text(e.peer),
                            Value::Bulk(e.name.to_vec()),
                        ])
                    })
                    .collect(),
            ))
        }
        ("len", []) => Ok(count(log.len())),
        ("reset", []) => {
            log.reset();
            ok()
        }
        _ => Ok(help(&[
            "SLOWLOG <subcommand> [<arg> ...]. Subcommands are:",
            "GET [count] -- the newest entries (10; -1 for all): id, unix time, microseconds, \
             arguments, client address, client name.",
            "LEN -- how many entries the log holds.",
            "RESET -- empty the log.",
            "HELP -- this text.",
        ])),
    }
}

const LATENCY: &[(&str, i32)] = &[
    ("doctor", 2),
    ("help", 2),
    ("history", 3),
    ("latest", 2),
    ("reset", -2),
];

/// `LATENCY LATEST | HISTORY event | RESET [event ...] | DOCTOR | HELP`.
pub(crate) fn latency(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let shared = client.shared;
    let monitor = &shared.latency_events;
    let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    match (subcommand("latency", &mut args, LATENCY)?, args.rest()) {
        ("latest", []) => Ok(Value::Array(
            monitor
                .events()
                .into_iter()
                .filter_map(|e| {
                    let (time, latest) = *e.samples.back()?;
                    Some(Value::Array(vec![
                        Value::text(e.name),
                        int(time),
                        int(latest),
                        int(e.max),
                    ]))
                })
                .collect(),
        )),
        ("history", [event]) => {
            let events = monitor.events();
            let samples = events
                .iter()
                .find(|e| e.name.as_bytes() == &event[..])
                .map(|e| {
                    e.samples
                        .iter()
                        .map(|(t, ms)| Value::Array(vec![int(*t), int(*ms)]))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Value::Array(samples))
        }
        ("reset", []) => Ok(count(monitor.reset(None))),
        ("reset", names) => Ok(count(monitor.reset(Some(names)))),
        ("doctor", []) => Ok(Value::Verbatim(doctor(client).into_bytes())),
        _ => Ok(help(&[
            "LATENCY <subcommand> [<arg> ...]. Subcommands are:",
            "LATEST -- each event's latest and worst latency.",
            "HISTORY event -- an event's worst latency per second, the last 160 seconds with one.",
            "RESET [event ...] -- forget events (all by default).",
            "DOCTOR -- a short report.",
            "HELP -- this text.",
        ])),
    }
}

/// LATENCY DOCTOR's report: simpler than Redis's, the same facts.
fn doctor(client: &Client<'_>) -> String {
    let live = &client.shared.live;
    if live.latency_threshold().is_none() {
        return "The latency monitor is off: CONFIG SET latency-monitor-threshold <milliseconds> \
                turns it on.\n"
            .to_owned();
    }
    let events = client.shared.latency_events.events();
    if events.is_empty() {
        return format!(
            "No command took {} ms or more since the monitor started or was reset.\n",
            live.latency_threshold_ms()
        );
    }
    let mut text = String::new();
    for event in events {
        let samples = event.samples.len() as u64;
        let mean = event.samples.iter().map(|(_, ms)| ms).sum::<u64>() / samples.max(1);
        text.push_str(&format!(
            "{}: {} seconds with latency spikes of {} ms or more; worst {} ms, mean of those \
             seconds {} ms.\n",
            event.name,
            samples,
            live.latency_threshold_ms(),
            event.max,
            mean
        ));
    }
    text.push_str("See SLOWLOG GET for the commands themselves.\n");
    text
}

/// A HELP reply: one simple string per line.
pub(super) fn help(lines: &[&'static str]) -> Value {
    Value::Array(lines.iter().map(|l| Value::Simple(l)).collect())
}
