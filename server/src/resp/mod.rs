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
mod blocking;
mod client;
mod cmd;
mod errors;
mod parse;
#[cfg(test)]
mod readme;
mod replicated;
mod reply;
pub(crate) mod scripting;
mod spec;
mod table;
mod transaction;
mod watches;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tracing::debug;

use crate::Shared;
use crate::driver::{self, Answer, FLUSH_AT};
use crate::outcome::Outcome;
use crate::policy::Policy;
use crate::stats::ServerStats;
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
pub(crate) fn max_bulk(shared: &Shared) -> usize {
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
    let registered = shared
        .clients
        .register(id, arrival.peer, arrival.local, arrival.fd);
    let mut client = Client {
        policy: Policy::new(&shared, &shared.stats.resp).of_peer(arrival.peer.ip()),
        id,
        tx: transaction::Transaction::new(shared.watches.clone(), id),
        entry: Some(registered.entry.clone()),
        ..Client::internal(&shared)
    };
    let entry = Some(&*registered.entry);
    driver::drive(stream, &mut client, &shared, shutdown, arrival.at, entry).await
}

impl Answer for Client<'_> {
    /// Answers every complete request in `input`; a request that breaks
    /// the framing gets Redis's protocol error and closes the connection.
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> driver::Next {
        let start = output.len();
        let max_bulk = max_bulk(self.shared);
        // A monitor's lines go out first, as they arrived.
        if let Some(tap) = &self.monitor {
            if cmd::monitor::write_lines(tap, output, FLUSH_AT).is_err() {
                debug!("closing a monitor that does not read its lines");
                ServerStats::bump(&self.shared.stats.closed_output_limit);
                output.clear();
                return driver::Next::Close;
            }
            if !tap.mailbox().is_empty() {
                return driver::Next::Drain;
            }
        }
        // Messages for a subscriber go out first, as they arrived (and
        // before the parser is taken out below).
        if let Some(subscriber) = &self.subscriber {
            let written = cmd::pubsub::write_messages(subscriber, self.protocol, output, FLUSH_AT);
            if written.is_err() {
                // Closed without ceremony, as at the output cap: nothing
                // more is written to a client that does not read.
                debug!("closing a subscriber that does not read its messages");
                ServerStats::bump(&self.shared.stats.closed_output_limit);
                output.clear();
                return driver::Next::Close;
            }
            // More waits: once the socket has taken these, as a large
            // reply's pieces are paced (the rest waits in the mailbox,
            // within its cap).
            if !subscriber.mailbox().is_empty() {
                return driver::Next::Drain;
            }
        }
        // A parked XREAD BLOCK answers before anything else is read.
        if self.blocked.is_some() {
            match blocking::retry(self) {
                Some(reply) => reply.encode(self.protocol, output),
                None => return driver::Next::Read,
            }
        }
        // The connection's parser, which remembers where it stopped in an
        // incomplete request; taken out while commands borrow the client.
        let mut parser = std::mem::take(&mut self.parser);
        // In a replication group, consecutive writes go to the log as one
        // entry (`replicated.rs`); anything else waits for them first.
        let mut pending = replicated::Pending::default();
        // Where the next command's time starts (see `execute`).
        let mut mark = Instant::now();
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
                    // Queued writes are answered together, so a connection
                    // whose answers CLIENT REPLY drops, or a pause in force,
                    // sends each on its own way below.
                    let plain = !self.reply_off && !self.skip_next;
                    if plain
                        && self.shared.clients.pause.mode().is_none()
                        && replicated::queue(self, &mut pending, name, args)
                    {
                        if pending.is_full() {
                            replicated::flush(self, &mut pending, output).await;
                        }
                        continue;
                    }
                    if !pending.is_empty() {
                        replicated::flush(self, &mut pending, output).await;
                        mark = Instant::now();
                    }
                    // Armed by the command before (CLIENT REPLY SKIP).
                    let skipping = std::mem::take(&mut self.skip_next);
                    let reply = execute(self, name, args, &mut mark).await;
                    // A wrong password's delay, before its answer.
                    if self.policy.pause().await {
                        mark = Instant::now();
                    }
                    let reply = reply.unwrap_or_else(Value::from);
                    // CLIENT REPLY OFF or SKIP: the answer is dropped.
                    if !(self.reply_off || skipping) {
                        let before = output.len();
                        self.streaming = Streaming::start(reply, self.protocol, output);
                        // A large answer's encoding is not the next
                        // command's time.
                        if output.len() - before > LARGE_REPLY || self.streaming.is_some() {
                            mark = Instant::now();
                        }
                        if self.streaming.is_some() {
                            continue;
                        }
                    }
                    if self.quit || self.policy.must_close() || self.killed() {
                        break driver::Next::Close;
                    }
                    // A parked read: nothing more is read until it answers.
                    if self.blocked.is_some() {
                        break driver::Next::Read;
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

    fn waits_for_pushes(&self) -> bool {
        self.subscriber.is_some() || self.monitor.is_some() || self.blocked.is_some()
    }

    async fn pushed(&self) {
        let messages = async {
            match &self.subscriber {
                Some(subscriber) => subscriber.mailbox().arrived().await,
                None => std::future::pending().await,
            }
        };
        let lines = async {
            match &self.monitor {
                Some(tap) => tap.mailbox().arrived().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = messages => {}
            () = lines => {}
            () = blocking::woken(self) => {}
        }
    }
}

impl Client<'_> {
    /// Whether CLIENT KILL named this connection.
    fn killed(&self) -> bool {
        self.entry.as_ref().is_some_and(|e| e.killed())
    }
}

/// Bytes of answer whose encoding is worth a clock read of its own.
const LARGE_REPLY: usize = 16 * 1024;

/// Runs one command and counts it with its outcome and its time.
///
/// A command costs one clock read: its time runs from `mark` (the end of
/// the command before it in the batch, or the batch's start, or the end
/// of whatever waited in between: a pause, a wrong password's delay, a
/// replicated write, a large answer's encoding) to the end of its
/// handler, so it covers the command's parsing, its handler, and the
/// encoding of the small answer before it. A clock read costs 20 ns
/// through the vDSO on bare metal (some 70 ns on the virtual machine this
/// was measured on), against the microsecond or more a command costs.
/// INFO commandstats' `usec`, the slow log and the latency monitor all
/// read that one measure; only a command over a threshold takes a lock
/// (`slowlog.rs`).
async fn execute(
    client: &mut Client<'_>,
    name: &Bytes,
    args: &[Bytes],
    mark: &mut Instant,
) -> Reply {
    let found = COMMANDS.lookup_hinted(name, client.last_found);
    if let Some((index, _)) = found {
        client.last_found = index;
    }
    if let Some((_, spec)) = found
        && client.policy.authenticated()
        // CLIENT PAUSE holds the command here, before its time runs.
        && client.shared.clients.pause.wait(spec.writes()).await
    {
        *mark = Instant::now();
    }
    if let (Some(entry), Some((index, _))) = (&client.entry, found) {
        entry.started(index, *mark);
    }
    // With strict near caches connected, a write that ends, rotates or
    // changes a session answers once they have dropped it (`near_cache.rs`).
    // Noted before it runs, whether or not a cache is registered now: one
    // may register while it runs (`NearCaches::settle_since`).
    let before = found
        .filter(|(index, spec)| may_log_events(*index, spec))
        .map(|(index, _)| (client.shared.store.events_head(), index));
    let (reply, queued, ran) = match dispatch(client, found, name, args).await {
        Dispatched::Ran(reply) => (reply, false, true),
        Dispatched::Queued(reply) => (reply, true, false),
        Dispatched::Refused(reply) => (reply, false, false),
    };
    // What a failed command logged counts too (a script that deleted a
    // session, then raised an error).
    if let Some((before, index)) = before
        && ran
    {
        static CREATE: std::sync::LazyLock<Option<usize>> =
            std::sync::LazyLock::new(|| COMMANDS.lookup(b"session.create").map(|(i, _)| i));
        let creation = reply.is_ok() && Some(index) == *CREATE;
        let caches = &client.shared.near_caches;
        caches
            .settle_since(&client.shared.store, before, creation)
            .await;
    }
    let end = Instant::now();
    let took = end.saturating_duration_since(*mark);
    *mark = end;
    // A command queued by MULTI is counted when EXEC runs it.
    if !queued || reply.is_err() {
        let kind = found.map(|(index, _)| index);
        client.policy.count(kind, Outcome::of_resp(&reply));
    }
    if let Some((index, spec)) = found {
        client.policy.time(index, took);
        if let Ok(value) = &reply {
            let (hits, misses) = lookups(index, value);
            client.policy.lookups(hits, misses);
        }
        record_slow(client, spec, name, args, took);
        if ran {
            cmd::monitor::feed(client, spec, name, args);
        }
    }
    reply
}

/// Whether a command can log session events: the writes, and EXEC and
/// the scripts, which run writes of their own.
fn may_log_events(index: usize, spec: &spec::Spec) -> bool {
    static RUNNERS: std::sync::LazyLock<[Option<usize>; 5]> = std::sync::LazyLock::new(|| {
        ["exec", "eval", "evalsha", "eval_ro", "evalsha_ro"]
            .map(|name| COMMANDS.lookup(name.as_bytes()).map(|(i, _)| i))
    });
    spec.writes() || RUNNERS.contains(&Some(index))
}

/// Key reads that found their key and that did not, for INFO's
/// `keyspace_hits` / `keyspace_misses`: the reads of a single value
/// (GET, GETDEL, GETEX, SESSION.GET: null is a miss) and MGET's items.
fn lookups(index: usize, value: &Value) -> (u64, u64) {
    static READS: std::sync::LazyLock<[Option<usize>; 5]> = std::sync::LazyLock::new(|| {
        ["get", "getdel", "getex", "session.get", "mget"]
            .map(|name| COMMANDS.lookup(name.as_bytes()).map(|(i, _)| i))
    });
    let Some(at) = READS.iter().position(|r| *r == Some(index)) else {
        return (0, 0);
    };
    match (at, value) {
        (4, Value::Array(items)) => {
            let misses = items.iter().filter(|v| **v == Value::Null).count() as u64;
            (items.len() as u64 - misses, misses)
        }
        (4, _) => (0, 0),
        (_, Value::Null) => (0, 1),
        _ => (1, 0),
    }
}

/// The slow log and the latency monitor, for a command that took `took`.
/// Commands that carry passwords (AUTH, HELLO: those allowed before
/// authentication) are never logged.
fn record_slow(
    client: &Client<'_>,
    spec: &spec::Spec,
    name: &Bytes,
    args: &[Bytes],
    took: Duration,
) {
    let shared = client.shared;
    if let Some(threshold) = shared.live.slowlog_threshold()
        && took >= threshold
        && !spec.before_auth()
    {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(name.clone());
        argv.extend(args.iter().take(64).cloned());
        if args.len() > 64 {
            // Only the count of the rest matters (`slowlog.rs` cuts at 32).
            argv.extend(std::iter::repeat_n(Bytes::new(), args.len() - 64));
        }
        let peer = client
            .entry
            .as_ref()
            .map_or(String::new(), |e| e.addr.to_string());
        shared.slowlog.record(
            shared.live.slowlog_max_len(),
            client.store.now_ms() / 1000,
            took,
            &argv,
            peer,
            client.name.clone().unwrap_or_default(),
        );
    }
    if let Some(threshold) = shared.live.latency_threshold()
        && took >= threshold
    {
        let event = match spec.fast() {
            true => "fast-command",
            false => "command",
        };
        let ms = took.as_millis() as u64;
        shared
            .latency_events
            .record(event, client.store.now_ms() / 1000, ms);
    }
}

/// What became of a command.
enum Dispatched {
    Ran(Reply),
    /// Queued by MULTI (QUEUED, or the queue's bound).
    Queued(Reply),
    /// Refused before it ran (MONITOR does not show it).
    Refused(Reply),
}

/// The policy's gate, the arity check, subscriber mode, MULTI's queue,
/// the handler (in the store-wide gate, `gate.rs`).
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
    if client.subscriber.is_some()
        && client.protocol == Protocol::Resp2
        && !cmd::pubsub::allowed_while_subscribed(spec.name)
    {
        return refused(
            client,
            found,
            cmd::pubsub::subscriber_mode_refusal(spec.name),
        );
    }
    // A script running too long holds the gate: Redis's BUSY, except for
    // the commands allowed then (`cmd/scripting.rs`).
    let scripts = &client.shared.scripts;
    if scripts.run_state().busy() && !cmd::scripting::allowed_while_busy(spec, args) {
        return refused(client, found, RespError::Coded(scripting::BUSY.into()));
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
        return Dispatched::Queued(client.tx.queue(index, spec, name, args, max));
    }
    // A script's command is shown to monitors as it starts.
    cmd::monitor::feed_start(client, spec, name, args);
    // XREAD reads this node's own event log, in a group too, and may park
    // the connection until events come (`blocking.rs`).
    match spec.name {
        "xread" => {
            let read = cmd::streams::read_request(client, Args::new(spec.name, args));
            let read = read.map(blocking::Parked::Read);
            return Dispatched::Ran(read.and_then(|read| blocking::read(client, read)));
        }
        "xreadgroup" => {
            let read = cmd::stream_groups::group_read(client, Args::new(spec.name, args));
            let read = read.map(blocking::Parked::Group);
            return Dispatched::Ran(read.and_then(|read| blocking::read(client, read)));
        }
        _ => {}
    }
    if let Some(replication) = client.shared.replication() {
        return Dispatched::Ran(replicated::run(client, replication, spec, name, args).await);
    }
    if cmd::scripting::is_kill(spec, args) {
        return Dispatched::Ran(scripts.kill());
    }
    if cmd::scripting::is_script(spec) {
        // The scripting thread passes the gate exclusively itself.
        return Dispatched::Ran(cmd::scripting::run_async(client, spec, args).await);
    }
    // EXEC passes the gate exclusively itself. A command waiting for the
    // gate while a script runs too long hears BUSY, or runs beside it if
    // it is allowed to.
    let _pass = match spec.name {
        "exec" => None,
        _ => match client
            .shared
            .gate
            .command_unless(|| scripts.run_state().busy())
        {
            Some(pass) => Some(pass),
            None if cmd::scripting::allowed_while_busy(spec, args) => None,
            None => return refused(client, found, RespError::Coded(scripting::BUSY.into())),
        },
    };
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
        return Dispatched::Refused(Err(error));
    }
    Dispatched::Refused(Err(error))
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
    let mut client = Client::internal(shared);
    (spec.run)(&mut client, Args::new(spec.name, args))
}
