//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, with Redis 7.0's
//! replies; the Lua side is `resp/scripting/`.
//!
//! A script normally reaches the scripting thread from the dispatch's
//! async path ([`run_async`]), which passes the store-wide gate there and
//! awaits the answer without blocking its connection thread. The table's
//! handlers below are the path of a caller that already holds the gate
//! exclusively: EXEC running a queued EVAL, and the replicated log
//! applying one; the script runs there, on the caller's thread.

use bytes::Bytes;

use super::subcommand;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::scripting::{Call, Request};
use crate::resp::spec::{Reply, Spec};

const SUBCOMMANDS: &[(&str, i32)] = &[
    ("debug", 3),
    ("exists", -3),
    ("flush", -2),
    ("help", 2),
    ("kill", 2),
    ("load", 3),
];

/// How a table entry names its script.
fn call_of(name: &str) -> Option<Call> {
    Some(match name {
        "eval" => Call::Body { read_only: false },
        "eval_ro" => Call::Body { read_only: true },
        "evalsha" => Call::Sha { read_only: false },
        "evalsha_ro" => Call::Sha { read_only: true },
        _ => return None,
    })
}

/// Whether the dispatch sends this command to [`run_async`].
pub(crate) fn is_script(spec: &Spec) -> bool {
    call_of(spec.name).is_some()
}

fn request(client: &Client<'_>, call: Call, args: &[Bytes], gate_held: bool) -> Request {
    // In a group this path is the log's (or EXEC's, which is the log's
    // too): the time is the leader's, pinned by the replay.
    let replay_at =
        (gate_held && client.shared.replication().is_some()).then(|| client.store.now_ms());
    Request {
        call,
        args: args.to_vec(),
        protocol: client.protocol,
        gate_held,
        replay_at,
    }
}

/// A script from the dispatch: run on the scripting thread, which passes
/// the gate exclusively; awaited without blocking this thread.
pub(crate) async fn run_async(client: &mut Client<'_>, spec: &Spec, args: &[Bytes]) -> Reply {
    let call = call_of(spec.name).ok_or(RespError::Syntax)?;
    let request = request(client, call, args, false);
    client.shared.scripts.eval(request).await
}

/// The table's handler for the four EVAL forms: the caller holds the
/// gate (see the module documentation).
pub(crate) fn eval(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    let call = call_of(args.name()).ok_or(RespError::Syntax)?;
    let mut args = args;
    let request = request(client, call, args.rest(), true);
    let shared = client.shared;
    shared.scripts.eval_here(shared, request)
}

/// `SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP` (DEBUG is refused).
pub(crate) fn script(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let scripts = &client.shared.scripts;
    match subcommand("script", &mut args, SUBCOMMANDS)? {
        "load" => scripts.load(args.bytes()?.clone()),
        "exists" => scripts.exists(args.rest().to_vec()),
        "flush" => {
            let mode = args.next().map(|m| m.to_ascii_lowercase());
            match mode.as_deref() {
                None | Some(b"sync") | Some(b"async") if args.is_empty() => scripts.flush(),
                _ => Err(RespError::other(
                    "SCRIPT FLUSH only support SYNC|ASYNC option",
                )),
            }
        }
        "kill" => scripts.kill(),
        "debug" => Err(RespError::other(
            "SCRIPT DEBUG is not supported: sessiond has no Lua debugger",
        )),
        _ => Ok(super::slowlog::help(&[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Print this help.",
        ])),
    }
}

/// Whether a command may run while a script runs too long (Redis's
/// `allow_busy`), without the gate: the connection commands and SCRIPT
/// KILL.
pub(crate) fn allowed_while_busy(spec: &Spec, args: &[Bytes]) -> bool {
    if spec.name == "script" {
        return args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"kill"));
    }
    spec.flags.contains(&crate::resp::spec::Flag::AllowBusy)
}

/// Whether SCRIPT KILL: it never waits for the gate a script holds.
pub(crate) fn is_kill(spec: &Spec, args: &[Bytes]) -> bool {
    spec.name == "script" && args.len() == 1 && args[0].eq_ignore_ascii_case(b"kill")
}

/// The value of a script's EVALSHA as the EVAL a group's leader
/// proposes: the body in place of the SHA1 (followers may not have it
/// cached); NOSCRIPT if this node has no such script.
pub(crate) fn as_eval(
    client: &Client<'_>,
    spec: &Spec,
    args: &[Bytes],
) -> Result<Vec<Bytes>, RespError> {
    let noscript = || RespError::Coded("NOSCRIPT No matching script. Please use EVAL.".into());
    let name: &'static str = match spec.name {
        "evalsha" => "eval",
        "evalsha_ro" => "eval_ro",
        other => other,
    };
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(Bytes::from_static(name.as_bytes()));
    match call_of(spec.name) {
        Some(Call::Sha { .. }) => {
            let sha = args.first().ok_or(RespError::Arity(spec.name))?;
            let body = client.shared.scripts.body_of(sha).ok_or_else(noscript)?;
            all.push(body);
            all.extend_from_slice(&args[1..]);
        }
        _ => all.extend_from_slice(args),
    }
    Ok(all)
}
