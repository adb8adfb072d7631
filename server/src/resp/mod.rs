//! The Redis-protocol (RESP) face of the daemon.
//!
//! Existing Redis clients connect here unchanged. A connection parses RESP
//! requests (`parse.rs`), looks each command up in the one command table
//! (`table.rs`, whose types are in `spec.rs`), applies the connection
//! policy shared with the native face (`policy.rs` of the server: the
//! pre-auth gate, the cost of wrong passwords, request counting), checks
//! the arity, and runs the command's handler (`cmd/`), which reads its
//! arguments through an [`Args`](args::Args) cursor, calls the engine's
//! `Store` directly and returns a typed reply (`reply.rs`) or error
//! (`errors.rs`), written in RESP2 or RESP3.
//!
//! Both faces are thin over one command layer, the engine's typed API:
//! the native face translates its decoded requests (`commands.rs`), this
//! one its Redis commands, and neither goes through the other. What is
//! Redis-specific here is only the spelling of requests, replies and
//! errors.
//!
//! The order of checks is the one this face has always had: an
//! unauthenticated client hears NOAUTH for anything but the commands
//! flagged `no_auth`, known or not (nothing about the command set leaks
//! before AUTH); then an unknown command gets Redis's `unknown command`
//! error, then a wrong argument count its arity error.

mod args;
mod client;
mod cmd;
mod errors;
mod parse;
mod replicated;
mod reply;
mod spec;
mod table;
mod transaction;
mod watches;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::debug;

use crate::Shared;
use crate::driver::{self, Answer, FLUSH_AT};
use crate::outcome::Outcome;
use crate::policy::Policy;
use args::Args;
use client::Client;
pub(crate) use errors::RespError;
#[cfg(feature = "fuzzing")]
pub(crate) use parse::Bounds;
pub(crate) use parse::Parser;
use reply::{Protocol, Streaming, Value};
pub(crate) use spec::Reply;
pub(crate) use spec::Reply as RespReply;
use table::COMMANDS;
pub(crate) use watches::Watches;

/// The face's command names in table order, which is the order of their
/// STATS counters (`resp_get`, …).
pub(crate) fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|spec| spec.name)
}

/// Largest argument accepted, as Redis's default `proto-max-bulk-len`
/// (512 MiB) but bounded by what the store could hold anyway.
fn max_bulk(shared: &Shared) -> usize {
    shared.store.config().max_data_bytes.max(64 * 1024)
}

/// Serves one RESP connection until the client quits or leaves, the
/// framing breaks, it idles out, or the server shuts down.
pub(crate) async fn serve<S>(
    stream: S,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    id: u64,
    arrival: crate::Arrival,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Client {
        shared: &shared,
        store: &shared.store,
        policy: Policy::new(&shared, &shared.stats.resp).of_peer(arrival.peer.ip()),
        protocol: Protocol::Resp2,
        name: None,
        id,
        quit: false,
        stale_reads: false,
        parser: Parser::default(),
        streaming: None,
        tx: transaction::Transaction::new(shared.watches.clone(), id),
    };
    driver::drive(stream, &mut client, &shared, shutdown, arrival.at).await
}

impl Answer for Client<'_> {
    /// Answers every complete request in `input`; a request that breaks
    /// the framing gets Redis's protocol error and closes the connection.
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> driver::Next {
        let start = output.len();
        let max_bulk = max_bulk(self.shared);
        // The connection's parser, which remembers where it stopped in an
        // incomplete request; taken out while commands borrow the client.
        let mut parser = std::mem::take(&mut self.parser);
        // In a replication group, consecutive writes go to the log as one
        // entry (`replicated.rs`); anything else waits for them first.
        let mut pending = replicated::Pending::default();
        let next = loop {
            // A large reply goes on before the next request is read.
            if let Some(streaming) = &mut self.streaming {
                if output.len() >= FLUSH_AT || !streaming.write(output, start + FLUSH_AT) {
                    break driver::Next::Drain;
                }
                self.streaming = None;
                if self.quit || self.policy.must_close() {
                    break driver::Next::Close;
                }
            }
            if output.len() - start >= FLUSH_AT {
                replicated::flush(self, &mut pending, output).await;
                break driver::Next::More;
            }
            let bounds = parse::Bounds {
                max_bulk,
                authenticated: self.policy.authenticated(),
            };
            match parser.next(input, bounds) {
                Ok(None) => {
                    replicated::flush(self, &mut pending, output).await;
                    break driver::Next::Read;
                }
                Ok(Some([])) => {}
                Ok(Some([name, args @ ..])) => {
                    if replicated::queue(self, &mut pending, name, args) {
                        if pending.is_full() {
                            replicated::flush(self, &mut pending, output).await;
                        }
                        continue;
                    }
                    replicated::flush(self, &mut pending, output).await;
                    let reply = execute(self, name, args).await;
                    // A wrong password's delay, before its answer.
                    self.policy.pause().await;
                    let reply = reply.unwrap_or_else(Value::from);
                    self.streaming = Streaming::start(reply, self.protocol, output);
                    if self.streaming.is_some() {
                        continue;
                    }
                    if self.quit || self.policy.must_close() {
                        break driver::Next::Close;
                    }
                }
                Err(e) => {
                    replicated::flush(self, &mut pending, output).await;
                    debug!(error = %e, "RESP framing lost");
                    Value::err(e).encode(self.protocol, output);
                    break driver::Next::Close;
                }
            }
        };
        self.parser = parser;
        self.policy.report();
        next
    }

    fn answered(&mut self, took: Duration) {
        self.policy.answered(took);
    }

    fn authenticated(&self) -> bool {
        self.policy.authenticated()
    }
}

/// Runs one command and counts it with its outcome; a command queued by
/// MULTI is counted when EXEC runs it.
async fn execute(client: &mut Client<'_>, name: &Bytes, args: &[Bytes]) -> Reply {
    let found = COMMANDS.lookup(name);
    let (reply, queued) = match dispatch(client, found, name, args).await {
        Dispatched::Ran(reply) => (reply, false),
        Dispatched::Queued(reply) => (reply, true),
    };
    if !queued || reply.is_err() {
        let kind = found.map(|(index, _)| index);
        client.policy.count(kind, Outcome::of_resp(&reply));
    }
    reply
}

/// What became of a command.
enum Dispatched {
    Ran(Reply),
    /// Queued by MULTI (QUEUED, or the queue's bound).
    Queued(Reply),
}

/// The policy's gate, the arity check, MULTI's queue, the handler (in the
/// store-wide gate, `gate.rs`).
async fn dispatch(
    client: &mut Client<'_>,
    found: Option<(usize, &'static spec::Spec)>,
    name: &Bytes,
    args: &[Bytes],
) -> Dispatched {
    let before_auth = || found.is_some_and(|(_, spec)| spec.before_auth());
    if !client.policy.admits(before_auth) {
        return refused(client, found, RespError::NoAuth);
    }
    let Some((index, spec)) = found else {
        return refused(client, found, RespError::unknown_command(name, args));
    };
    if !spec.accepts(args.len() + 1) {
        return refused(client, found, RespError::Arity(spec.name));
    }
    if client.tx.queues(spec) {
        if client.shared.replication().is_some() && !replicated::queueable(spec) {
            let error = RespError::other(format!(
                "'{}' cannot be queued in a transaction in a replication group: only data \
                 commands, PING, ECHO and UNWATCH are",
                spec.name
            ));
            return refused(client, found, error);
        }
        let max = client.shared.config.max_input_buffer;
        return Dispatched::Queued(client.tx.queue(index, spec, args, max));
    }
    if let Some(replication) = client.shared.replication() {
        return Dispatched::Ran(replicated::run(client, replication, spec, name, args).await);
    }
    // EXEC passes the gate exclusively itself.
    let _pass = (spec.name != "exec").then(|| client.shared.gate.command());
    Dispatched::Ran((spec.run)(client, Args::new(spec.name, args)))
}

/// A command refused before it ran: inside MULTI this dooms the
/// transaction, and a refused EXEC discards it at once (Redis's
/// `rejectCommand`, EXECABORT with the reason).
fn refused(
    client: &mut Client<'_>,
    found: Option<(usize, &'static spec::Spec)>,
    error: RespError,
) -> Dispatched {
    client.tx.flag();
    if found.is_some_and(|(_, spec)| spec.name == "exec") {
        client.tx.discard();
        // Redis quotes the reason without its generic code.
        let text = error.to_string();
        let reason = text.strip_prefix("ERR ").unwrap_or(&text);
        let error = RespError::Coded(
            format!("EXECABORT Transaction discarded because of: {reason}").into(),
        );
        return Dispatched::Ran(Err(error));
    }
    Dispatched::Ran(Err(error))
}

/// Runs a write that the replicated log delivers, on any node: the
/// command's handler on a connection of its own, as the leader's client
/// sent it (`args`: the name first).
pub(crate) fn apply_write(shared: &Shared, args: &[Bytes]) -> Reply {
    let Some((name, args)) = args.split_first() else {
        return Err(RespError::Other("empty command in the log".into()));
    };
    let Some((_, spec)) = COMMANDS.lookup(name) else {
        return Err(RespError::unknown_command(name, args));
    };
    let mut client = Client {
        shared,
        store: &shared.store,
        policy: Policy::new(shared, &shared.stats.resp),
        protocol: Protocol::Resp2,
        name: None,
        id: 0,
        quit: false,
        stale_reads: false,
        parser: Parser::default(),
        streaming: None,
        tx: transaction::Transaction::new(shared.watches.clone(), 0),
    };
    (spec.run)(&mut client, Args::new(spec.name, args))
}
