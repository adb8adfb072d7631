//! A small fake sessiond for the client's tests: the real handshake and
//! framing (through the protocol crate's codec), optional TLS and token,
//! and answers chosen per request by the test.

#![allow(dead_code)] // each test binary uses a part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use sessiond_protocol::wire::{
    ClientHello, DEFAULT_MAX_FRAME, Reply, Request, Response, ServerError, ServerHello,
    decode_request, encode_response, next_frame,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the fake server does with one request.
pub enum Action {
    /// Answer at once.
    Reply(Response),
    /// Wait, then answer (and only then read on: answers stay in order).
    Delay(Duration, Response),
    /// Never answer, but keep reading.
    Silence,
    /// Close the connection without answering.
    Close,
}

/// Decides the answer to each request (after handshake and auth).
pub type Handler = Arc<dyn Fn(&Request) -> Action + Send + Sync>;

/// Echoes keys: `KEY_GET k` answers `VALUE k`, so every reply is specific
/// to its request; `PING` and `KEY_SET` answer `DONE`; anything else
/// `NOT_FOUND`.
pub fn echo_handler() -> Handler {
    Arc::new(|request| match request {
        Request::Ping | Request::KeySet { .. } => Action::Reply(Ok(Reply::Done)),
        Request::KeyGet { key } => Action::Reply(Ok(Reply::Value(Some(key.clone())))),
        Request::Stats => Action::Reply(Ok(Reply::Stats(vec![("sessions".into(), 7)]))),
        _ => Action::Reply(Err(ServerError::Store(
            sessiond_protocol::StoreError::NotFound,
        ))),
    })
}

/// How the fake server behaves beyond its handler.
#[derive(Clone, Default)]
pub struct Options {
    /// Require this token.
    pub token: Option<Vec<u8>>,
    /// Send this error frame instead of the hello, then close.
    pub refuse: Option<ServerError>,
    /// The max frame announced in the hello (default: the protocol's).
    pub max_frame: Option<u32>,
    /// Serve inside TLS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// What the fake server saw.
#[derive(Default)]
pub struct Seen {
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// Connections that ended (the client closed or the server did).
    pub closed: AtomicUsize,
    /// Tokens received in AUTH.
    pub tokens: Mutex<Vec<Vec<u8>>>,
    /// Requests other than AUTH, in arrival order.
    pub requests: AtomicUsize,
    /// The most request frames found in one read: above 1 means the
    /// client coalesced requests into one write.
    pub max_frames_per_read: AtomicUsize,
}

/// A running fake server.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    task: JoinHandle<()>,
}

impl FakeServer {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(options: Options, handler: Handler) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, options, handler, Arc::new(Seen::default()))
    }

    /// Starts on a given address (to come back where a stopped one was),
    /// sharing the record of what was seen.
    pub async fn start_at(
        addr: SocketAddr,
        options: Options,
        handler: Handler,
        seen: Arc<Seen>,
    ) -> FakeServer {
        let listener = TcpListener::bind(addr).await.unwrap();
        Self::serve(listener, options, handler, seen)
    }

    fn serve(listener: TcpListener, options: Options, handler: Handler, seen: Arc<Seen>) -> Self {
        let addr = listener.local_addr().unwrap();
        let seen2 = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                seen2.connections.fetch_add(1, Ordering::SeqCst);
                let (options, handler, seen) =
                    (options.clone(), Arc::clone(&handler), Arc::clone(&seen2));
                connections.spawn(async move {
                    match options.tls.clone() {
                        None => serve_connection(tcp, &options, &handler, &seen).await,
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve_connection(tls, &options, &handler, &seen).await;
                            }
                        }
                    }
                    seen.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
            // Dropping the JoinSet (when this task is aborted) aborts every
            // connection: the server is gone.
        });
        FakeServer { addr, seen, task }
    }

    /// Stops listening and drops every connection.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn serve_connection<S>(mut stream: S, options: &Options, handler: &Handler, seen: &Seen)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = [0u8; 8];
    if stream.read_exact(&mut hello).await.is_err() {
        return;
    }
    let mut out = BytesMut::new();
    if let Err(e) = ClientHello::decode(&hello) {
        encode_response(&Err(e.into()), &mut out);
        let _ = send(&mut stream, &out).await;
        return;
    }
    if let Some(err) = &options.refuse {
        encode_response(&Err(err.clone()), &mut out);
        let _ = send(&mut stream, &out).await;
        let _ = stream.shutdown().await;
        return;
    }
    let hello = ServerHello {
        version: 1,
        auth_required: options.token.is_some(),
        max_frame: options.max_frame.unwrap_or(DEFAULT_MAX_FRAME),
    };
    if send(&mut stream, &hello.encode()).await.is_err() {
        return;
    }
    let max_frame = hello.max_frame;
    let mut authed = options.token.is_none();
    let mut buf = BytesMut::new();
    loop {
        let mut frames = 0;
        loop {
            let body = match next_frame(&mut buf, max_frame) {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(e) => {
                    encode_response(&Err(e.into()), &mut out);
                    let _ = send(&mut stream, &out).await;
                    return;
                }
            };
            frames += 1;
            let action = match decode_request(&body) {
                Err(e) => Action::Reply(Err(e)),
                Ok(Request::Auth { token }) => {
                    seen.tokens.lock().unwrap().push(token.clone());
                    if options.token.as_ref() == Some(&token) {
                        authed = true;
                        Action::Reply(Ok(Reply::Done))
                    } else {
                        Action::Reply(Err(ServerError::AuthFailed))
                    }
                }
                Ok(request) => {
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    if !authed && request != Request::Ping {
                        Action::Reply(Err(ServerError::AuthRequired))
                    } else {
                        handler(&request)
                    }
                }
            };
            match action {
                Action::Reply(response) => encode_response(&response, &mut out),
                Action::Delay(delay, response) => {
                    // Earlier answers go first, then this one after the delay.
                    if send(&mut stream, &out).await.is_err() {
                        return;
                    }
                    out.clear();
                    tokio::time::sleep(delay).await;
                    encode_response(&response, &mut out);
                }
                Action::Silence => {}
                Action::Close => {
                    let _ = send(&mut stream, &out).await;
                    return;
                }
            }
        }
        seen.max_frames_per_read.fetch_max(frames, Ordering::SeqCst);
        if !out.is_empty() {
            if send(&mut stream, &out).await.is_err() {
                return;
            }
            out.clear();
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}
