//! The Redis-protocol (RESP) face of the daemon.
//!
//! Existing Redis clients connect here unchanged. A connection parses RESP
//! requests (`parse.rs`), translates each command into the same
//! [`Request`] the native protocol uses, runs it through the one command
//! layer (`commands.rs` of the server), and writes the reply in RESP2 or
//! RESP3 (`reply.rs`). No command logic lives here twice: what is
//! Redis-specific is only the spelling of requests, replies and errors.
//!
//! Connection commands live here; key and set commands in `keys.rs`, which
//! translates them into the command layer's [`Command`]s; the SESSION.*
//! commands in `sessions.rs`, which translates them into native
//! [`Request`]s; INFO and COMMAND in `introspect.rs`. Other commands get
//! Redis's own `unknown command` error.

mod errors;
mod introspect;
mod keys;
mod parse;
mod reply;
mod sessions;

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sessiond_protocol::StoreError;
use sessiond_protocol::wire::ServerError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::debug;

use crate::Shared;
use crate::auth::{MAX_FAILURES, failure_delay};
use crate::commands::{self, Command, Output};
use crate::driver::{self, Answer, FLUSH_AT};
use errors::{NO_SUCH_KEY, WRONGTYPE, not_an_integer, wrong_arity, wrongpass};
use parse::Parser;
use reply::{Protocol, Value};
use sessiond_protocol::decimal::Decimal;

/// Largest argument accepted, as Redis's default `proto-max-bulk-len`
/// (512 MiB) but bounded by what the store could hold anyway.
fn max_bulk(shared: &Shared) -> usize {
    shared.store.config().max_data_bytes.max(64 * 1024)
}

/// What a RESP connection knows about its client.
struct Client<'a> {
    shared: &'a Shared,
    authenticated: bool,
    failures: u32,
    protocol: Protocol,
    name: Option<Bytes>,
    id: u64,
}

/// What to do after a reply.
#[derive(PartialEq)]
enum Next {
    Continue,
    Close,
}

/// Serves one RESP connection until the client quits or leaves, the
/// framing breaks, it idles out, or the server shuts down.
pub(crate) async fn serve<S>(
    stream: S,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    id: u64,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Client {
        shared: &shared,
        authenticated: shared.config.auth_token.is_none(),
        failures: 0,
        protocol: Protocol::Resp2,
        name: None,
        id,
    };
    driver::drive(stream, &mut client, &shared, shutdown).await
}

impl Answer for Client<'_> {
    /// Answers every complete request in `input`; a request that breaks
    /// the framing gets Redis's protocol error and closes the connection.
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> driver::Next {
        let shared = self.shared;
        // One parser per batch read: its buffers serve every command in it.
        let mut parser = Parser::default();
        loop {
            if output.len() >= FLUSH_AT {
                return driver::Next::More;
            }
            match parser.next(input, max_bulk(shared)) {
                Ok(None) => return driver::Next::Read,
                Ok(Some([])) => {}
                Ok(Some(args)) => {
                    let (value, next) = run(args, self).await;
                    value.encode(self.protocol, output);
                    if next == Next::Close {
                        return driver::Next::Close;
                    }
                }
                Err(e) => {
                    debug!(error = %e, "RESP framing lost");
                    Value::err(e).encode(self.protocol, output);
                    return driver::Next::Close;
                }
            }
        }
    }
}

/// Longest command name (`sessiond.delowner` and its kin fit easily).
const MAX_NAME: usize = 32;

/// A command's name in lower case, without allocating for every command;
/// a name too long or not UTF-8 matches no command (and is reported as
/// spelled, by `unknown_command`).
fn lower_name<'a>(command: &[u8], buf: &'a mut [u8; MAX_NAME]) -> &'a str {
    let Some(buf) = buf.get_mut(..command.len()) else {
        return "";
    };
    for (lower, byte) in buf.iter_mut().zip(command) {
        *lower = byte.to_ascii_lowercase();
    }
    std::str::from_utf8(buf).unwrap_or("")
}

/// Runs one command.
async fn run(request: &[Bytes], client: &mut Client<'_>) -> (Value, Next) {
    let command = &request[0];
    let mut lowered = [0u8; MAX_NAME];
    let name = lower_name(command, &mut lowered);
    let args = &request[1..];
    match name {
        "auth" => return authenticate(args, client).await,
        "hello" => return hello(args, client).await,
        "quit" => return (Value::Simple("OK"), Next::Close),
        "reset" => return (reset(args, client), Next::Continue),
        _ => {}
    }
    if !client.authenticated {
        return (
            Value::Error("NOAUTH Authentication required.".into()),
            Next::Continue,
        );
    }
    let value = dispatch(name, command, args, client).unwrap_or_else(|error| error);
    (value, Next::Continue)
}

/// Runs an engine-backed or connection command; `Err` carries an error
/// reply, so that `?` reads naturally.
fn dispatch(
    name: &str,
    command: &[u8],
    args: &[Bytes],
    client: &mut Client<'_>,
) -> Result<Value, Value> {
    let shared = client.shared;
    let arity = |ok: bool| if ok { Ok(()) } else { Err(wrong_arity(name)) };
    match name {
        "ping" => match args {
            [] => Ok(Value::Simple("PONG")),
            [message] => Ok(Value::Bulk(message.to_vec())),
            _ => Err(wrong_arity(name)),
        },
        "echo" => {
            arity(args.len() == 1)?;
            Ok(Value::Bulk(args[0].to_vec()))
        }
        "select" => {
            arity(args.len() == 1)?;
            match integer(&args[0])? {
                0 => Ok(Value::Simple("OK")),
                _ => Err(Value::err("DB index is out of range")),
            }
        }
        "client" => client_command(args, client),
        "info" => introspect::info(args, shared),
        "command" => introspect::command(args),
        _ => match with_arity(name, args, shared, keys::arity, keys::run)
            .or_else(|| with_arity(name, args, shared, sessions::arity, sessions::run))
        {
            Some(outcome) => outcome,
            // Redis quotes an unknown command as it was spelled.
            None => Err(unknown_command(&String::from_utf8_lossy(command), args)),
        },
    }
}

/// `RESET`: back to a fresh connection's state (RESP2, no name, and
/// unauthenticated if a token is set). Allowed before authentication, as
/// in Redis.
fn reset(args: &[Bytes], client: &mut Client<'_>) -> Value {
    let shared = client.shared;
    if !args.is_empty() {
        return wrong_arity("reset");
    }
    client.protocol = Protocol::Resp2;
    client.name = None;
    client.authenticated = shared.config.auth_token.is_none();
    Value::Simple("RESET")
}

/// `CLIENT SETNAME | GETNAME | ID | SETINFO`.
fn client_command(args: &[Bytes], client: &mut Client<'_>) -> Result<Value, Value> {
    let sub = args
        .first()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    match (sub.as_deref(), &args[1.min(args.len())..]) {
        (Some("setname"), [name]) => {
            if name.iter().any(|b| *b <= b' ' || *b > b'~') {
                return Err(Value::err(
                    "Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            client.name = (!name.is_empty()).then(|| name.clone());
            Ok(Value::Simple("OK"))
        }
        (Some("getname"), []) => Ok(client
            .name
            .as_ref()
            .map_or(Value::Null, |n| Value::Bulk(n.to_vec()))),
        (Some("id"), []) => Ok(Value::Integer(client.id as i64)),
        (Some("setinfo"), [_, _]) => Ok(Value::Simple("OK")),
        (Some(sub), _) => Err(Value::err(format!(
            "unknown subcommand or wrong number of arguments for '{sub}'. Try CLIENT HELP."
        ))),
        (None, _) => Err(wrong_arity("client")),
    }
}

/// `AUTH password` or `AUTH default password`.
async fn authenticate(args: &[Bytes], client: &mut Client<'_>) -> (Value, Next) {
    let password = match args {
        [password] => password,
        [user, password] if &user[..] == b"default" => password,
        [_, _] => return (wrongpass(), Next::Continue),
        _ => return (wrong_arity("auth"), Next::Continue),
    };
    check_password(password, client).await
}

async fn check_password(password: &[u8], client: &mut Client<'_>) -> (Value, Next) {
    let shared = client.shared;
    let Some(secret) = &shared.config.auth_token else {
        return (
            Value::err(
                "AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            ),
            Next::Continue,
        );
    };
    if secret.matches(password) {
        client.authenticated = true;
        client.failures = 0;
        return (Value::Simple("OK"), Next::Continue);
    }
    client.failures += 1;
    crate::stats::ServerStats::bump(&shared.stats.auth_failures);
    tokio::time::sleep(failure_delay(client.failures)).await;
    let next = if client.failures >= MAX_FAILURES {
        Next::Close
    } else {
        Next::Continue
    };
    (wrongpass(), next)
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
async fn hello(args: &[Bytes], client: &mut Client<'_>) -> (Value, Next) {
    let mut rest = args.iter();
    let mut protocol = client.protocol;
    if let Some(version) = rest.next() {
        protocol = match &version[..] {
            b"2" => Protocol::Resp2,
            b"3" => Protocol::Resp3,
            _ => {
                return (
                    Value::Error("NOPROTO unsupported protocol version".into()),
                    Next::Continue,
                );
            }
        };
    }
    while let Some(option) = rest.next() {
        match String::from_utf8_lossy(option)
            .to_ascii_uppercase()
            .as_str()
        {
            "AUTH" => {
                let (Some(user), Some(password)) = (rest.next(), rest.next()) else {
                    return (
                        Value::err("Syntax error in HELLO option 'auth'"),
                        Next::Continue,
                    );
                };
                if &user[..] != b"default" {
                    return (wrongpass(), Next::Continue);
                }
                let (reply, next) = check_password(password, client).await;
                if matches!(reply, Value::Error(_)) {
                    return (reply, next);
                }
            }
            "SETNAME" => match rest.next() {
                Some(name) => client.name = Some(name.clone()),
                None => {
                    return (
                        Value::err("Syntax error in HELLO option 'setname'"),
                        Next::Continue,
                    );
                }
            },
            other => {
                return (
                    Value::err(format!(
                        "Syntax error in HELLO option '{}'",
                        other.to_lowercase()
                    )),
                    Next::Continue,
                );
            }
        }
    }
    if !client.authenticated {
        return (
            Value::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()),
            Next::Continue,
        );
    }
    client.protocol = protocol;
    let version = if protocol == Protocol::Resp3 { 3 } else { 2 };
    let info = Value::Map(vec![
        (Value::text("server"), Value::text("redis")),
        (Value::text("version"), Value::text("7.0.15")),
        (Value::text("proto"), Value::Integer(version)),
        (Value::text("id"), Value::Integer(client.id as i64)),
        (Value::text("mode"), Value::text("standalone")),
        (Value::text("role"), Value::text("master")),
        (Value::text("modules"), Value::Array(Vec::new())),
    ]);
    (info, Next::Continue)
}

/// Runs a command through the shared command layer, turning its errors
/// into Redis's error replies.
fn run_command(shared: &Shared, command: Command) -> Result<Output, Value> {
    commands::run(&shared.store, &shared.stats, command).map_err(|e| store_error(&e))
}

/// A server error in Redis's words where Redis has them.
fn store_error(error: &ServerError) -> Value {
    match error {
        ServerError::Store(StoreError::NotAnInteger) => not_an_integer(),
        ServerError::Store(StoreError::Overflow) => {
            Value::err("increment or decrement would overflow")
        }
        ServerError::Store(StoreError::OutOfMemory { .. }) => {
            Value::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
        }
        ServerError::Store(StoreError::WrongType) => Value::Error(WRONGTYPE.into()),
        // Redis's prefix for "writes refused until the disk is fixed".
        ServerError::Store(StoreError::Persistence(why)) => Value::Error(format!(
            "MISCONF Errors writing to the append-only log: {why}"
        )),
        // The only RESP commands that can miss are key commands (RENAME).
        ServerError::Store(StoreError::NotFound) => Value::err(NO_SUCH_KEY),
        other => Value::err(other),
    }
}

/// An integer argument, as Redis's `string2ll` reads it.
fn integer(arg: &[u8]) -> Result<i64, Value> {
    Decimal::parse(arg).ok_or_else(not_an_integer)
}

/// Redis's `unknown command` error, quoting up to the first arguments.
fn unknown_command(name: &str, args: &[Bytes]) -> Value {
    let mut text = format!("unknown command '{name}', with args beginning with: ");
    for arg in args.iter().take(16) {
        let arg = String::from_utf8_lossy(arg);
        let arg: String = arg.chars().take(128).collect();
        text.push_str(&format!("'{arg}' "));
    }
    Value::err(text)
}

/// Runs `name` with `run` if `arity` knows it (Redis-style: the count
/// includes the name, a negative one is a minimum), answering Redis's
/// arity error when the argument count does not fit; `None` if `arity`
/// does not know the command.
fn with_arity(
    name: &str,
    args: &[Bytes],
    shared: &Shared,
    arity: fn(&str) -> Option<i32>,
    run: fn(&str, &[Bytes], &Shared) -> Result<Value, Value>,
) -> Option<Result<Value, Value>> {
    let wanted = arity(name)?;
    let given = args.len() as i32 + 1;
    let fits = if wanted < 0 {
        given >= -wanted
    } else {
        given == wanted
    };
    if !fits {
        return Some(Err(wrong_arity(name)));
    }
    Some(run(name, args, shared))
}
