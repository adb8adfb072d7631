//! One connection: opening it (TCP, TLS, handshake, `AUTH`) and serving
//! pipelined requests on it.
//!
//! # Why matching replies in FIFO order is correct
//!
//! The server answers every request with exactly one response, in the
//! order the requests arrived, and never sends anything unasked (SPEC.md
//! §6). So the connection keeps one queue of reply slots in the order it
//! wrote the requests, and the n-th response belongs to the n-th slot. A
//! caller that gave up (timed out) leaves its slot in the queue: the late
//! response is still read, matched to that slot and dropped, and every
//! response after it still finds its own caller.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use sessiond_protocol::wire::handshake::{ClientHello, MAGIC, ServerHello, VERSION};
use sessiond_protocol::wire::{Reply, Request, ServerError, codec};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::ClientError;

/// The largest response body the client accepts. `max frame` in the
/// server's hello bounds what the server *accepts*; responses such as a
/// long `LIST` may legitimately be larger, so the client's own bound is
/// generous and only guards against a runaway length.
pub(crate) const MAX_RESPONSE_FRAME: u32 = 256 << 20;

/// The most bytes of requests coalesced into one write; a larger backlog
/// goes out in several writes, so that replies to the first requests are
/// not held back by the encoding of the last.
const MAX_BATCH: usize = 1 << 20;

/// The largest error frame believed in place of a server hello.
const MAX_HELLO_ERROR_FRAME: u32 = 64 << 10;

/// Where a reply goes: the caller's end of a oneshot channel.
pub(crate) type ReplyTx = oneshot::Sender<Result<Reply, ClientError>>;

/// A request on its way to a connection: the encoded frame and where its
/// reply goes.
pub(crate) struct Command {
    /// One complete frame (length prefix and body).
    pub(crate) frame: Bytes,
    /// Where the reply goes.
    pub(crate) reply: ReplyTx,
}

/// What opening a connection needs, shared by every connection of a
/// client.
pub(crate) struct ConnectParams {
    pub(crate) address: String,
    pub(crate) tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    pub(crate) auth_token: Option<Vec<u8>>,
    pub(crate) connect_timeout: std::time::Duration,
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection past its handshake and `AUTH`, ready for requests.
pub(crate) struct Established {
    reader: BoxRead,
    writer: BoxWrite,
    /// Bytes read past the handshake (none from a well-behaved server, but
    /// they are kept rather than lost).
    read_buf: BytesMut,
    /// The largest request body the server accepts.
    max_frame: u32,
}

/// Opens a connection: TCP, TLS if configured, the handshake, and `AUTH`
/// if a token is configured; all within the connect timeout.
pub(crate) async fn open(params: &ConnectParams) -> Result<Established, ClientError> {
    match tokio::time::timeout(params.connect_timeout, open_inner(params)).await {
        Ok(result) => result,
        Err(_) => Err(ClientError::Timeout),
    }
}

async fn open_inner(params: &ConnectParams) -> Result<Established, ClientError> {
    let tcp = TcpStream::connect(&params.address)
        .await
        .map_err(ClientError::Io)?;
    // Requests are coalesced by the writer already; Nagle would only add
    // latency to the last frame of every batch.
    tcp.set_nodelay(true).map_err(ClientError::Io)?;
    match &params.tls {
        None => {
            let mut tcp = tcp;
            let (read_buf, max_frame) = handshake(&mut tcp, params).await?;
            let (reader, writer) = tcp.into_split();
            Ok(Established {
                reader: Box::new(reader),
                writer: Box::new(writer),
                read_buf,
                max_frame,
            })
        }
        Some((connector, server_name)) => {
            let mut tls = connector
                .connect(server_name.clone(), tcp)
                .await
                .map_err(ClientError::from_io)?;
            let (read_buf, max_frame) = handshake(&mut tls, params).await?;
            let (reader, writer) = tokio::io::split(tls);
            Ok(Established {
                reader: Box::new(reader),
                writer: Box::new(writer),
                read_buf,
                max_frame,
            })
        }
    }
}

/// The handshake of SPEC.md §5, then `AUTH`. Returns bytes read beyond
/// the last answer and the server's `max frame`.
async fn handshake<S>(
    stream: &mut S,
    params: &ConnectParams,
) -> Result<(BytesMut, u32), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = ClientError::from_io;
    // A server at its connection limit may send BUSY and close without
    // reading the hello, so a failed write is only reported if there is no
    // error frame to read instead.
    let sent = async {
        stream
            .write_all(&ClientHello { version: VERSION }.encode())
            .await?;
        stream.flush().await
    }
    .await;

    // The server answers with its 16-byte hello, or instead with one error
    // frame (BUSY, UNSUPPORTED_VERSION, …) before closing. The first four
    // bytes tell which: the magic, or a frame length.
    let mut head = [0u8; 4];
    if let Err(read_err) = stream.read_exact(&mut head).await {
        return Err(io(sent.err().unwrap_or(read_err)));
    }
    let hello = if head == MAGIC {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&head);
        stream.read_exact(&mut bytes[4..]).await.map_err(io)?;
        ServerHello::decode(&bytes)
            .map_err(|e| ClientError::Protocol(format!("bad server hello: {e}")))?
    } else if head.starts_with(b"HTTP") {
        return Err(ClientError::Protocol(
            "the server answered in HTTP: this address is not a sessiond server".into(),
        ));
    } else if head[0] == 0x15 && head[1] == 0x03 && params.tls.is_none() {
        // A TLS alert record: a TLS server could not parse our hello.
        return Err(ClientError::Protocol(
            "the server answered with a TLS alert: it expects TLS (use sessiond+tls:// \
             or ClientConfig::tls)"
                .into(),
        ));
    } else {
        let len = u32::from_be_bytes(head);
        if len == 0 || len > MAX_HELLO_ERROR_FRAME {
            return Err(ClientError::Protocol(format!(
                "expected a server hello, got bytes {head:02x?}: not a sessiond server?"
            )));
        }
        let mut body = vec![0u8; len as usize];
        stream.read_exact(&mut body).await.map_err(io)?;
        return Err(match codec::decode_response(&body) {
            Ok(Err(err)) => ClientError::Server(err),
            Ok(Ok(reply)) => ClientError::Protocol(format!(
                "expected a server hello, got a reply with tag 0x{:02x}",
                reply.tag()
            )),
            Err(e) => ClientError::Protocol(format!("expected a server hello: {e}")),
        });
    };
    if hello.version == 0 || hello.version > VERSION {
        return Err(ClientError::Protocol(format!(
            "the server chose protocol version {}, this client speaks 1 to {VERSION}",
            hello.version
        )));
    }
    if hello.max_frame == 0 {
        return Err(ClientError::Protocol("the server's max frame is 0".into()));
    }

    let mut read_buf = BytesMut::with_capacity(4096);
    match &params.auth_token {
        Some(token) => {
            let mut out = BytesMut::new();
            codec::encode_request(
                &Request::Auth {
                    token: token.clone(),
                },
                &mut out,
            );
            stream.write_all(&out).await.map_err(io)?;
            stream.flush().await.map_err(io)?;
            let body = loop {
                match codec::next_frame(&mut read_buf, MAX_RESPONSE_FRAME) {
                    Ok(Some(body)) => break body,
                    Ok(None) => {}
                    Err(e) => return Err(ClientError::Protocol(format!("answer to AUTH: {e}"))),
                }
                if stream.read_buf(&mut read_buf).await.map_err(io)? == 0 {
                    return Err(ClientError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the connection before answering AUTH",
                    )));
                }
            };
            match codec::decode_response(&body) {
                Ok(Ok(Reply::Done)) => {}
                Ok(Ok(reply)) => {
                    return Err(ClientError::Protocol(format!(
                        "AUTH answered with reply tag 0x{:02x}, expected DONE",
                        reply.tag()
                    )));
                }
                Ok(Err(err)) => return Err(ClientError::from(err)),
                Err(e) => return Err(ClientError::Protocol(format!("answer to AUTH: {e}"))),
            }
        }
        None if hello.auth_required => {
            return Err(ClientError::Config(
                "the server requires authentication and no token is configured: \
                 set ClientConfig::auth_token (e.g. with auth_token_from_env(\"SESSIOND_AUTH_TOKEN\"))"
                    .into(),
            ));
        }
        None => {}
    }
    Ok((read_buf, hello.max_frame))
}

/// Why [`serve`] returned.
pub(crate) enum Ended {
    /// Every sender of the request queue is gone: the client was dropped.
    Shutdown,
    /// The connection failed; its in-flight requests were answered
    /// [`ClientError::ConnectionLost`].
    Broken,
}

/// Serves requests from `queue` on `conn` until the connection breaks or
/// the client is dropped.
///
/// Writing and reading run concurrently (two futures polled by one task):
/// if the writer waited for replies, or the reader for the writer, a
/// large pipelined batch could deadlock with a server that stops reading
/// while its own writes are blocked.
///
/// `on_broken` runs once the connection is over and before the requests in
/// flight are failed.
pub(crate) async fn serve(
    conn: Established,
    queue: &mut mpsc::Receiver<Command>,
    on_broken: impl FnOnce(),
) -> Ended {
    let in_flight = Mutex::new(VecDeque::<ReplyTx>::new());
    let ended = tokio::select! {
        ended = write_loop(conn.writer, queue, &in_flight, conn.max_frame) => ended,
        ended = read_loop(conn.reader, conn.read_buf, &in_flight) => ended,
    };
    on_broken();
    // Requests written but unanswered may or may not have been executed;
    // they fail here, and the client decides which of them may be sent
    // again (only those safe to apply twice).
    let lost = std::mem::take(&mut *lock(&in_flight));
    for reply in lost {
        let _ = reply.send(Err(ClientError::ConnectionLost));
    }
    ended
}

fn lock(in_flight: &Mutex<VecDeque<ReplyTx>>) -> std::sync::MutexGuard<'_, VecDeque<ReplyTx>> {
    // A panic while holding this lock cannot leave the queue inconsistent
    // (every critical section is a single push or pop).
    in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes every queued request at once, writes them in one buffer with one
/// write, and records their reply slots in order *before* writing, so the
/// reader always finds the slot of a reply.
async fn write_loop(
    mut writer: BoxWrite,
    queue: &mut mpsc::Receiver<Command>,
    in_flight: &Mutex<VecDeque<ReplyTx>>,
    max_frame: u32,
) -> Ended {
    let mut batch = BytesMut::with_capacity(64 << 10);
    let mut slots = Vec::new();
    loop {
        let Some(first) = queue.recv().await else {
            return Ended::Shutdown;
        };
        let mut next = Some(first);
        while let Some(command) = next {
            add_to_batch(command, &mut batch, &mut slots, max_frame);
            next = if batch.len() < MAX_BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if batch.is_empty() {
            continue;
        }
        lock(in_flight).extend(slots.drain(..));
        let written = async {
            writer.write_all(&batch).await?;
            writer.flush().await
        };
        if written.await.is_err() {
            return Ended::Broken;
        }
        batch.clear();
    }
}

fn add_to_batch(command: Command, batch: &mut BytesMut, slots: &mut Vec<ReplyTx>, max_frame: u32) {
    // A caller that gave up before its request left the queue is not
    // sent at all.
    if command.reply.is_closed() {
        return;
    }
    let body_len = command.frame.len().saturating_sub(4);
    if body_len > max_frame as usize {
        // The server would answer FRAME_TOO_LARGE and close the
        // connection, failing every other request on it; refuse it here.
        let _ = command
            .reply
            .send(Err(ClientError::Server(ServerError::FrameTooLarge {
                max: max_frame,
            })));
        return;
    }
    batch.extend_from_slice(&command.frame);
    slots.push(command.reply);
}

/// Reads responses and hands each to the oldest unanswered request.
async fn read_loop(
    mut reader: BoxRead,
    mut buf: BytesMut,
    in_flight: &Mutex<VecDeque<ReplyTx>>,
) -> Ended {
    loop {
        loop {
            let body = match codec::next_frame(&mut buf, MAX_RESPONSE_FRAME) {
                Ok(Some(body)) => body,
                Ok(None) => break,
                // The framing is lost: nothing after this can be matched.
                Err(_) => return Ended::Broken,
            };
            let Some(reply) = lock(in_flight).pop_front() else {
                // A response nobody asked for: the server broke the
                // protocol, and the order can no longer be trusted.
                return Ended::Broken;
            };
            let result = match codec::decode_response(&body) {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(err)) => Err(ClientError::from(err)),
                // The frame is intact, so later responses still line up;
                // only this request fails.
                Err(e) => Err(ClientError::Protocol(format!("undecodable response: {e}"))),
            };
            // The caller may have timed out and gone; its reply is dropped.
            let _ = reply.send(result);
        }
        buf.reserve(64 << 10);
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Ended::Broken,
            Ok(_) => {}
        }
    }
}
