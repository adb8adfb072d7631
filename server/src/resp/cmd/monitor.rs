//! MONITOR, and what the Redis face tells the monitors (`monitor.rs` of
//! the server holds them and writes the lines).
//!
//! Which commands a monitor sees is Redis 7's rule: every command that
//! ran, after it ran, whatever it answered (an error included), except
//! those refused before running (unknown, wrong arity, NOAUTH, queued by
//! MULTI: EXEC shows them as it runs them, then itself) and the
//! administrator's commands (Redis's `admin` flag: MONITOR, CONFIG,
//! SLOWLOG, LATENCY and CLIENT LIST/KILL/PAUSE/UNPAUSE/NO-EVICT). A
//! script's command (EVAL…, flagged `skip_monitor`) is shown as it
//! starts, so that the commands its script runs, shown as `[0 lua]`,
//! come after it. Passwords are never shown: AUTH's arguments and HELLO's
//! `AUTH` username and password read `(redacted)`.

use bytes::{Bytes, BytesMut};

use super::ok;
use crate::monitor::{Origin, Tap};
use crate::pubsub::Overflowed;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::spec::{Flag, Reply, Spec};

/// What a hidden argument reads.
const REDACTED: &[u8] = b"(redacted)";

/// `MONITOR`: from now on the connection receives a line per command.
pub(crate) fn monitor(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    if client.in_exec {
        // EXEC expects an answer per command, as Redis's deny-blocking.
        return Err(RespError::other(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if client.monitor.is_none() {
        let cap = client.shared.config.max_output_buffer;
        client.monitor = Some(Tap::new(&client.shared.monitors, cap));
        if let Some(entry) = &client.entry {
            entry.set_monitoring(true);
        }
    }
    ok()
}

/// `RESET`'s part: monitoring ends.
pub(crate) fn reset(client: &mut Client<'_>) {
    client.monitor = None;
    if let Some(entry) = &client.entry {
        entry.set_monitoring(false);
    }
}

/// Writes the lines waiting for this monitor, until `output` has grown by
/// `up_to` bytes; `Err` if it overflowed while it did not read (the
/// connection must close).
pub(crate) fn write_lines(
    tap: &Tap<'_>,
    output: &mut BytesMut,
    up_to: usize,
) -> Result<(), Overflowed> {
    let until = output.len() + up_to;
    tap.mailbox().drain(|line| {
        output.extend_from_slice(&line.0);
        output.len() < until
    })
}

/// Whether monitors see this command (see the module's doc).
fn shown(spec: &Spec, args: &[Bytes]) -> bool {
    if spec.flags.contains(&Flag::Admin) {
        return false;
    }
    let sub = || {
        args.first()
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default()
    };
    match spec.name {
        "config" | "slowlog" | "latency" => sub() == b"help",
        "client" => !matches!(
            &sub()[..],
            b"list" | b"kill" | b"pause" | b"unpause" | b"no-evict"
        ),
        _ => true,
    }
}

/// Tells the monitors, if there are any, that the connection ran `name`
/// with `args` (as the client spelled them). Commands flagged
/// `skip_monitor` are told by [`feed_start`] instead.
pub(crate) fn feed(client: &Client<'_>, spec: &Spec, name: &[u8], args: &[Bytes]) {
    if client.shared.monitors.is_empty() || spec.flags.contains(&Flag::SkipMonitor) {
        return;
    }
    tell(client, spec, name, args);
}

/// A script command's line, told as it starts (before its script's).
pub(crate) fn feed_start(client: &Client<'_>, spec: &Spec, name: &[u8], args: &[Bytes]) {
    if client.shared.monitors.is_empty() || !spec.flags.contains(&Flag::SkipMonitor) {
        return;
    }
    tell(client, spec, name, args);
}

/// A command a script ran through `redis.call`.
pub(crate) fn feed_script(client: &Client<'_>, spec: &Spec, argv: &[Bytes]) {
    if client.shared.monitors.is_empty() || !shown(spec, &argv[1..]) {
        return;
    }
    let argv = argv.iter().map(|a| &a[..]);
    client.shared.monitors.feed(Origin::Lua, argv);
}

fn tell(client: &Client<'_>, spec: &Spec, name: &[u8], args: &[Bytes]) {
    // The server's own connections (the replicated log's) are not shown.
    let Some(entry) = &client.entry else {
        return;
    };
    if !shown(spec, args) {
        return;
    }
    let hidden = redacted(spec, args);
    let args = args
        .iter()
        .enumerate()
        .map(|(i, a)| if hidden(i) { REDACTED } else { &a[..] });
    let argv = std::iter::once(name).chain(args);
    client.shared.monitors.feed(Origin::Peer(entry.addr), argv);
}

/// Which arguments (0: the first after the name) carry a secret.
fn redacted(spec: &Spec, args: &[Bytes]) -> impl Fn(usize) -> bool + use<> {
    // HELLO [protover [AUTH username password] [SETNAME name]].
    let hello_auth = match spec.name {
        "hello" => args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .filter(|&at| at >= 1),
        _ => None,
    };
    let auth = spec.name == "auth";
    move |i| auth || hello_auth.is_some_and(|at| i == at + 1 || i == at + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::table::COMMANDS;

    fn spec(name: &str) -> &'static Spec {
        COMMANDS.lookup(name.as_bytes()).unwrap().1
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn administrators_commands_are_hidden_as_in_redis() {
        assert!(!shown(spec("monitor"), &[]));
        assert!(!shown(spec("config"), &args(&["get", "maxmemory"])));
        assert!(shown(spec("config"), &args(&["HELP"])));
        assert!(!shown(spec("client"), &args(&["LIST"])));
        assert!(!shown(spec("client"), &args(&["kill", "id", "3"])));
        assert!(shown(spec("client"), &args(&["setname", "x"])));
        assert!(shown(spec("client"), &args(&["info"])));
        assert!(!shown(spec("slowlog"), &args(&["len"])));
        assert!(!shown(spec("latency"), &args(&["latest"])));
        assert!(shown(spec("get"), &args(&["k"])));
    }

    #[test]
    fn secrets_are_redacted() {
        let auth = redacted(spec("auth"), &args(&["default", "pw"]));
        assert!(auth(0) && auth(1));
        let hello_args = args(&["3", "AUTH", "default", "pw", "SETNAME", "x"]);
        let hello = redacted(spec("hello"), &hello_args);
        let hidden: Vec<bool> = (0..hello_args.len()).map(hello).collect();
        assert_eq!(hidden, [false, false, true, true, false, false]);
        let get = redacted(spec("get"), &args(&["auth"]));
        assert!(!get(0));
    }
}
