//! One client connection of the native protocol: the handshake, then
//! frames in, replies out, through the loop in `driver.rs` (which gives
//! pipelining and write coalescing).
//!
//! What may run before authentication, the cost of a wrong token and the
//! counting of requests are the connection policy's (`policy.rs`), which
//! the RESP face applies too; here PING and AUTH are the requests allowed
//! in before AUTH.
//!
//! An EVENTS_READ with a timeout that finds no event waits without
//! holding up the connection's thread: the connection parks it
//! ([`Waiting`]), the driver writes the answers before it and waits for
//! the store's next event or the deadline ([`Answer::pushed`]), and the
//! requests after it wait their turn, so answers stay in order.
//!
//! A request that breaks the framing (a length of 0 or above the limit)
//! ends the connection after an error frame, since nothing after it can be
//! trusted. A frame that frames but does not decode (unknown opcode,
//! malformed body) gets an error reply and the connection carries on.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sessiond::Store;
use sessiond_protocol::wire::codec::{self, FrameError, Pieces, ReadTarget};
use sessiond_protocol::wire::handshake::{self, ClientHello, ServerHello};
use sessiond_protocol::wire::{CacheMode, MAX_EVENTS_WAIT, Reply, Request, Response, ServerError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::debug;

use crate::Shared;
use crate::commands;
use crate::driver::{self, Answer, FLUSH_AT, Next, linger};
use crate::near_cache::Registration;
use crate::outcome::Outcome;
use crate::policy::{Attempt, Policy};
use crate::replication::{Op, OpReply, Refusal, Replication};
use crate::stats::op_index;

/// What a connection knows about its client.
struct Client<'a> {
    shared: &'a Shared,
    policy: Policy<'a>,
    /// The rest of a long LIST or KEY_SCAN reply being written in pieces
    /// (`codec::Pieces`), sent before the next request is read.
    pieces: Option<Pieces>,
    /// An EVENTS_READ waiting for an event, answered before the next
    /// request is read.
    waiting: Option<Waiting>,
    /// Set once CACHE_REGISTER made this a near cache's invalidation
    /// connection (`near_cache.rs`): its EVENTS_READs acknowledge.
    cache: Option<Registration>,
}

/// An EVENTS_READ that found nothing after its seq, until its deadline.
struct Waiting {
    after: u64,
    max: u32,
    deadline: tokio::time::Instant,
    /// Its request kind, to count it once answered.
    kind: usize,
}

/// Serves one connection until the client leaves, errs or idles out, or
/// the server shuts down.
pub(crate) async fn serve<S>(
    mut stream: S,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    arrival: crate::Arrival,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !handshake(&mut stream, &shared).await? {
        return Ok(());
    }
    let mut client = Client {
        shared: &shared,
        policy: Policy::new(&shared, &shared.stats.native).of_peer(arrival.peer.ip()),
        pieces: None,
        waiting: None,
        cache: None,
    };
    driver::drive(stream, &mut client, &shared, shutdown, arrival.at, None).await
}

/// Reads the client's hello and answers it. Returns false (after telling
/// the peer why, where it can understand) if the connection must close.
async fn handshake<S>(stream: &mut S, shared: &Shared) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = [0u8; 8];
    match timeout(
        shared.config.handshake_timeout,
        stream.read_exact(&mut hello),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            debug!("no handshake in time");
            return Ok(false);
        }
    }
    if handshake::looks_like_http(&hello) {
        debug!("an HTTP client on the native port");
        stream.write_all(handshake::HTTP_REPLY).await?;
        linger(stream).await;
        return Ok(false);
    }
    let refusal = match ClientHello::decode(&hello) {
        Err(e) => ServerError::BadHandshake(e.to_string()),
        Ok(client) => match handshake::negotiate(client.version) {
            Err(e) => e,
            Ok(version) => {
                let reply = ServerHello {
                    version,
                    auth_required: shared.credentials.current().token.is_some(),
                    max_frame: shared.config.max_frame,
                };
                stream.write_all(&reply.encode()).await?;
                return Ok(true);
            }
        },
    };
    debug!(error = %refusal, "refusing handshake");
    send_error(stream, refusal).await?;
    Ok(false)
}

/// Writes one error frame before or instead of the normal loop, then
/// closes.
pub(crate) async fn send_error<S>(stream: &mut S, error: ServerError) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut frame = BytesMut::new();
    codec::encode_response(&Err(error), &mut frame);
    stream.write_all(&frame).await?;
    linger(stream).await;
    Ok(())
}

impl Answer for Client<'_> {
    /// Answers every complete frame in `input`. A frame that breaks the
    /// framing is answered with an error and closes the connection; before
    /// authentication, so is one over [`PRE_AUTH_MAX_FRAME`].
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Next {
        let start = output.len();
        if self.cache.as_ref().is_some_and(Registration::cut_off) {
            codec::encode_response(&Err(cut_off()), output);
            return Next::Close;
        }
        let mut max_frame = self.shared.config.max_frame;
        if !self.policy.authenticated() {
            max_frame = max_frame.min(PRE_AUTH_MAX_FRAME);
        }
        // A parked EVENTS_READ goes first: answered now if an event came
        // or its time is up, else nothing after it is read yet.
        if let Some(waiting) = self.waiting.take() {
            let response = {
                let _pass = self.shared.gate.command();
                commands::read_events(&self.shared.store, waiting.after, waiting.max)
            };
            if is_empty_events(&response) && tokio::time::Instant::now() < waiting.deadline {
                self.waiting = Some(waiting);
                return Next::Read;
            }
            self.policy
                .count(Some(waiting.kind), Outcome::of_native(&response));
            self.pieces = Pieces::start(response, output);
        }
        // In a replication group, consecutive writes go to the log as one
        // entry; anything else waits for them first.
        let mut pending = Pending::default();
        if self.policy.authenticated() {
            prefetch_reads(&self.shared.store, input);
        }
        let next = loop {
            // A long reply goes on before the next request is read.
            if let Some(pieces) = &mut self.pieces {
                if output.len() >= FLUSH_AT || !pieces.write(output, start + FLUSH_AT) {
                    break Next::Drain;
                }
                self.pieces = None;
            }
            if output.len() - start >= FLUSH_AT {
                self.flush(&mut pending, output).await;
                break Next::More;
            }
            let body = match codec::next_frame(input, max_frame) {
                Ok(Some(body)) => body,
                Ok(None) => {
                    self.flush(&mut pending, output).await;
                    break Next::Read;
                }
                Err(e) => {
                    self.flush(&mut pending, output).await;
                    let error = match e {
                        FrameError::TooLarge { .. } => {
                            ServerError::FrameTooLarge { max: max_frame }
                        }
                        other => ServerError::Malformed(other.to_string()),
                    };
                    debug!(%error, "framing lost");
                    codec::encode_response(&Err(error), output);
                    break Next::Close;
                }
            };
            let (kind, response, close) = match codec::decode_request(&body) {
                Ok(request) => {
                    let kind = op_index(&request);
                    if self.queue(&mut pending, kind, &request, &body) {
                        if pending.ops.len() >= MAX_BATCH {
                            self.flush(&mut pending, output).await;
                        }
                        continue;
                    }
                    self.flush(&mut pending, output).await;
                    if let (Some(cache), Request::EventsRead { after, .. }) =
                        (&self.cache, &request)
                        && !cache.read(*after)
                    {
                        // Cut off: an answer would renew a lease the
                        // server has given up on.
                        codec::encode_response(&Err(cut_off()), output);
                        break Next::Close;
                    }
                    let wait = match request {
                        Request::EventsRead {
                            after,
                            max,
                            timeout,
                        } if !timeout.is_zero() => Some((after, max, timeout)),
                        _ => None,
                    };
                    let (response, close) = self.run(request, body).await;
                    if let Some((after, max, timeout)) = wait
                        && is_empty_events(&response)
                    {
                        self.waiting = Some(Waiting {
                            after,
                            max,
                            deadline: tokio::time::Instant::now() + timeout.min(MAX_EVENTS_WAIT),
                            kind,
                        });
                        break Next::Read;
                    }
                    (Some(kind), response, close)
                }
                Err(error) => {
                    self.flush(&mut pending, output).await;
                    (None, Err(error), false)
                }
            };
            self.policy.count(kind, Outcome::of_native(&response));
            if close {
                codec::encode_response(&response, output);
                break Next::Close;
            }
            self.pieces = Pieces::start(response, output);
        };
        self.policy.report();
        next
    }

    fn answered(&mut self, took: Duration) {
        self.policy.answered(took);
    }

    fn authenticated(&self) -> bool {
        self.policy.authenticated()
    }

    /// A parked EVENTS_READ's event or deadline, or the server cutting
    /// this near cache off.
    async fn pushed(&self) {
        let parked = async {
            match &self.waiting {
                Some(waiting) => {
                    let wake = &self.shared.event_wake;
                    wake.after(waiting.after, Some(waiting.deadline)).await;
                }
                None => std::future::pending().await,
            }
        };
        match &self.cache {
            Some(cache) => tokio::select! {
                () = parked => {}
                () = cache.until_cut_off() => {}
            },
            None => parked.await,
        }
    }

    /// A parked EVENTS_READ is no idle connection, nor is a near cache's.
    fn waits_for_pushes(&self) -> bool {
        self.waiting.is_some() || self.cache.is_some()
    }
}

/// Whether a response is EVENTS with none: a read to wait on.
/// Reads looked at ahead of a batch: about as many cache misses as a core
/// keeps in flight.
const PREFETCH_AHEAD: usize = 16;

/// Prefetches the records that the GETs and KEY_GETs at the front of
/// `input` will read, when there are two or more: a pipelined batch then
/// waits for memory once rather than once a request. Measured with
/// `sessiond-bench --workload get --pipeline 16`: server CPU per request
/// 1.11 µs to 0.75 (docs/benchmarks.md, "Prefetching a batch"). A single
/// read gains nothing (its miss comes at once either way), so it is left
/// alone.
fn prefetch_reads(store: &Store, input: &[u8]) {
    let mut reads = codec::peek_reads(input, PREFETCH_AHEAD);
    let (Some(first), Some(second)) = (reads.next(), reads.next()) else {
        return;
    };
    for read in [first, second].into_iter().chain(reads) {
        match read {
            ReadTarget::Session(id) => store.prefetch_session(&id),
            ReadTarget::Key(key) => store.prefetch_key(key),
        }
    }
}

fn is_empty_events(response: &Response) -> bool {
    matches!(response, Ok(Reply::Events(events)) if events.is_empty())
}

/// Largest frame before authentication: AUTH's (a token is at most 1024
/// bytes) and PING's fit many times over, so a client without the token
/// cannot make the server hold a large request.
pub(crate) const PRE_AUTH_MAX_FRAME: u32 = 16 * 1024;

/// Most writes proposed as one entry.
const MAX_BATCH: usize = 256;

/// Writes read from the input, waiting to be proposed together.
#[derive(Default)]
struct Pending {
    ops: Vec<Op>,
    /// Each op's request kind, for counting.
    kinds: Vec<usize>,
}

impl Client<'_> {
    /// Queues `request` if it is a write this node will propose: in a
    /// group and authenticated; anything else takes `run`.
    fn queue(&self, pending: &mut Pending, kind: usize, request: &Request, body: &Bytes) -> bool {
        if self.shared.replication().is_none() || !self.policy.authenticated() || !is_write(request)
        {
            return false;
        }
        pending.ops.push(write_op(request, body.clone()));
        pending.kinds.push(kind);
        true
    }

    /// Proposes what is queued and writes the answers, in order.
    async fn flush(&mut self, pending: &mut Pending, output: &mut BytesMut) {
        let Some(replication) = self.shared.replication() else {
            return;
        };
        if pending.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut pending.ops);
        let kinds = std::mem::take(&mut pending.kinds);
        let responses = propose(self.shared, replication, ops).await;
        for (kind, response) in kinds.into_iter().zip(responses) {
            self.policy.count(Some(kind), Outcome::of_native(&response));
            codec::encode_response(&response, output);
        }
    }

    /// The connection policy's gate, then the command layer. Also says
    /// whether the connection must close after the response.
    async fn run(&mut self, request: Request, body: Bytes) -> (Response, bool) {
        let before_auth = || matches!(request, Request::Ping | Request::Auth { .. });
        if !self.policy.admits(before_auth) {
            return (Err(ServerError::AuthRequired), false);
        }
        match request {
            Request::Auth { token } => {
                let response = match self.policy.authenticate(&token) {
                    Attempt::NoToken | Attempt::Accepted => Ok(Reply::Done),
                    Attempt::Refused => Err(ServerError::AuthFailed),
                };
                self.policy.pause().await;
                (response, self.policy.must_close())
            }
            Request::CacheRegister { mode } => (self.register_cache(mode), false),
            // It would wait for this very connection's next read, which
            // cannot come before its answer.
            request if self.cache.is_some() && invalidates(&request) => (
                Err(ServerError::Unavailable(
                    "a near cache's own connection reads events; send writes on another".into(),
                )),
                false,
            ),
            request => {
                let shared = self.shared;
                let response = match shared.replication() {
                    Some(replication) => replicated(shared, replication, request, body).await,
                    None => standalone(shared, request).await,
                };
                (response, false)
            }
        }
    }

    /// CACHE_REGISTER: this connection becomes (or, registered already,
    /// changes the mode of) a near cache's.
    fn register_cache(&mut self, mode: CacheMode) -> Response {
        let shared = self.shared;
        if shared.replication().is_some() {
            return Err(ServerError::Unavailable(
                "near caches need a standalone server".into(),
            ));
        }
        if !shared.store.events_enabled() {
            return Err(ServerError::Unavailable(
                "near caches need the session event log (--events-max is 0)".into(),
            ));
        }
        let head = match &self.cache {
            // What it has acknowledged: taken as its `after`, it skips
            // nothing.
            Some(cache) => {
                cache.set_mode(mode);
                cache.acked()
            }
            None => {
                let (cache, head) = shared.near_caches.register(mode, &shared.store);
                self.cache = Some(cache);
                head
            }
        };
        Ok(Reply::Cache {
            head,
            bound: shared.near_caches.bound(),
        })
    }
}

/// Why a near cache's connection closes: the server cut it off.
fn cut_off() -> ServerError {
    ServerError::Unavailable(
        "this near cache did not acknowledge an invalidation in time; drop every entry and \
         register again"
            .into(),
    )
}

/// A request on a standalone server: the command layer inside the
/// store-wide gate, as on the Redis face (`gate.rs`); then, for a write
/// that ends, rotates or changes a session while strict near caches are
/// connected, the wait until each has dropped it (`near_cache.rs`),
/// outside the gate.
async fn standalone(shared: &Shared, request: Request) -> Response {
    let caches = &shared.near_caches;
    // Noted before it runs, whether or not a cache is registered now: one
    // may register while it runs (`NearCaches::settle_since`).
    let before = invalidates(&request).then(|| {
        (
            shared.store.events_head(),
            matches!(request, Request::Create(_)),
        )
    });
    let mut response = {
        let _pass = shared.gate.command();
        commands::execute(&shared.store, &shared.stats, request)
    };
    if let Ok(Reply::Stats(stats)) = &mut response {
        let figures = caches.figures();
        stats.extend(figures.map(|(name, value)| (name.to_owned(), value)));
    }
    // A write that failed may still have ended sessions (a CREATE that
    // evicted one, then found its id taken): whatever it logged counts.
    if let Some((before, creation)) = before {
        let creation = creation && response.is_ok();
        caches.settle_since(&shared.store, before, creation).await;
    }
    response
}

/// Whether a request may leave a near cache holding what is no longer
/// so: a session ended, rotated away or changed (a failed one too, if it
/// ended a session before it failed).
fn invalidates(request: &Request) -> bool {
    matches!(
        request,
        Request::Create(_)
            | Request::Update { .. }
            | Request::Delete { .. }
            | Request::DeleteNoted { .. }
            | Request::Rotate { .. }
            | Request::DeleteOwner { .. }
            | Request::DeleteOwnerNoted { .. }
    )
}

/// Whether a request changes the store (and so goes through the log).
fn is_write(request: &Request) -> bool {
    matches!(
        request,
        Request::Create(_)
            | Request::Update { .. }
            | Request::Touch { .. }
            | Request::Delete { .. }
            | Request::DeleteNoted { .. }
            | Request::Rotate { .. }
            | Request::DeleteOwner { .. }
            | Request::DeleteOwnerNoted { .. }
            | Request::KeySet { .. }
            | Request::KeyDelete { .. }
            | Request::KeyExpire { .. }
            | Request::KeyIncr { .. }
            | Request::KeyIncrTtl { .. }
    )
}

/// The log's form of a write: the frame's body, and a drawn id for a
/// CREATE without one or a ROTATE (fixed here, on the leader, so every
/// node draws the same).
fn write_op(request: &Request, body: Bytes) -> Op {
    let draws = matches!(request, Request::Create(new) if new.id.is_none())
        || matches!(request, Request::Rotate { .. });
    let ids = if draws {
        vec![*sessiond_protocol::SessionId::random().as_bytes()]
    } else {
        Vec::new()
    };
    Op::Native { body, ids }
}

/// Proposes `ops` as one entry: one response per op, in order (the same
/// refusal for each if the group did not take them).
async fn propose(shared: &crate::Shared, replication: &Replication, ops: Vec<Op>) -> Vec<Response> {
    let count = ops.len();
    match replication.propose(shared, ops).await {
        Ok(replies) if replies.len() == count => replies
            .into_iter()
            .map(|reply| match reply {
                OpReply::Native(response) => response,
                OpReply::Resp(_) | OpReply::Transaction(_) => Err(ServerError::Unavailable(
                    "a RESP answer to a native write".into(),
                )),
            })
            .collect(),
        outcome => {
            let error = match outcome {
                Err(refusal) => refused(refusal),
                Ok(_) => ServerError::Unavailable(
                    "the log applied the writes but returned no answers".into(),
                ),
            };
            (0..count).map(|_| Err(error.clone())).collect()
        }
    }
}

/// A refusal in the native protocol's words.
fn refused(refusal: Refusal) -> ServerError {
    match refusal {
        Refusal::NotLeader { native, .. } => ServerError::NotLeader {
            leader: native.map(|a| a.to_string()),
        },
        Refusal::Unavailable(why) => ServerError::Unavailable(why),
    }
}

/// A request on a member of a replication group that was not queued: a
/// write from an unauthenticated client has been refused before this; a
/// read waits until this node may answer it alone; membership changes go
/// to openraft.
async fn replicated(
    shared: &crate::Shared,
    replication: &Replication,
    request: Request,
    body: Bytes,
) -> Response {
    match &request {
        Request::NodeAdd { id, raft_addr } => replication
            .add_node(*id, raft_addr.clone())
            .await
            .map(|()| Reply::Done)
            .map_err(refused),
        Request::NodeRemove { id } => replication
            .remove_node(*id)
            .await
            .map(|()| Reply::Done)
            .map_err(refused),
        Request::Get { .. }
        | Request::List { .. }
        | Request::Count { .. }
        | Request::KeyGet { .. }
        | Request::KeyTtl { .. }
        | Request::KeyScan { .. }
        | Request::EventsRead { .. } => {
            replication.readable().await.map_err(refused)?;
            // A transaction applied from the log holds this off (`gate.rs`).
            let _pass = shared.gate.command();
            commands::execute(&shared.store, &shared.stats, request)
        }
        write if is_write(write) => {
            let op = write_op(write, body);
            let mut responses = propose(shared, replication, vec![op]).await;
            responses.pop().expect("one answer per op")
        }
        _ => commands::execute(&shared.store, &shared.stats, request),
    }
}
