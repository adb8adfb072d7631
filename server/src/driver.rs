//! The loop every connection runs, whatever protocol it speaks.
//!
//! Pipelining and write coalescing come from its shape: read whatever the
//! socket has, let the protocol answer every complete request in the
//! buffer, write all the answers at once, and wait for more. Under load a
//! read brings many requests and a write carries many replies, so there is
//! no system call per small reply; a request-response client still gets
//! each reply at once.
//!
//! Answers are written in pieces of about [`FLUSH_AT`] bytes, so a client
//! that pipelines without reading cannot make the server buffer without
//! bound; requests already received are answered before the next read, so
//! a client waiting for the rest of its replies is never left waiting for
//! input it has already sent.
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
//! The connection ends when the client leaves, when the protocol says so
//! (after a lingering close, so the last answer is not lost to a TCP
//! reset), after the idle timeout, or at shutdown once everything received
//! has been answered.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use tracing::debug;

use crate::Shared;
use sessiond::Durability;

/// Bytes of answers after which a protocol stops to let them be written.
pub(crate) const FLUSH_AT: usize = 64 * 1024;

/// What a protocol wants after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Every complete request is answered: read more.
    Read,
    /// Answers reached [`FLUSH_AT`] with complete requests left: write,
    /// then answer again before reading.
    More,
    /// Write the answers, then close.
    Close,
}

/// A protocol spoken over a connection.
pub(crate) trait Answer {
    /// Answers the complete requests at the front of `input` (leaving an
    /// incomplete one there), appending to `output`, until `input` holds no
    /// complete request or `output` holds [`FLUSH_AT`] bytes.
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Next;

    /// The answers given since the last call were written `took` after
    /// their input was read: the protocol records its latency.
    fn answered(&mut self, took: Duration);
}

/// Runs a connection until it ends (see the module documentation).
pub(crate) async fn drive<S, A>(
    mut stream: S,
    protocol: &mut A,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: Answer,
{
    let idle = shared.config.idle_timeout;
    let durability = shared.durability.as_ref();
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    // One timer per connection, re-armed only when it fires: arming a timer
    // on every read would cost a timer-wheel insert and removal per request.
    let mut last_active = Instant::now();
    let idle_timer = sleep(idle);
    tokio::pin!(idle_timer);
    let result = async {
        loop {
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
            if !output.is_empty() {
                stream.write_all(&output).await?;
                output.clear();
                // The batch's one clock read beyond the read's own.
                protocol.answered(last_active.elapsed());
            }
            match next {
                Next::More => continue,
                Next::Close => {
                    linger(&mut stream).await;
                    return Ok(());
                }
                Next::Read => {}
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
    let _ = timeout(Duration::from_millis(500), drain).await;
}
