//! One client connection of the native protocol: the handshake, then
//! frames in, replies out.
//!
//! Pipelining and coalescing come from the shape of the loop: it reads
//! whatever the socket has, runs every complete request in the buffer,
//! appends each reply to one write buffer, and writes that buffer once.
//! Under load a read brings many requests and a write carries many
//! replies, so there is no system call per small reply; an idle
//! request-response client still gets its reply at once.
//!
//! A request that breaks the framing (a length of 0 or above the limit)
//! ends the connection after an error frame, since nothing after it can be
//! trusted. A frame that frames but does not decode (unknown opcode,
//! malformed body) gets an error reply and the connection carries on.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use sessiond_protocol::wire::codec::{self, FrameError};
use sessiond_protocol::wire::handshake::{self, ClientHello, ServerHello};
use sessiond_protocol::wire::{Reply, Request, Response, ServerError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use tracing::debug;

use crate::server::Shared;
use crate::server::auth::{MAX_FAILURES, failure_delay};
use crate::server::commands;
use crate::server::stats::{LocalOps, ServerStats};

/// Replies buffered before a write even while requests keep arriving, so
/// a client pipelining without reading cannot make the server buffer
/// without bound.
const FLUSH_AT: usize = 64 * 1024;

/// What a connection knows about its client.
struct Client {
    authenticated: bool,
    failures: u32,
    ops: LocalOps,
}

/// What to do after a reply.
#[derive(PartialEq)]
enum Next {
    Continue,
    Close,
}

/// Serves one connection until the client leaves, errs or idles out, or
/// the server shuts down.
pub(crate) async fn serve<S>(
    mut stream: S,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !handshake(&mut stream, &shared).await? {
        return Ok(());
    }
    let mut client = Client {
        authenticated: shared.config.auth_token.is_none(),
        failures: 0,
        ops: LocalOps::default(),
    };
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    // One timer per connection, re-armed only when it fires: arming a timer
    // on every read would cost a timer-wheel insert and removal per request.
    let idle = shared.config.idle_timeout;
    let mut last_active = Instant::now();
    let idle_timer = sleep(idle);
    tokio::pin!(idle_timer);
    let result = async {
        loop {
            let next = run_buffered(&mut input, &mut output, &mut client, &shared).await;
            shared.stats.absorb(&mut client.ops);
            if !output.is_empty() {
                stream.write_all(&output).await?;
                output.clear();
            }
            if next == Next::Close {
                linger(&mut stream).await;
                return Ok(());
            }
            tokio::select! {
                // Everything received has been answered: a clean close.
                _ = shutdown.changed() => return Ok(()),
                () = &mut idle_timer => {
                    let deadline = last_active + idle;
                    if Instant::now() >= deadline {
                        debug!("closing idle connection");
                        return Ok(());
                    }
                    idle_timer.as_mut().reset(deadline);
                }
                read = stream.read_buf(&mut input) => match read {
                    Ok(0) => return Ok(()),
                    Ok(_) => last_active = Instant::now(),
                    Err(e) => return Err(e),
                },
            }
        }
    }
    .await;
    let _ = stream.shutdown().await;
    result
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
                    auth_required: shared.config.auth_token.is_some(),
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

/// Closes our side and discards what the peer still sends, briefly.
///
/// Closing a socket with unread input makes the kernel send a reset, and a
/// reset can destroy the reply we just wrote before the peer reads it. So
/// after a refusal we send FIN, then read and drop input until the peer
/// closes too (or half a second, or 64 KiB, whichever comes first).
async fn linger<S>(stream: &mut S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = [0u8; 4096];
    let drain = async {
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = timeout(std::time::Duration::from_millis(500), drain).await;
}

/// Answers every complete request in `input`, appending replies to
/// `output`.
async fn run_buffered(
    input: &mut BytesMut,
    output: &mut BytesMut,
    client: &mut Client,
    shared: &Shared,
) -> Next {
    while output.len() < FLUSH_AT {
        let body = match codec::next_frame(input, shared.config.max_frame) {
            Ok(Some(body)) => body,
            Ok(None) => break,
            Err(e) => {
                let error = match e {
                    FrameError::TooLarge { .. } => ServerError::FrameTooLarge {
                        max: shared.config.max_frame,
                    },
                    other => ServerError::Malformed(other.to_string()),
                };
                debug!(%error, "framing lost");
                codec::encode_response(&Err(error), output);
                return Next::Close;
            }
        };
        let (response, next) = match codec::decode_request(&body) {
            Ok(request) => answer(request, client, shared).await,
            Err(error) => (Err(error), Next::Continue),
        };
        codec::encode_response(&response, output);
        if next == Next::Close {
            return Next::Close;
        }
    }
    Next::Continue
}

/// Authentication gate, then the command layer.
async fn answer(request: Request, client: &mut Client, shared: &Shared) -> (Response, Next) {
    client.ops.count(&request);
    match request {
        Request::Auth { token } => authenticate(&token, client, shared).await,
        Request::Ping => (Ok(Reply::Done), Next::Continue),
        _ if !client.authenticated => (Err(ServerError::AuthRequired), Next::Continue),
        request => (
            commands::execute(&shared.store, &shared.stats, request),
            Next::Continue,
        ),
    }
}

async fn authenticate(token: &[u8], client: &mut Client, shared: &Shared) -> (Response, Next) {
    let Some(secret) = &shared.config.auth_token else {
        return (Ok(Reply::Done), Next::Continue);
    };
    if secret.matches(token) {
        client.authenticated = true;
        client.failures = 0;
        return (Ok(Reply::Done), Next::Continue);
    }
    client.failures += 1;
    ServerStats::bump(&shared.stats.auth_failures);
    debug!(failures = client.failures, "failed auth");
    sleep(failure_delay(client.failures)).await;
    let next = if client.failures >= MAX_FAILURES {
        Next::Close
    } else {
        Next::Continue
    };
    (Err(ServerError::AuthFailed), next)
}
