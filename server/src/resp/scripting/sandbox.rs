//! A fresh Lua state as Redis 7.0 sets one up: the base, table, string
//! and math libraries (no os, io, package or debug; no `print`, `dofile`,
//! `loadfile`), Redis's `pcall`, `math.random` and `redis` table, and the
//! globals and library tables made read-only (`prelude.lua`).
//!
//! Redis's own Lua has read-only tables built into its interpreter; stock
//! Lua 5.1 has not, so each protected table is an empty proxy whose
//! metatable reads through to the real one and refuses writes, with a
//! locked metatable and a `rawset` that refuses proxies. One visible
//! difference: `pairs` over `_G`, `string`, `math`, `table`, `coroutine`
//! or `redis` sees nothing. The `cjson`, `bit`, `struct` and `cmsgpack`
//! libraries Redis bundles are C code outside Lua itself and are not here.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Lua, LuaOptions, MultiValue, StdLib, Table, Value as Lua_};
use tracing::{debug, info, warn};

use super::convert::error_table;
use super::rand48::Rand48;
use crate::resp::table::COMMANDS;

const PRELUDE: &str = include_str!("prelude.lua");

/// The version scripts see (`redis.REDIS_VERSION`), the one INFO gives.
const VERSION: &str = "7.0.15";
const VERSION_NUM: i64 = (7 << 16) | 15;

/// A new state: the Lua state, its real globals (where KEYS and ARGV
/// go), the protected ones scripts run in, and the real `redis` table
/// (each run sets its `call`, `pcall` and `setresp`).
pub(super) struct Sandbox {
    pub lua: Lua,
    pub real: Table,
    pub globals: Table,
    pub redis: Table,
    /// `math.random`'s generator.
    pub rand: Rc<RefCell<Rand48>>,
}

pub(super) fn build() -> mlua::Result<Sandbox> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let real = lua.globals();
    let imp = lua.create_table()?;
    let rand = Rc::new(RefCell::new(Rand48::default()));
    let draw = rand.clone();
    let seeded = rand.clone();
    imp.raw_set(
        "random",
        lua.create_function(move |lua, args: MultiValue| random(lua, &draw, args))?,
    )?;
    imp.raw_set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let seed = int_arg(lua, &args, 0, "randomseed")?;
            seeded.borrow_mut().seed(seed);
            Ok(())
        })?,
    )?;
    imp.raw_set("sha1hex", lua.create_function(sha1hex)?)?;
    imp.raw_set("error_reply", lua.create_function(error_reply)?)?;
    imp.raw_set("log", lua.create_function(log)?)?;
    imp.raw_set("set_repl", lua.create_function(set_repl)?)?;
    imp.raw_set("acl_check_cmd", lua.create_function(acl_check_cmd)?)?;
    imp.raw_set(
        "error_text",
        lua.create_function(|_, e: Lua_| Ok(error_text(&e)))?,
    )?;
    // Redis's read-only tables refuse `rawset` and `setmetatable` too.
    let protected = lua.create_table()?;
    imp.raw_set("protected", protected.clone())?;
    for name in ["rawset", "setmetatable"] {
        let original: mlua::Function = real.raw_get(name)?;
        let protected = protected.clone();
        let guarded = lua.create_function(move |_, args: MultiValue| {
            if let Some(Lua_::Table(t)) = args.front()
                && protected.raw_get::<bool>(t.clone()).unwrap_or(false)
            {
                let text = "Attempt to modify a readonly table".to_owned();
                return Err(mlua::Error::external(Raise::Plain(text)));
            }
            original.call::<MultiValue>(args)
        })?;
        imp.raw_set(name, guarded)?;
    }
    let globals: Table = lua.load(PRELUDE).set_name("=[redis]").call((
        real.clone(),
        imp.clone(),
        VERSION,
        VERSION_NUM,
    ))?;
    lua.set_globals(globals.clone())?;
    let redis = imp.raw_get("redis")?;
    Ok(Sandbox {
        lua,
        real,
        globals,
        redis,
        rand,
    })
}

/// An error a Rust function raises into the script, as Redis raises it.
#[derive(Debug, thiserror::Error)]
pub(super) enum Raise {
    /// An error table's message, code first (`redis.call`'s errors, the
    /// `redis` API's, SCRIPT KILL's).
    #[error("{0}")]
    Table(String),
    /// A plain Lua error, with its position (`math.random`'s).
    #[error("{0}")]
    Plain(String),
}

/// An error table's worth of error, raised: `text` as Redis reads error
/// lines (`convert::error_line`).
pub(super) fn raise(text: &[u8]) -> mlua::Error {
    let line = String::from_utf8_lossy(&super::convert::error_line(text)).into_owned();
    mlua::Error::external(Raise::Table(line))
}

/// The [`Raise`] inside an error that crossed Lua, if it is one.
pub(super) fn raised(error: &mlua::Error) -> Option<&Raise> {
    match error {
        mlua::Error::ExternalError(e) => e.downcast_ref::<Raise>(),
        mlua::Error::CallbackError { cause, .. } => raised(cause),
        mlua::Error::WithContext { cause, .. } => raised(cause),
        _ => None,
    }
}

/// What Redis's `pcall` returns for an error raised from Rust: its text.
fn error_text(value: &Lua_) -> Option<String> {
    let Lua_::Error(e) = value else {
        return None;
    };
    match raised(e)? {
        Raise::Table(text) | Raise::Plain(text) => Some(text.clone()),
    }
}

/// `file:line: ` of the Lua code calling the running Rust function, as
/// `luaL_error` prefixes its messages.
fn position(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let s = d.source();
        match (s.what, s.short_src, d.current_line()) {
            ("C", ..) | (_, None, _) => String::new(),
            (_, Some(src), Some(line)) => format!("{src}:{line}: "),
            (_, Some(src), None) => format!("{src}: "),
        }
    })
    .unwrap_or_default()
}

fn plain(lua: &Lua, message: &str) -> mlua::Error {
    mlua::Error::external(Raise::Plain(format!("{}{message}", position(lua))))
}

/// `luaL_checkint`: argument `at` as a C int.
fn int_arg(lua: &Lua, args: &MultiValue, at: usize, name: &str) -> mlua::Result<i32> {
    let value = args.get(at).cloned();
    let number = match &value {
        Some(Lua_::Integer(n)) => Some(*n as f64),
        Some(Lua_::Number(n)) => Some(*n),
        Some(v @ Lua_::String(_)) => lua.coerce_number(v.clone())?,
        _ => None,
    };
    match number {
        Some(n) => Ok(n as i32),
        None => {
            let got = value.as_ref().map_or("no value", |v| v.type_name());
            Err(plain(
                lua,
                &format!(
                    "bad argument #{} to '{name}' (number expected, got {got})",
                    at + 1
                ),
            ))
        }
    }
}

/// Redis's `math.random`, over its own generator (`rand48.rs`).
fn random(lua: &Lua, rand: &RefCell<Rand48>, args: MultiValue) -> mlua::Result<f64> {
    let r = rand.borrow_mut().unit();
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = int_arg(lua, &args, 0, "random")?;
            if u < 1 {
                return Err(plain(
                    lua,
                    "bad argument #1 to 'random' (interval is empty)",
                ));
            }
            Ok((r * f64::from(u)).floor() + 1.0)
        }
        2 => {
            let l = int_arg(lua, &args, 0, "random")?;
            let u = int_arg(lua, &args, 1, "random")?;
            if l > u {
                return Err(plain(
                    lua,
                    "bad argument #2 to 'random' (interval is empty)",
                ));
            }
            Ok((r * (f64::from(u) - f64::from(l) + 1.0)).floor() + f64::from(l))
        }
        _ => Err(plain(lua, "wrong number of arguments")),
    }
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<Lua_> {
    if args.len() != 1 {
        return Err(raise(b"wrong number of arguments"));
    }
    let bytes = match &args[0] {
        Lua_::String(s) => s.as_bytes().to_vec(),
        n @ (Lua_::Integer(_) | Lua_::Number(_)) => lua
            .coerce_string(n.clone())?
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(Lua_::String(lua.create_string(super::sha1_hex(&bytes))?))
}

fn error_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let text = match (args.len(), args.front()) {
        (1, Some(Lua_::String(s))) => s.as_bytes().to_vec(),
        _ => return error_table(lua, b"wrong number or type of arguments"),
    };
    let line = match text.first() {
        Some(b'-') => text,
        _ => [b"-".as_slice(), &text].concat(),
    };
    error_table(lua, &line)
}

fn number(value: &Lua_) -> Option<f64> {
    match value {
        Lua_::Integer(n) => Some(*n as f64),
        Lua_::Number(n) => Some(*n),
        Lua_::String(s) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()),
        _ => None,
    }
}

fn set_repl(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(raise(b"redis.set_repl() requires two arguments."));
    }
    let flags = number(&args[0]).unwrap_or(0.0) as i64;
    if flags & !3 != 0 {
        return Err(raise(
            b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    // Every node re-runs the whole script: there is nothing to propagate.
    Ok(())
}

fn log(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(raise(b"redis.log() requires two arguments or more."));
    }
    let Some(level) = number(&args[0]) else {
        return Err(raise(b"First argument must be a number (log level)."));
    };
    let level = level as i64;
    if !(0..=3).contains(&level) {
        return Err(raise(b"Invalid debug level."));
    }
    let mut text = Vec::new();
    for (i, arg) in args.iter().skip(1).enumerate() {
        if let Some(s) = lua.coerce_string(arg.clone())? {
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(&s.as_bytes());
        }
    }
    let text = String::from_utf8_lossy(&text);
    match level {
        0 | 1 => debug!(target: "sessiond::lua", "{text}"),
        2 => info!(target: "sessiond::lua", "{text}"),
        _ => warn!(target: "sessiond::lua", "{text}"),
    }
    Ok(())
}

fn acl_check_cmd(_: &Lua, args: MultiValue) -> mlua::Result<bool> {
    if args.is_empty() {
        return Err(raise(
            b"Please specify at least one argument for this redis lib call",
        ));
    }
    let known =
        super::convert::argument(&args[0]).is_some_and(|name| COMMANDS.lookup(&name).is_some());
    match known {
        // One user, allowed everything.
        true => Ok(true),
        false => Err(raise(b"Invalid command passed to redis.acl_check_cmd()")),
    }
}
