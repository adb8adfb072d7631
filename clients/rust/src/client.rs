//! [`Client`]: the handle applications hold and clone.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use sessiond_protocol::limits::{self, MAX_TOKEN_LEN};
use sessiond_protocol::wire::{Reply, Request, codec};

use crate::ClientError;
use crate::config::ClientConfig;
use crate::connection::ConnectParams;
use crate::error::unexpected;
use crate::pool::Pool;

/// A connection pool to one sessiond server.
///
/// Cloning is cheap (an `Arc`): clones share the pool, so create one
/// client per server and hand clones to every task. Concurrent calls are
/// pipelined over the pool's connections; each call waits at most the
/// configured request timeout. The connections close when the last clone
/// is dropped.
///
/// The store operations come from the [`SessionStore`] trait, so code
/// written against it runs unchanged on the embedded store.
///
/// [`SessionStore`]: sessiond_protocol::SessionStore
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    request_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("request_timeout", &self.inner.request_timeout)
            .field(
                "healthy_connections",
                &self.inner.pool.healthy_connections(),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the server: opens the pool's connections (TCP, TLS,
    /// handshake and `AUTH` for each) and returns once at least one is
    /// ready. Connections that could not open keep trying in the
    /// background, as do connections that break later.
    ///
    /// Must be called within a Tokio runtime; the pool's background tasks
    /// run on it.
    ///
    /// # Errors
    /// [`ClientError::Config`] for a configuration that cannot work
    /// (including a server that requires a token when none is set),
    /// [`ClientError::Tls`] when the server's certificate does not verify,
    /// [`ClientError::Server`] when the server refuses (`AUTH_FAILED`,
    /// `BUSY`, `UNSUPPORTED_VERSION`), [`ClientError::Io`] or
    /// [`ClientError::Timeout`] when it cannot be reached: each the error
    /// of the first connection when none could open.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        config.validate()?;
        let tls = config.tls.as_ref().map(|tls| tls.connector()).transpose()?;
        let params = ConnectParams {
            address: config.address.clone(),
            tls,
            auth_token: config.auth_token.clone(),
            connect_timeout: config.connect_timeout,
        };
        let pool = Pool::connect(params, config.pool_size, config.backoff).await?;
        Ok(Client {
            inner: Arc::new(Inner {
                pool,
                request_timeout: config.request_timeout,
            }),
        })
    }

    /// Sends any request and returns the server's successful reply;
    /// error responses become errors (store errors as
    /// [`ClientError::Store`]). The typed methods are built on this.
    ///
    /// # Errors
    /// Whatever the server answered, or [`ClientError::Timeout`] or
    /// [`ClientError::ConnectionLost`] when no answer came.
    pub async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        // The limits of SPEC.md §3, checked here so that a request the
        // server would refuse costs no round trip (and one the codec cannot
        // encode is never encoded).
        limits::check_request(&request).map_err(|refused| match refused {
            Some(error) => ClientError::Store(error),
            None => ClientError::Config(format!(
                "the auth token is longer than the {MAX_TOKEN_LEN} bytes the protocol carries"
            )),
        })?;
        // Encoding happens in the caller's task, so that many callers
        // encode in parallel and a connection's writer only copies bytes.
        let mut frame = BytesMut::new();
        codec::encode_request(&request, &mut frame);
        let frame = frame.freeze();
        match tokio::time::timeout(self.inner.request_timeout, self.inner.pool.call(frame)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Checks that the server answers (`PING`, which works even before
    /// authentication).
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.request(Request::Ping).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected("PING", "DONE", &other)),
        }
    }

    /// The server's statistics as name/value pairs (`sessions`, `keys`,
    /// `bytes_used`, …). Servers may add names at any time; ignore the
    /// ones you do not know.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn stats(&self) -> Result<Vec<(String, u64)>, ClientError> {
        match self.request(Request::Stats).await? {
            Reply::Stats(stats) => Ok(stats),
            other => Err(unexpected("STATS", "STATS", &other)),
        }
    }

    /// One step of a walk over the server's plain keys (KEY_SCAN, SPEC.md
    /// §8): start at cursor 0 and pass each returned cursor back until it
    /// is 0 again. `count` is about how many keys the server looks at in
    /// this step; `pattern` is a Redis glob (`None`: every key). A step may
    /// return fewer keys than `count`, or none, before the walk is over;
    /// a key present for the whole walk comes back exactly once.
    ///
    /// Not part of [`SessionStore`](sessiond_protocol::SessionStore): the
    /// embedded store offers its own `scan_keys`, with a key-type filter,
    /// for the Redis face's SCAN.
    ///
    /// ```no_run
    /// # async fn run(client: sessiond_client::Client) -> Result<(), sessiond_client::ClientError> {
    /// let mut cursor = 0;
    /// loop {
    ///     let (next, keys) = client.scan_keys(cursor, 100, Some(b"rate:*")).await?;
    ///     for key in keys {
    ///         println!("{}", String::from_utf8_lossy(&key));
    ///     }
    ///     if next == 0 {
    ///         break;
    ///     }
    ///     cursor = next;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Client::request`]; a pattern over 65 535 bytes is refused with
    /// [`StoreError::BadKey`](sessiond_protocol::StoreError::BadKey)
    /// before it is sent. A server older than KEY_SCAN answers
    /// `UNKNOWN_OP` ([`ClientError::Server`]).
    pub async fn scan_keys(
        &self,
        cursor: u64,
        count: u32,
        pattern: Option<&[u8]>,
    ) -> Result<(u64, Vec<Vec<u8>>), ClientError> {
        let request = Request::KeyScan {
            cursor,
            count,
            pattern: pattern.map(<[u8]>::to_vec),
        };
        match self.request(request).await? {
            Reply::Scan { cursor, keys } => Ok((cursor, keys)),
            other => Err(unexpected("KEY_SCAN", "SCAN", &other)),
        }
    }

    /// How many of the pool's connections are open right now.
    pub fn healthy_connections(&self) -> usize {
        self.inner.pool.healthy_connections()
    }
}
