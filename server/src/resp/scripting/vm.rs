//! Running one script on the scripting thread: finding or compiling its
//! function, the gate, KEYS and ARGV, `redis.call` over the command table,
//! the time and memory limits, and the reply.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value as Lua_, VmState};
use parking_lot::Mutex;
use tracing::warn;

use super::cache::Cache;
use super::convert::{argument, error_table, to_lua, to_reply};
use super::sandbox::{self, Raise, Sandbox, raise, raised};
use super::{Call, Request, RunState, elapsed_ms};
use crate::Shared;
use crate::outcome::Outcome;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Protocol;
use crate::resp::spec::{Flag, Reply};
use crate::resp::table::COMMANDS;

/// Lua memory a script may allocate beyond what the state held when it
/// started.
pub(crate) const SCRIPT_MEMORY: usize = 64 << 20;

/// Instructions between two looks at the clock and the kill flag.
const HOOK_EVERY: u32 = 10_000;

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Commands Redis refuses in scripts whose table entries do not say so
/// (their `noscript` flag is on their subcommands), and the scripting
/// commands themselves.
const DENIED: &[&str] = &[
    "client",
    "config",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "latency",
    "script",
];

/// How one run may go.
#[derive(Clone, Copy)]
struct Mode {
    /// EVAL_RO, EVALSHA_RO, or a `no-writes` script.
    read_only: bool,
    /// Applied from the replicated log (SCRIPT KILL refuses it).
    replicated: bool,
    /// The caller's protocol.
    protocol: Protocol,
}

/// The Lua state and the compiled scripts.
pub(super) struct Vm {
    sandbox: Sandbox,
    run: Arc<RunState>,
    functions: HashMap<String, Function>,
    xpcall: Function,
    handler: Function,
}

impl Vm {
    pub(super) fn new(run: Arc<RunState>) -> mlua::Result<Vm> {
        let sandbox = sandbox::build()?;
        let xpcall: Function = sandbox.real.raw_get("xpcall")?;
        let handler = sandbox.lua.create_function(error_handler)?;
        Ok(Vm {
            sandbox,
            run,
            functions: HashMap::new(),
            xpcall,
            handler,
        })
    }

    /// Compiles and caches `body` (SCRIPT LOAD, or EVAL of a new body);
    /// its SHA1.
    pub(super) fn load(
        &mut self,
        cache: &Mutex<Cache>,
        body: Bytes,
        loaded: bool,
    ) -> Result<String, RespError> {
        let sha = super::sha1_hex(&body);
        if self.functions.contains_key(&sha) {
            cache.lock().insert(sha.clone(), body, loaded);
            return Ok(sha);
        }
        let (_, skip) = shebang(&body)?;
        // A shebang line is skipped, its line feed kept for line numbers.
        let function = self
            .sandbox
            .lua
            .load(&body[skip..])
            .set_name("@user_script")
            .set_environment(self.sandbox.globals.clone())
            .into_function()
            .map_err(|e| {
                let text = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                RespError::other(format!("Error compiling script (new function): {text}"))
            })?;
        let forgotten = cache.lock().insert(sha.clone(), body, loaded);
        for old in forgotten {
            self.functions.remove(&old);
        }
        // A caller's own state never hears of the scripts another forgot:
        // it starts over rather than grow past the cache's bound.
        if self.functions.len() >= super::cache::MAX_SCRIPTS {
            self.functions.clear();
        }
        self.functions.insert(sha.clone(), function);
        Ok(sha)
    }

    /// EVAL and its kin.
    pub(super) fn eval(&mut self, shared: &Shared, cache: &Mutex<Cache>, req: Request) -> Reply {
        let args = &req.args;
        let (read_only, by_sha) = match req.call {
            Call::Body { read_only } => (read_only, false),
            Call::Sha { read_only } => (read_only, true),
        };
        if by_sha && args[0].len() != 40 {
            return Err(RespError::Coded(NOSCRIPT.into()));
        }
        let numkeys = crate::resp::args::integer(&args[1])?;
        if numkeys > (args.len() - 2) as i64 {
            return Err(RespError::other(
                "Number of keys can't be greater than number of args",
            ));
        }
        if numkeys < 0 {
            return Err(RespError::other("Number of keys can't be negative"));
        }
        let sha = match by_sha {
            true => String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
            false => super::sha1_hex(&args[0]),
        };
        if !self.functions.contains_key(&sha) {
            // A body this state has not compiled: EVAL's own, or one the
            // cache has (loaded through another Lua state).
            let body = match by_sha {
                true => cache.lock().get(&sha).map(|e| e.body.clone()),
                false => Some(args[0].clone()),
            };
            let body = body.ok_or_else(|| RespError::Coded(NOSCRIPT.into()))?;
            self.load(cache, body, false)?;
        }
        let body = cache.lock().get(&sha).map(|e| e.body.clone());
        let (no_writes, _) = shebang(body.as_deref().unwrap_or_default())?;
        let declared = body.as_deref().is_some_and(|b| b.starts_with(b"#!"));
        if declared && !no_writes && read_only {
            return Err(RespError::other(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        let function = self.functions[&sha].clone();
        let split = 2 + numkeys as usize;
        let (keys, argv) = (&args[2..split], &args[split..]);
        let run = |vm: &mut Vm| {
            let _alone = (!req.gate_held).then(|| shared.gate.exclusive());
            let mode = Mode {
                read_only: read_only || no_writes,
                replicated: req.replay_at.is_some(),
                protocol: req.protocol,
            };
            vm.run(shared, &sha, function, keys, argv, mode)
        };
        match req.replay_at {
            Some(at) => shared.store.replay(at, &[], || run(self)),
            None => run(self),
        }
    }

    /// Runs the script's function: KEYS and ARGV, the hook, the memory
    /// limit, `redis.call` for this run, the reply.
    fn run(
        &mut self,
        shared: &Shared,
        sha: &str,
        function: Function,
        keys: &[Bytes],
        argv: &[Bytes],
        mode: Mode,
    ) -> Reply {
        let Mode {
            read_only,
            replicated,
            protocol,
        } = mode;
        let lua = &self.sandbox.lua;
        let run = self.run.clone();
        let lua_err = |e: mlua::Error| RespError::other(format!("Error running script: {e}"));
        self.sandbox
            .real
            .raw_set("KEYS", strings(lua, keys).map_err(lua_err)?)
            .map_err(lua_err)?;
        self.sandbox
            .real
            .raw_set("ARGV", strings(lua, argv).map_err(lua_err)?)
            .map_err(lua_err)?;
        lua.set_globals(self.sandbox.globals.clone())
            .map_err(lua_err)?;
        if shared.replication().is_some() {
            // The same draws on every node, whatever it ran before.
            *self.sandbox.rand.borrow_mut() = super::rand48::Rand48::default();
        }
        let threshold = shared.live.busy_reply_threshold_ms();
        let started = Instant::now();
        run.start(replicated);
        set_hook(lua, run.clone(), started, threshold, false);
        let base = lua.used_memory();
        let _ = lua.set_memory_limit(base + SCRIPT_MEMORY);
        let resp3 = Cell::new(false);
        let client = RefCell::new(Client::internal(shared));
        let redis = &self.sandbox.redis;
        let run_command = |lua: &Lua, args: MultiValue| {
            let mut client = client.borrow_mut();
            command(lua, &mut client, &run, read_only, resp3.get(), args)
        };
        let outcome = lua.scope(|scope| {
            let call = scope.create_function(|lua, args: MultiValue| {
                let value = run_command(lua, args)?;
                match error_of(&value) {
                    Some(text) => Err(mlua::Error::external(Raise::Table(text))),
                    None => Ok(value),
                }
            })?;
            let pcall = scope.create_function(|lua, args: MultiValue| run_command(lua, args))?;
            let setresp = scope.create_function(|_, args: MultiValue| {
                let version = match (args.len(), args.front()) {
                    (1, Some(Lua_::Integer(n))) => *n as f64,
                    (1, Some(Lua_::Number(n))) => *n,
                    (1, _) => 0.0,
                    _ => return Err(raise(b"redis.setresp() requires one argument.")),
                };
                match version as i64 {
                    2 | 3 => {
                        resp3.set(version as i64 == 3);
                        Ok(())
                    }
                    _ => Err(raise(b"RESP version must be 2 or 3.")),
                }
            })?;
            redis.raw_set("call", call)?;
            redis.raw_set("pcall", pcall)?;
            redis.raw_set("setresp", setresp)?;
            let result = self
                .xpcall
                .call::<MultiValue>((function, self.handler.clone()));
            let reply = match result {
                Ok(values) => {
                    let ok = matches!(values.front(), Some(Lua_::Boolean(true)));
                    let value = values.get(1).cloned().unwrap_or(Lua_::Nil);
                    match ok {
                        true => Ok(to_reply(&value, resp3.get(), protocol)),
                        false => Err(failure(&run, &value, sha)),
                    }
                }
                Err(mlua::Error::MemoryError(_)) => Err(memory_error()),
                Err(e) => Err(RespError::other(format!("Error running script {sha}, {e}"))),
            };
            for name in ["call", "pcall", "setresp"] {
                redis.raw_set(name, Lua_::Nil)?;
            }
            Ok(reply)
        });
        let mut client = client.into_inner();
        client.policy.report();
        lua.remove_global_hook();
        let _ = lua.set_memory_limit(0);
        if lua.used_memory() > base + SCRIPT_MEMORY / 2 {
            let _ = lua.gc_collect();
        }
        run.end();
        let took = elapsed_ms(started);
        if threshold > 0 && took >= threshold {
            warn!(script = sha, ms = took, "slow script finished");
        }
        match outcome {
            Ok(reply) => reply,
            Err(mlua::Error::MemoryError(_)) => Err(memory_error()),
            Err(e) => Err(RespError::other(format!("Error running script {sha}, {e}"))),
        }
    }
}

fn memory_error() -> RespError {
    RespError::other(format!(
        "Error running script: it used more than {} MiB of Lua memory",
        SCRIPT_MEMORY >> 20
    ))
}

/// A Lua array of strings.
fn strings(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// The hook: every [`HOOK_EVERY`] instructions, the clock and the kill
/// flag; once killed, every line, so that `pcall` cannot keep it alive.
fn set_hook(lua: &Lua, run: Arc<RunState>, started: Instant, threshold: u64, every_line: bool) {
    let triggers = match every_line {
        true => HookTriggers::new().every_line(),
        false => HookTriggers::new().every_nth_instruction(HOOK_EVERY),
    };
    let _ = lua.set_global_hook(triggers, move |lua, _| {
        if run.killed() {
            if !every_line {
                warn!("Lua script killed by user with SCRIPT KILL.");
                set_hook(lua, run.clone(), started, threshold, true);
            }
            return Err(mlua::Error::external(Raise::Table(KILLED.into())));
        }
        if threshold > 0
            && !run.timed_out.load(Ordering::Relaxed)
            && elapsed_ms(started) >= threshold
        {
            warn!(
                ms = elapsed_ms(started),
                "Slow script detected: still in execution; SCRIPT KILL stops it"
            );
            run.timed_out.store(true, Ordering::SeqCst);
        }
        Ok(VmState::Continue)
    });
}

const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The `err` text of an error table.
fn error_of(value: &Lua_) -> Option<String> {
    let Lua_::Table(t) = value else {
        return None;
    };
    match t.raw_get::<Lua_>("err") {
        Ok(Lua_::String(s)) => Some(s.to_string_lossy()),
        _ => None,
    }
}

/// `redis.call` / `redis.pcall`: the command run through its table entry
/// on the script's own client; its reply in Lua, or an error table.
fn command(
    lua: &Lua,
    client: &mut Client<'_>,
    run: &RunState,
    read_only: bool,
    resp3: bool,
    args: MultiValue,
) -> mlua::Result<Lua_> {
    let refuse =
        |text: &str| -> mlua::Result<Lua_> { Ok(Lua_::Table(error_table(lua, text.as_bytes())?)) };
    if args.is_empty() {
        return refuse("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in &args {
        match argument(arg) {
            Some(bytes) => argv.push(bytes),
            None => return refuse("Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Some((index, spec)) = COMMANDS.lookup(&argv[0]) else {
        return refuse("Unknown Redis command called from script");
    };
    if !spec.accepts(argv.len()) {
        return refuse("Wrong number of args calling Redis command from script");
    }
    if spec.flags.contains(&Flag::Noscript) || DENIED.contains(&spec.name) {
        return refuse("This Redis command is not allowed from script");
    }
    if read_only && spec.writes() {
        return refuse("Write commands are not allowed from read-only scripts.");
    }
    if client.shared.replication().is_some()
        && matches!(
            spec.name,
            "spop" | "srandmember" | "session.create" | "session.rotate"
        )
    {
        return refuse(
            "This command draws at random, which the nodes of a replication group would not \
             repeat alike; it is not allowed from scripts in a group",
        );
    }
    if spec.writes() {
        run.wrote.store(true, Ordering::SeqCst);
    }
    client.protocol = match resp3 {
        true => Protocol::Resp3,
        false => Protocol::Resp2,
    };
    let reply = (spec.run)(client, Args::new(spec.name, &argv[1..]));
    crate::resp::cmd::monitor::feed_script(client, spec, &argv);
    client.policy.count(Some(index), Outcome::of_resp(&reply));
    Ok(match reply {
        Ok(value) => to_lua(lua, &value, resp3)?,
        Err(e) => Lua_::Table(error_table(lua, format!("-{e}").as_bytes())?),
    })
}

/// The message handler of the script's `xpcall`: the error as a table
/// with the script's source and line where it was raised, as Redis's
/// `__redis__err__handler` makes it.
fn error_handler(lua: &Lua, error: Lua_) -> mlua::Result<Lua_> {
    let table = match &error {
        Lua_::Table(t) => t.clone(),
        Lua_::String(s) => {
            let mut text = b"ERR ".to_vec();
            text.extend_from_slice(&s.as_bytes());
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(&text)?)?;
            t
        }
        Lua_::Error(e) => {
            let text = match (raised(e), e.as_ref()) {
                (Some(Raise::Table(text)), _) => text.clone(),
                (Some(Raise::Plain(text)), _) => format!("ERR {text}"),
                (None, mlua::Error::MemoryError(_)) => memory_error().to_string(),
                (None, other) => format!("ERR {other}"),
            };
            let t = lua.create_table()?;
            t.raw_set("err", text)?;
            t
        }
        other => {
            let text = lua
                .coerce_string(other.clone())?
                .map(|s| s.to_string_lossy())
                .unwrap_or_else(|| format!("{}: {:p}", other.type_name(), other.to_pointer()));
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {text}"))?;
            t
        }
    };
    // The first Lua frame that is not the prelude's: where the script was.
    for level in 1..64 {
        let Some((what, source, line)) = lua.inspect_stack(level, |d| {
            let s = d.source();
            (s.what, s.source.map(|x| x.into_owned()), d.current_line())
        }) else {
            break;
        };
        if matches!(what, "C" | "tail") || source.as_deref() == Some("=[redis]") {
            continue;
        }
        if let Some(source) = source {
            table.raw_set("source", source)?;
        }
        table.raw_set("line", line.map_or(-1, |l| l as i64))?;
        break;
    }
    Ok(Lua_::Table(table))
}

/// The reply to a script that failed: its message, and where.
fn failure(run: &RunState, value: &Lua_, sha: &str) -> RespError {
    let Lua_::Table(t) = value else {
        let text = match value {
            Lua_::String(s) if &*s.as_bytes() == b"not enough memory" => {
                return memory_error();
            }
            Lua_::String(s) => s.to_string_lossy(),
            _ if run.killed() => KILLED.into(),
            _ => "execution failure".into(),
        };
        let text: String = text.chars().take(100).collect();
        return RespError::other(format!("Error running script {sha}, {text}"));
    };
    let message = match t.raw_get::<Lua_>("err") {
        Ok(Lua_::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".into(),
    };
    let source = t.raw_get::<Option<String>>("source").ok().flatten();
    let line = t.raw_get::<Lua_>("line").ok();
    let mut text = message;
    if let (Some(source), Some(line)) = (source, line) {
        let line = match line {
            Lua_::Integer(n) => n.to_string(),
            Lua_::Number(n) => n.to_string(),
            Lua_::String(s) => s.to_string_lossy(),
            _ => String::new(),
        };
        if !line.is_empty() {
            text = format!("{text} script: {sha}, on {source}:{line}.");
        }
    }
    RespError::Coded(text.into())
}

/// A script's shebang (`#!lua flags=...`, Redis 7): whether it declares
/// `no-writes`, and the bytes to skip before compiling (the line, not its
/// line feed).
fn shebang(body: &[u8]) -> Result<(bool, usize), RespError> {
    if !body.starts_with(b"#!") {
        return Ok((false, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err(RespError::other("Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    match parts.next() {
        Some("#!lua") => {}
        Some(engine) => {
            return Err(RespError::other(format!(
                "Unexpected engine in script shebang: {engine}"
            )));
        }
        None => return Err(RespError::other("Invalid engine in script shebang")),
    }
    let mut no_writes = false;
    for part in parts {
        let Some(flags) = part.strip_prefix("flags=") else {
            return Err(RespError::other(format!(
                "Unknown lua shebang option: {part}"
            )));
        };
        for flag in flags.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(RespError::other(format!(
                        "Unexpected flag in script shebang: {other}"
                    )));
                }
            }
        }
    }
    Ok((no_writes, end))
}
