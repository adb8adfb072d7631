//! Lua scripting for the Redis face (EVAL, EVALSHA, their `_RO` forms and
//! SCRIPT): Lua 5.1 through mlua, with Redis 7.0's API, sandbox and reply
//! conversions.
//!
//! One Lua state serves the connections, as in Redis, and it lives on a
//! thread of its own (`worker.rs`): a connection sends its script there
//! and awaits the answer, so its connection thread goes on serving the
//! other connections it carries. (A caller that already holds the gate,
//! EXEC or the replicated log, runs its script in a Lua state of its own
//! thread instead, sharing the cache of bodies.) That is what lets a client on any thread
//! hear BUSY, and send SCRIPT KILL, while a script runs too long. The
//! worker passes the store-wide gate (`gate.rs`) exclusively for the whole
//! script, once, and `redis.call` runs the command table's handlers
//! directly, never through the dispatch that passes the gate again.
//!
//! What the other threads see of a running script is [`RunState`]: a few
//! atomics the dispatch reads before it passes the gate (one relaxed load
//! while no script has run too long).

mod cache;
mod convert;
mod rand48;
mod sandbox;
mod vm;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;

use super::errors::RespError;
use super::reply::{Protocol, Value};
use super::spec::Reply;
use crate::Shared;

/// Redis's reply to a command sent while a script runs too long.
pub(crate) const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// What the other threads know of the script running now.
#[derive(Default)]
pub(crate) struct RunState {
    /// Whether a script is running.
    running: AtomicBool,
    /// Whether it has run past `busy-reply-threshold`: commands then get
    /// BUSY instead of waiting for the gate.
    timed_out: AtomicBool,
    /// SCRIPT KILL asked it to stop.
    kill: AtomicBool,
    /// It has run a write command (SCRIPT KILL then refuses: UNKILLABLE).
    wrote: AtomicBool,
    /// It is applied from the replicated log: every node runs it, so no
    /// node may stop it alone (UNKILLABLE, as Redis says of a master's).
    replicated: AtomicBool,
}

impl RunState {
    /// Whether a script has run past its threshold (one relaxed load: on
    /// every command's path).
    #[inline]
    pub(crate) fn busy(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    fn start(&self, replicated: bool) {
        self.replicated.store(replicated, Ordering::SeqCst);
        self.kill.store(false, Ordering::SeqCst);
        self.wrote.store(false, Ordering::SeqCst);
        self.timed_out.store(false, Ordering::SeqCst);
        self.running.store(true, Ordering::SeqCst);
    }

    fn end(&self) {
        self.running.store(false, Ordering::SeqCst);
        self.timed_out.store(false, Ordering::SeqCst);
        self.kill.store(false, Ordering::SeqCst);
    }

    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

/// The server's scripting: the run state, and the worker that holds the
/// Lua state and the script cache (started on first use).
#[derive(Default)]
pub(crate) struct Scripts {
    run: Arc<RunState>,
    worker: worker::Handle,
}

/// How a script was named and may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// EVAL (`read_only`: EVAL_RO).
    Body { read_only: bool },
    /// EVALSHA (`read_only`: EVALSHA_RO).
    Sha { read_only: bool },
}

/// One EVAL-family request, owned, for the worker.
pub(crate) struct Request {
    pub call: Call,
    /// The body or the SHA1, then numkeys, keys and arguments.
    pub args: Vec<Bytes>,
    /// The caller's protocol (booleans and nulls are written in it).
    pub protocol: Protocol,
    /// Whether the caller already holds the gate exclusively (a script in
    /// EXEC, or applied from the replicated log).
    pub gate_held: bool,
    /// The leader's time, when the replicated log applies the script.
    pub replay_at: Option<u64>,
}

impl Scripts {
    /// Ties the scripts to their server, once it is shared (the worker
    /// runs handlers on it; it holds it weakly, so a server that is
    /// dropped ends its worker).
    pub(crate) fn attach(&self, shared: Weak<Shared>) {
        self.worker.attach(shared, self.run.clone());
    }

    /// The run state, for the dispatch's BUSY check.
    pub(crate) fn run_state(&self) -> &RunState {
        &self.run
    }

    /// Runs a script, waiting without blocking the connection's thread.
    pub(crate) async fn eval(&self, request: Request) -> Reply {
        self.worker.eval_async(request).await
    }

    /// Runs a script for a caller that holds the gate (EXEC, the
    /// replicated log), on the caller's thread in a Lua state of its own.
    pub(crate) fn eval_here(&self, shared: &Shared, request: Request) -> Reply {
        self.worker.eval_here(shared, request)
    }

    /// SCRIPT LOAD: compiles and caches the body; its SHA1.
    pub(crate) fn load(&self, body: Bytes) -> Reply {
        self.worker.ask(worker::Ask::Load(body))
    }

    /// SCRIPT EXISTS.
    pub(crate) fn exists(&self, shas: Vec<Bytes>) -> Reply {
        self.worker.ask(worker::Ask::Exists(shas))
    }

    /// SCRIPT FLUSH: forgets every script and starts a fresh Lua state.
    pub(crate) fn flush(&self) -> Reply {
        self.worker.ask(worker::Ask::Flush)
    }

    /// The body cached under `sha`, for a group's leader to propose
    /// EVALSHA as EVAL.
    pub(crate) fn body_of(&self, sha: &[u8]) -> Option<Bytes> {
        self.worker.body_of(sha)
    }

    /// SCRIPT KILL, which never waits for the gate or the worker.
    pub(crate) fn kill(&self) -> Reply {
        let run = &self.run;
        if !run.running.load(Ordering::SeqCst) {
            return Err(RespError::Coded(
                "NOTBUSY No scripts in execution right now.".into(),
            ));
        }
        if run.replicated.load(Ordering::SeqCst) {
            return Err(RespError::Coded(
                "UNKILLABLE The busy script was sent by a master instance in the context of \
                 replication and cannot be killed."
                    .into(),
            ));
        }
        if run.wrote.load(Ordering::SeqCst) {
            return Err(RespError::Coded(
                "UNKILLABLE Sorry the script already executed write commands against the \
                 dataset. You can either wait the script termination or kill the server in a \
                 hard way using the SHUTDOWN NOSAVE command."
                    .into(),
            ));
        }
        run.kill.store(true, Ordering::SeqCst);
        Ok(Value::Simple("OK"))
    }
}

/// The SHA1 of `body` in lower-case hex, as Redis names scripts.
pub(crate) fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Milliseconds since `since`.
fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}
