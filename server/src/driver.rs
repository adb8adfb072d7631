//! The loop every connection runs, whatever protocol it speaks, and the
//! bounds it keeps every client within.
//!
//! Pipelining and write coalescing come from its shape: read whatever the
//! socket has, let the protocol answer every complete request in the
//! buffer, write all the answers at once, and wait for more. Under load a
//! read brings many requests and a write carries many replies, so there is
//! no system call per small reply; a request-response client still gets
//! each reply at once.
//!
//! Answers are produced in pieces of about [`FLUSH_AT`] bytes, each
//! written as far as the socket takes it before the next is made. The
//! loop keeps reading and answering while answers wait to be written, as
//! Redis does, so a client that sends a long pipeline before reading any
//! reply is served rather than deadlocked against its own writes. What
//! bounds a client is:
//!
//! - **input**: bytes received and not yet answered (an incomplete request,
//!   or requests waiting behind unwritten answers) beyond
//!   `max_input_buffer` close the connection;
//! - **output**: answers waiting for the client to read them beyond
//!   `max_output_buffer` close it (Redis's `client-output-buffer-limit`:
//!   a client that does not read is disconnected, not buffered for);
//! - **write timeout**: answers that wait `write_timeout` without a byte
//!   of them being taken close it;
//! - **before authentication** (a token is set and the client has not
//!   given it): both buffers are held to [`PRE_AUTH_BUFFER`], the protocol
//!   admits only small requests (its own rule), and the client has until
//!   `handshake_timeout` after it connected (TLS and the native hello
//!   included) to authenticate, or it is closed. A client that loses its
//!   authentication (RESP's RESET) gets a new deadline from then;
//! - **idle timeout**: no request for `idle_timeout` while nothing waits
//!   to be written closes it.
//!
//! A bound checked between pieces can be passed by one piece: the output
//! may exceed its cap by one reply, the input by one read. A large
//! aggregate reply (KEYS, SMEMBERS, SESSION.LIST) is encoded in pieces,
//! each only once the answers waiting have been taken down to
//! [`FLUSH_AT`] ([`Next::Drain`]), so a client that does not read it holds
//! a piece of it until the write timeout, never the whole. What every connection holds
//! in its buffers is reported as `connection_buffer_bytes` (`Held`).
//!
//! Under `fsync always`, answers to a batch that wrote wait until the
//! writes are on disk: one wait per batch, not per request, and every
//! connection's batch shares the flusher's next fsync (group commit). If
//! the disk fails instead, the connection closes without those answers,
//! so nothing is acknowledged that is not durable; the client's next
//! writes are refused with a clear error until the disk recovers.
//!
//! Latency is measured once per batch, not per request: from the read
//! that brought the input to the write of its answers, which is what each
//! request in the batch waited (`latency.rs`).
//!
//! The connection ends when the client leaves (once everything it sent
//! has been answered and the answers written: a client may shut down its
//! sending side and still read), when the protocol says so
//! (after a lingering close, so the last answer is not lost to a TCP
//! reset), at a bound above, or at shutdown once everything received has
//! been answered.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::debug;

use crate::Shared;
use crate::clients::ClientEntry;
use crate::spin;
use crate::stats::ServerStats;
use sessiond::Durability;

/// The idle timeout of `timeout 0` (never): far enough, and safe to add
/// to an `Instant`.
const NEVER_IDLE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Bytes of answers after which a protocol stops to let them be written.
pub(crate) const FLUSH_AT: usize = 64 * 1024;

/// Most bytes either buffer may hold before the client authenticates,
/// whatever the configured caps (Redis closes an unauthenticated client
/// whose query buffer passes 1 MB).
pub(crate) const PRE_AUTH_BUFFER: usize = 1024 * 1024;

/// Spare room a read is given in the input buffer: the most one read
/// takes in.
const READ_AT_LEAST: usize = 16 * 1024;

/// A buffer this much larger than a read is given back when empty, so a
/// connection that once held a large request or reply does not keep its
/// memory while idle.
const SHRINK_ABOVE: usize = 4 * FLUSH_AT;

/// What a protocol wants after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Every complete request is answered: read more.
    Read,
    /// Answers grew by [`FLUSH_AT`] with complete requests (or the rest
    /// of a reply) left: write what the socket takes, then answer again.
    More,
    /// The rest of a large reply is due, to be made once the answers
    /// waiting are below [`FLUSH_AT`]: the client's reading paces it, so
    /// a reply is never encoded faster than it is taken.
    Drain,
    /// Write the answers, then close.
    Close,
}

/// A protocol spoken over a connection.
pub(crate) trait Answer {
    /// Answers the complete requests at the front of `input` (leaving an
    /// incomplete one there), appending to `output`, until `input` holds no
    /// complete request or this call has appended [`FLUSH_AT`] bytes.
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Next;

    /// The answers given since the last call were written `took` after
    /// their input was read: the protocol records its latency.
    fn answered(&mut self, took: Duration);

    /// Whether the client has authenticated, or needs not (no token).
    fn authenticated(&self) -> bool;

    /// Resolves when something waits to be sent unasked (a pub/sub
    /// message), which the next [`Answer::answer`] writes first. Never,
    /// for a protocol without pushes. Awaited only while
    /// [`Answer::waits_for_pushes`] (which a connection that may receive
    /// pushes must then say), so the others pay nothing for it per wait.
    async fn pushed(&self) {
        std::future::pending::<()>().await;
    }

    /// Whether the connection waits for pushes, not requests (a RESP
    /// subscriber), and so never idles out (Redis exempts pub/sub clients
    /// from its `timeout` too).
    fn waits_for_pushes(&self) -> bool {
        false
    }
}

/// Why the loop closed a connection at one of its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Input,
    Output,
    WriteTimeout,
    AuthTimeout,
}

/// Runs a connection until it ends (see the module documentation);
/// `accepted` is when its socket was accepted, from which the deadline to
/// authenticate runs.
pub(crate) async fn drive<S, A>(
    mut stream: S,
    protocol: &mut A,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
    accepted: Instant,
    entry: Option<&ClientEntry>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Answer,
{
    let config = &shared.config;
    // The idle timeout in force (CONFIG SET timeout), read once per
    // batch; none is as good as a year.
    let idle_now = || shared.live.idle_timeout().unwrap_or(NEVER_IDLE);
    let mut idle = idle_now();
    let durability = shared.durability.as_ref();
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    let mut held = Held::new(&shared.stats.connection_buffer_bytes);
    let mut last_active = Instant::now();
    let mut auth_deadline =
        (!protocol.authenticated()).then(|| accepted + config.handshake_timeout);
    // When waiting answers last had a byte taken (`None`: none wait).
    let mut write_since: Option<Instant> = None;
    // The client has finished sending (it may still read its answers).
    let mut eof = false;
    // One timer per connection, re-armed only when it fires (or when a
    // nearer deadline appears, which is rare): arming a timer on every
    // read would cost a timer-wheel insert and removal per request.
    let mut timer =
        Deadline::new(auth_deadline.map_or(last_active + idle, |d| d.min(last_active + idle)));
    let mut stopping = Stopping::new(&mut shutdown);
    let result: io::Result<Option<Bound>> = async {
        loop {
            idle = idle_now();
            let logged = durability.map(Durability::position);
            let next = protocol.answer(&mut input, &mut output).await;
            if let (Some(durability), Some(before)) = (durability, logged) {
                let after = durability.position();
                if after != before
                    && let Err(e) = durability.synced(after).await
                {
                    debug!("closing without answers that are not durable: {e}");
                    return Err(io::Error::other(e));
                }
            }
            if next == Next::Close {
                let n = output.len() as u64;
                shared
                    .stats
                    .net_output_bytes
                    .fetch_add(n, Ordering::Relaxed);
                match timeout(config.write_timeout, stream.write_all(&output)).await {
                    Ok(result) => result?,
                    Err(_) => return Ok(Some(Bound::WriteTimeout)),
                }
                protocol.answered(last_active.elapsed());
                linger(&mut stream).await;
                return Ok(None);
            }
            if !output.is_empty() {
                let waiting = output.len();
                write_now(&mut stream, &mut output)?;
                if output.len() < waiting {
                    let n = (waiting - output.len()) as u64;
                    shared
                        .stats
                        .net_output_bytes
                        .fetch_add(n, Ordering::Relaxed);
                    // The batch's one clock read beyond the read's own.
                    protocol.answered(last_active.elapsed());
                    write_since = (!output.is_empty()).then(Instant::now);
                } else if write_since.is_none() {
                    write_since = Some(Instant::now());
                }
            }
            let authenticated = protocol.authenticated();
            match (authenticated, auth_deadline) {
                (true, Some(_)) => auth_deadline = None,
                (false, None) => auth_deadline = Some(Instant::now() + config.handshake_timeout),
                _ => {}
            }
            let (max_input, max_output) = match authenticated {
                true => (config.max_input_buffer, config.max_output_buffer),
                false => (
                    config.max_input_buffer.min(PRE_AUTH_BUFFER),
                    config.max_output_buffer.min(PRE_AUTH_BUFFER),
                ),
            };
            if output.len() > max_output {
                return Ok(Some(Bound::Output));
            }
            match next {
                Next::More => continue,
                Next::Drain if output.len() < FLUSH_AT => continue,
                _ => {}
            }
            if input.len() > max_input {
                return Ok(Some(Bound::Input));
            }
            if eof && output.is_empty() {
                return Ok(None);
            }
            shrink(&mut input);
            shrink(&mut output);
            held.set(input.capacity() + output.capacity());
            let soonest = nearest(
                last_active + idle,
                write_since,
                config.write_timeout,
                auth_deadline,
            );
            if soonest < timer.deadline() {
                timer.reset(soonest);
            }
            let event = wait(
                &mut stream,
                &mut input,
                &mut output,
                !eof,
                &*protocol,
                &mut stopping,
                &mut timer,
                entry,
            )
            .await;
            match event {
                // Everything received has been answered and written: a
                // clean close. (A change seen later still counts.)
                Event::Shutdown => return Ok(None),
                // A message for a subscriber: answer (which writes it) again.
                Event::Pushed => {}
                Event::Timer => {
                    let now = Instant::now();
                    if auth_deadline.is_some_and(|d| now >= d) {
                        return Ok(Some(Bound::AuthTimeout));
                    }
                    if write_since.is_some_and(|since| now >= since + config.write_timeout) {
                        return Ok(Some(Bound::WriteTimeout));
                    }
                    if protocol.waits_for_pushes() {
                        last_active = now;
                    }
                    if write_since.is_none() && now >= last_active + idle {
                        debug!("closing idle connection");
                        return Ok(None);
                    }
                    let soonest = nearest(
                        last_active + idle,
                        write_since,
                        config.write_timeout,
                        auth_deadline,
                    );
                    timer.reset(soonest);
                }
                Event::Woken => {
                    if entry.is_some_and(ClientEntry::killed) {
                        debug!("closing a connection CLIENT KILL named");
                        return Ok(None);
                    }
                }
                Event::Io(event) => match event? {
                    Io::Read(0) => eof = true,
                    Io::Read(n) => {
                        spin::read_one();
                        last_active = Instant::now();
                        shared
                            .stats
                            .net_input_bytes
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Io::Wrote(n) => {
                        shared
                            .stats
                            .net_output_bytes
                            .fetch_add(n as u64, Ordering::Relaxed);
                        protocol.answered(last_active.elapsed());
                        write_since = (!output.is_empty()).then(Instant::now);
                    }
                },
            }
        }
    }
    .await;
    drop(held);
    match result {
        Ok(Some(bound)) => {
            // Closed without ceremony: a client that does not read would
            // hold up a TLS close_notify as it holds up its answers.
            debug!(?bound, "closing a connection at its bound");
            ServerStats::bump(match bound {
                Bound::Input => &shared.stats.closed_input_limit,
                Bound::Output => &shared.stats.closed_output_limit,
                Bound::WriteTimeout => &shared.stats.closed_write_timeout,
                Bound::AuthTimeout => &shared.stats.closed_auth_timeout,
            });
            Ok(())
        }
        result => {
            let _ = timeout(config.write_timeout, stream.shutdown()).await;
            result.map(|_| ())
        }
    }
}

/// The nearest of the deadlines in force: idleness (only while nothing
/// waits to be written), the write timeout (while something does), and
/// authentication.
fn nearest(
    idle: Instant,
    write_since: Option<Instant>,
    write_timeout: Duration,
    auth: Option<Instant>,
) -> Instant {
    let io = write_since.map_or(idle, |since| since + write_timeout);
    auth.map_or(io, |auth| auth.min(io))
}

/// What woke a waiting connection.
enum Event {
    /// The server is shutting down (asked only while no answer waits).
    Shutdown,
    /// A push waits (a subscriber's message).
    Pushed,
    /// The connection's deadline passed.
    Timer,
    /// CLIENT KILL, or a changed setting.
    Woken,
    /// The socket took some answers or brought input.
    Io(io::Result<Io>),
}

/// Waits for the first of the events a connection waits on, polling
/// each as little as it can: a connection of one request per batch waits
/// once per request, and what this costs is paid per request.
///
/// It is one hand-written poll rather than a `select!` over fresh
/// futures, measured with callgrind on `redis-benchmark -P 1` (see
/// docs/benchmarks.md): the shutdown wait lives as long as the connection
/// and is polled only once the shutdown has been sent (a relaxed version
/// check), the timer only after a reset or once it has fired, CLIENT
/// KILL's slot is a waker store, and no random branch order is drawn.
#[allow(clippy::too_many_arguments)]
async fn wait<S, A>(
    stream: &mut S,
    input: &mut BytesMut,
    output: &mut BytesMut,
    read: bool,
    protocol: &A,
    stopping: &mut Stopping<'_>,
    timer: &mut Deadline,
    entry: Option<&ClientEntry>,
) -> Event
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Answer,
{
    if read && input.capacity() - input.len() < READ_AT_LEAST {
        input.reserve(READ_AT_LEAST);
    }
    let pushes = protocol.waits_for_pushes();
    let pushed = protocol.pushed();
    tokio::pin!(pushed);
    let can_stop = output.is_empty();
    poll_fn(|cx| {
        if let Some(entry) = entry
            && entry.poll_woken(cx).is_ready()
        {
            return Poll::Ready(Event::Woken);
        }
        if can_stop && stopping.poll(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Event::Timer);
        }
        if pushes && pushed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Pushed);
        }
        poll_io(&mut *stream, cx, input, output, read).map(Event::Io)
    })
    .await
}

/// The server's shutdown signal, as one connection waits for it: a wait
/// made once, registered at its first poll and polled again only once
/// the signal has been sent (or its sender dropped), which a copy of the
/// receiver tells with one load.
struct Stopping<'a> {
    seen: watch::Receiver<bool>,
    changed: Pin<Box<dyn Future<Output = Result<(), watch::error::RecvError>> + Send + 'a>>,
    registered: bool,
}

impl<'a> Stopping<'a> {
    fn new(shutdown: &'a mut watch::Receiver<bool>) -> Stopping<'a> {
        Stopping {
            seen: shutdown.clone(),
            changed: Box::pin(shutdown.changed()),
            registered: false,
        }
    }

    /// Ready once the shutdown was sent (or can no longer be).
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.registered && matches!(self.seen.has_changed(), Ok(false)) {
            return Poll::Pending;
        }
        self.registered = true;
        self.changed.as_mut().poll(cx).map(|_| ())
    }
}

/// The connection's one timer, polled only when a poll can tell
/// something: after a reset (which the next poll registers) or once it
/// has fired. In between its waker stays registered with it.
struct Deadline {
    sleep: Pin<Box<tokio::time::Sleep>>,
    unpolled: bool,
}

impl Deadline {
    fn new(at: Instant) -> Deadline {
        Deadline {
            sleep: Box::pin(sleep_until(at)),
            unpolled: true,
        }
    }

    fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    fn reset(&mut self, at: Instant) {
        self.sleep.as_mut().reset(at);
        self.unpolled = true;
    }

    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if !self.unpolled && !self.sleep.is_elapsed() {
            return Poll::Pending;
        }
        self.unpolled = false;
        self.sleep.as_mut().poll(cx)
    }
}

/// What the socket did.
enum Io {
    Read(usize),
    /// Some waiting answers were taken: this many bytes.
    Wrote(usize),
}

/// Polls for the socket taking some of `output` (if any waits) or
/// bringing input (if `read`), whichever comes first: both on one socket.
fn poll_io<S>(
    stream: &mut S,
    cx: &mut std::task::Context<'_>,
    input: &mut BytesMut,
    output: &mut BytesMut,
    read: bool,
) -> Poll<io::Result<Io>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !output.is_empty()
        && let Poll::Ready(wrote) = Pin::new(&mut *stream).poll_write(cx, output)
    {
        match wrote? {
            0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            n => {
                output.advance(n);
                return Poll::Ready(Ok(Io::Wrote(n)));
            }
        }
    }
    if !read {
        return Poll::Pending;
    }
    tokio_util::io::poll_read_buf(Pin::new(&mut *stream), cx, input).map_ok(Io::Read)
}

/// Writes as much of `output` as the socket takes without waiting.
fn write_now<S>(stream: &mut S, output: &mut BytesMut) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    while !output.is_empty() {
        match Pin::new(&mut *stream).poll_write(&mut cx, output) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => output.advance(n),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => break,
        }
    }
    Ok(())
}

/// Gives an empty buffer's memory back if it has grown well past a read.
fn shrink(buffer: &mut BytesMut) {
    if buffer.is_empty() && buffer.capacity() > SHRINK_ABOVE {
        *buffer = BytesMut::new();
    }
}

/// This connection's share of `connection_buffer_bytes`: what its buffers
/// hold, in steps of 4 KiB, so the shared counter is touched only when
/// that changes, not at every request.
struct Held<'a> {
    total: &'a AtomicU64,
    reported: u64,
}

impl<'a> Held<'a> {
    fn new(total: &'a AtomicU64) -> Held<'a> {
        Held { total, reported: 0 }
    }

    fn set(&mut self, bytes: usize) {
        let rounded = (bytes as u64).div_ceil(4096) * 4096;
        if rounded != self.reported {
            if rounded > self.reported {
                self.total
                    .fetch_add(rounded - self.reported, Ordering::Relaxed);
            } else {
                self.total
                    .fetch_sub(self.reported - rounded, Ordering::Relaxed);
            }
            self.reported = rounded;
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// Closes our side and discards what the peer still sends, briefly.
///
/// Closing a socket with unread input makes the kernel send a reset, and a
/// reset can destroy the answer we just wrote before the peer reads it. So
/// after a refusal we send FIN, then read and drop input until the peer
/// closes too (or half a second, or 64 KiB, whichever comes first).
pub(crate) async fn linger<S>(stream: &mut S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let drain = async {
        if stream.shutdown().await.is_err() {
            return;
        }
        let mut scratch = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = timeout(Duration::from_millis(500), drain).await;
}
