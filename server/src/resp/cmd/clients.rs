//! CLIENT: the connection's own name, id and reply mode, and the other
//! connections of the Redis face (LIST, INFO, KILL, PAUSE), read from the
//! registry (`clients.rs` of the server).
//!
//! A line of CLIENT LIST has Redis 7's fields in Redis's order. What has
//! no meaning here is written as Redis writes an idle client's: `db=0`
//! (the one database), `sub=0 psub=0 ssub=0` (no pub/sub yet),
//! `multi=-1`, the buffer sizes as 0 (the driver keeps one count of all
//! connections' buffers, INFO's `mem_clients_normal`, not one per client),
//! `user=default`, `redir=-1`. `cmd` is the last command's name (a
//! container's subcommand is shown only for the connection asking).
//!
//! CLIENT NO-TOUCH ON makes this connection's SESSION.GET leave the idle
//! deadline where it is, as its NOTOUCH option does; plain keys have no
//! access time to touch. CLIENT NO-EVICT is accepted and shown: the
//! server evicts data, never client connections.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::connection::client_id;
use super::{ok, subcommand};
use crate::clients::{ClientEntry, PauseMode};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;
use crate::resp::table::COMMANDS;

/// CLIENT's subcommands and their arities (Redis 7's, the container
/// counted).
const SUBCOMMANDS: &[(&str, i32)] = &[
    ("getname", 2),
    ("help", 2),
    ("id", 2),
    ("info", 2),
    ("kill", -3),
    ("list", -2),
    ("no-evict", 3),
    ("no-touch", 3),
    ("pause", -3),
    ("reply", 3),
    ("setinfo", 4),
    ("setname", 3),
    ("unpause", 2),
];

/// `CLIENT subcommand [...]`.
pub(crate) fn client(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let sub = subcommand("client", &mut args, SUBCOMMANDS)?;
    let rest = args.rest();
    match (sub, rest) {
        ("setname", [name]) => {
            if name.iter().any(|b| *b <= b' ' || *b > b'~') {
                return Err(RespError::other(
                    "Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            client.set_name((!name.is_empty()).then(|| name.clone()));
            ok()
        }
        ("getname", []) => Ok(client
            .name
            .as_ref()
            .map_or(Value::Null, |n| Value::Bulk(n.to_vec()))),
        ("id", []) => Ok(client_id(client)),
        ("setinfo", [_, _]) => ok(),
        ("info", []) => {
            let Some(entry) = &client.entry else {
                return Ok(Value::Verbatim(Vec::new()));
            };
            let mut text = line(entry, Instant::now(), Some("client|info"));
            text.push('\n');
            Ok(Value::Verbatim(text.into_bytes()))
        }
        ("list", filters) => list(client, filters),
        ("kill", filters) => kill(client, filters),
        ("pause", [timeout, mode @ ..]) => {
            let mode = match mode {
                [] => PauseMode::All,
                [m] if m.eq_ignore_ascii_case(b"write") => PauseMode::Write,
                [m] if m.eq_ignore_ascii_case(b"all") => PauseMode::All,
                [_] => return Err(RespError::other("CLIENT PAUSE mode must be WRITE or ALL")),
                _ => return Err(RespError::Syntax),
            };
            let ms = integer(timeout)
                .map_err(|_| RespError::other("timeout is not an integer or out of range"))?;
            let ms = u64::try_from(ms).map_err(|_| RespError::other("timeout is negative"))?;
            // Bounded so that adding it to the clock cannot overflow.
            let ms = ms.min(100 * 365 * 24 * 3600 * 1000);
            let until = tokio::time::Instant::now() + Duration::from_millis(ms);
            client.shared.clients.pause.pause(mode, until);
            ok()
        }
        ("unpause", []) => {
            client.shared.clients.pause.unpause();
            ok()
        }
        ("reply", [mode]) => {
            let mode = String::from_utf8_lossy(mode).to_ascii_lowercase();
            match mode.as_str() {
                "on" => {
                    client.reply_off = false;
                    client.skip_next = false;
                    ok()
                }
                "off" => {
                    client.reply_off = true;
                    Ok(Value::Silent)
                }
                "skip" => {
                    client.skip_next = !client.reply_off;
                    Ok(Value::Silent)
                }
                _ => Err(RespError::Syntax),
            }
        }
        ("no-evict" | "no-touch", [switch]) => {
            let on = match () {
                () if switch.eq_ignore_ascii_case(b"on") => true,
                () if switch.eq_ignore_ascii_case(b"off") => false,
                () => return Err(RespError::Syntax),
            };
            if let Some(entry) = &client.entry {
                let flag = match sub {
                    "no-evict" => &entry.no_evict,
                    _ => &entry.no_touch,
                };
                flag.store(on, Ordering::Relaxed);
            }
            ok()
        }
        ("help", []) => Ok(super::slowlog::help(HELP)),
        _ => Err(RespError::Syntax),
    }
}

/// Whether this connection asked that its reads leave sessions' idle
/// deadlines alone (CLIENT NO-TOUCH ON).
pub(crate) fn no_touch(client: &Client<'_>) -> bool {
    client
        .entry
        .as_ref()
        .is_some_and(|e| e.no_touch.load(Ordering::Relaxed))
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]`.
fn list(client: &Client<'_>, filters: &[bytes::Bytes]) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    let mut only_normal = true;
    match filters {
        [] => {}
        [kind, name] if kind.eq_ignore_ascii_case(b"type") => {
            only_normal = client_type(name)?;
        }
        [kind, given @ ..] if kind.eq_ignore_ascii_case(b"id") && !given.is_empty() => {
            let parsed: Result<Vec<u64>, _> = given
                .iter()
                .map(|id| {
                    integer(id)
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or(RespError::other("Invalid client ID"))
                })
                .collect();
            ids = Some(parsed?);
        }
        _ => return Err(RespError::Syntax),
    }
    let now = Instant::now();
    let mut text = String::new();
    if only_normal {
        for entry in client.shared.clients.all() {
            if ids.as_ref().is_some_and(|ids| !ids.contains(&entry.id)) {
                continue;
            }
            let own = (entry.id == client.id).then_some("client|list");
            text.push_str(&line(&entry, now, own));
            text.push('\n');
        }
    }
    Ok(Value::Verbatim(text.into_bytes()))
}

/// Whether a client type names the normal clients (the only ones here);
/// Redis's error for a type it does not know.
fn client_type(name: &[u8]) -> Result<bool, RespError> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    match lower.as_str() {
        "normal" => Ok(true),
        "master" | "replica" | "slave" | "pubsub" => Ok(false),
        _ => Err(RespError::other(format!(
            "Unknown client type '{}'",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// `CLIENT KILL addr:port` or `CLIENT KILL [ID id] [ADDR ip:port]
/// [LADDR ip:port] [USER name] [TYPE type] [SKIPME yes|no] [MAXAGE s]`.
fn kill(client: &Client<'_>, filters: &[bytes::Bytes]) -> Reply {
    let old_form = filters.len() == 1;
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut id: Option<u64> = None;
    let mut normal = true;
    let mut max_age: Option<u64> = None;
    let mut skip_me = !old_form;
    if old_form {
        addr = Some(String::from_utf8_lossy(&filters[0]).into_owned());
    } else {
        for pair in filters.chunks(2) {
            let [option, value] = pair else {
                return Err(RespError::Syntax);
            };
            let option = String::from_utf8_lossy(option).to_ascii_lowercase();
            let text = || String::from_utf8_lossy(value).into_owned();
            match option.as_str() {
                "id" => {
                    let n = integer(value)
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or(RespError::other("client-id should be greater than 0"))?;
                    id = Some(n);
                }
                "addr" => addr = Some(text()),
                "laddr" => laddr = Some(text()),
                "type" => normal = client_type(value)?,
                "user" => {
                    if &value[..] != b"default" {
                        return Err(RespError::other(format!("No such user '{}'", text())));
                    }
                }
                "skipme" => {
                    skip_me = match () {
                        () if value.eq_ignore_ascii_case(b"yes") => true,
                        () if value.eq_ignore_ascii_case(b"no") => false,
                        () => return Err(RespError::Syntax),
                    };
                }
                "maxage" => {
                    let n = integer(value).map_err(|_| {
                        RespError::other("maxage is not an integer or out of range")
                    })?;
                    let n = u64::try_from(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(RespError::other("maxage should be greater than 0"))?;
                    max_age = Some(n);
                }
                _ => return Err(RespError::Syntax),
            }
        }
    }
    let mut killed = 0i64;
    if normal {
        for entry in client.shared.clients.all() {
            let matches = addr.as_ref().is_none_or(|a| *a == entry.addr.to_string())
                && laddr.as_ref().is_none_or(|a| *a == entry.laddr.to_string())
                && id.is_none_or(|id| id == entry.id)
                && max_age.is_none_or(|s| entry.created.elapsed().as_secs() >= s)
                && !(skip_me && entry.id == client.id);
            if matches {
                // Our own connection closes after this answer (the
                // answer loop looks at the flag); another at once.
                entry.kill();
                killed += 1;
            }
        }
    }
    match (old_form, killed) {
        (true, 0) => Err(RespError::other("No such client")),
        (true, _) => ok(),
        (false, n) => Ok(Value::Integer(n)),
    }
}

/// One connection as CLIENT LIST writes it; `own_command` the command to
/// show for the connection asking (its subcommand is known there).
fn line(entry: &ClientEntry, now: Instant, own_command: Option<&str>) -> String {
    let name = entry
        .name()
        .map(|n| String::from_utf8_lossy(&n).into_owned());
    let mut flags = String::new();
    if entry.monitoring() {
        flags.push('O');
    }
    if entry.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if entry.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let command = match own_command {
        Some(command) => command.to_owned(),
        None => entry
            .last_command()
            .and_then(|i| COMMANDS.iter().nth(i))
            .map_or("NULL".to_owned(), |spec| spec.name.to_owned()),
    };
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db=0 sub=0 psub=0 \
         ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 \
         omem=0 tot-mem=0 events=r cmd={command} user=default redir=-1 resp={}",
        entry.id,
        entry.addr,
        entry.laddr,
        entry.fd,
        name.unwrap_or_default(),
        now.saturating_duration_since(entry.created).as_secs(),
        match own_command {
            Some(_) => 0,
            None => entry.idle(now).as_secs(),
        },
        entry.resp(),
    )
}

/// CLIENT HELP, in our words.
const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
    "ID -- this connection's id.",
    "INFO -- this connection, as a CLIENT LIST line.",
    "LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID id ...] -- the open connections.",
    "KILL addr:port | KILL [ID id] [ADDR a] [LADDR a] [USER u] [TYPE t] [SKIPME yes|no] \
     [MAXAGE s] -- close connections.",
    "SETNAME name | GETNAME -- this connection's name.",
    "PAUSE ms [WRITE|ALL] | UNPAUSE -- hold commands back for a while.",
    "REPLY ON|OFF|SKIP -- whether this connection is answered.",
    "NO-EVICT ON|OFF | NO-TOUCH ON|OFF -- NO-TOUCH: reads leave idle deadlines alone.",
    "HELP -- this text.",
];
