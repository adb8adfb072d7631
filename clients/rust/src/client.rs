//! [`Client`]: the handle applications hold and clone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sessiond_protocol::limits::{self, MAX_TOKEN_LEN};
use sessiond_protocol::wire::{Reply, Request, ServerError, codec};
use sessiond_protocol::{SessionId, StoreError};

use crate::ClientError;
use crate::config::{ClientConfig, Retry};
use crate::error::unexpected;
use crate::failover::{Group, Move, Replay, Template};

/// A connection pool to one sessiond server, or to the leader of a
/// replication group.
///
/// Cloning is cheap (an `Arc`): clones share the pool, so create one
/// client per server (or group) and hand clones to every task. Concurrent
/// calls are pipelined over the pool's connections; each attempt waits at
/// most the configured request timeout, and a call retries within its
/// [`Retry`] bounds. The connections close when the last clone is dropped.
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
    group: Group,
    request_timeout: Duration,
    retry: Retry,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.current_address())
            .field("request_timeout", &self.inner.request_timeout)
            .field("healthy_connections", &self.healthy_connections())
            .finish_non_exhaustive()
    }
}

/// How one attempt failed.
enum Failure {
    /// Nothing was sent: no node could be reached, or the pool was retired
    /// before a connection took the request.
    NotSent(ClientError),
    /// Sent on the pool of this generation, and failed with this.
    Sent(u64, ClientError),
}

impl Client {
    /// Connects to the server: opens the pool's connections (TCP, TLS,
    /// handshake and `AUTH` for each) and returns once at least one is
    /// ready. Connections that could not open keep trying in the
    /// background, as do connections that break later. With several
    /// addresses ([`ClientConfig::group`]), they are tried in order until
    /// one takes the pool.
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
    /// of the first connection to the first address when none could open.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        config.validate()?;
        let tls = config.tls.as_ref().map(|tls| tls.connector()).transpose()?;
        let template = Template {
            tls,
            auth_token: config.auth_token.clone(),
            connect_timeout: config.connect_timeout,
            pool_size: config.pool_size,
            backoff: config.backoff,
        };
        let addresses = config.addresses().map(str::to_owned).collect();
        let group = Group::connect(addresses, template).await?;
        Ok(Client {
            inner: Arc::new(Inner {
                group,
                request_timeout: config.request_timeout,
                retry: config.retry,
            }),
        })
    }

    /// Sends any request and returns the server's successful reply;
    /// error responses become errors (store errors as
    /// [`ClientError::Store`]). The typed methods are built on this.
    ///
    /// Redirects are followed and failures retried as [`Retry`] says; a
    /// CREATE without an id is given one drawn here, from the operating
    /// system's CSPRNG, so that its retries cannot make a second session.
    ///
    /// # Errors
    /// Whatever the server answered, [`ClientError::Timeout`] or
    /// [`ClientError::ConnectionLost`] when no answer came to a request
    /// that is not retried after an unknown outcome, or
    /// [`ClientError::GaveUp`] when the retries ran out.
    pub async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        self.request_waiting(request, Duration::ZERO).await
    }

    /// [`Client::request`] for a request the server may hold for up to
    /// `wait` before it answers (EVENTS_READ with a timeout): each attempt
    /// and the retries' total are given that much more time.
    pub(crate) async fn request_waiting(
        &self,
        mut request: Request,
        wait: Duration,
    ) -> Result<Reply, ClientError> {
        // The limits of SPEC.md §3, checked here so that a request the
        // server would refuse costs no round trip (and one the codec cannot
        // encode is never encoded).
        limits::check_request(&request).map_err(|refused| match refused {
            Some(error) => ClientError::Store(error),
            None if matches!(request, Request::NodeAdd { .. }) => {
                ClientError::Config("the raft address is longer than 65 535 bytes".into())
            }
            None => ClientError::Config(format!(
                "the auth token is longer than the {MAX_TOKEN_LEN} bytes the protocol carries"
            )),
        })?;
        let replay = Replay::of(&request);
        // The id every attempt sends; drawn here unless the caller chose it.
        let drew_id = match &mut request {
            Request::Create(new) if new.id.is_none() => {
                new.id = Some(SessionId::random());
                true
            }
            _ => false,
        };
        let retry = self.inner.retry;
        let started = Instant::now();
        let deadline = started + retry.total + wait;
        let mut frame = encode(&request);
        let mut attempts = 0u32;
        let mut waits = 0u32;
        let mut outcome_unknown = false;
        let mut redirected = false;
        loop {
            attempts += 1;
            let failure = match self.attempt(&frame, deadline, wait).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            let mut wait = true;
            let last = match failure {
                Failure::NotSent(error) => error,
                Failure::Sent(generation, error) => match error {
                    // Not executed: safe to send on, whatever it is.
                    ClientError::Server(ServerError::NotLeader { ref leader })
                        if retry.attempts > 1 =>
                    {
                        let to = leader.as_deref().map_or(Move::Elsewhere, Move::Leader);
                        let moved = self.inner.group.moved(generation, to, deadline).await;
                        // Straight to a named leader the first time; a
                        // second redirect in a row waits, in case the
                        // nodes disagree while an election settles.
                        wait = moved.is_err() || leader.is_none() || redirected;
                        redirected = true;
                        error
                    }
                    ClientError::Server(ServerError::Unavailable(_))
                    | ClientError::ConnectionLost => {
                        if replay == Replay::UntilUnknown {
                            return Err(error);
                        }
                        outcome_unknown = true;
                        error
                    }
                    ClientError::Store(StoreError::IdTaken) if replay == Replay::Create => {
                        if outcome_unknown {
                            // An earlier attempt made this very session.
                            return Ok(Reply::Id(created_id(&request)));
                        }
                        if !drew_id {
                            return Err(error);
                        }
                        // A real collision on the 8-byte prefix (SPEC.md
                        // §1): what the server does for its own ids.
                        if let Request::Create(new) = &mut request {
                            new.id = Some(SessionId::random());
                        }
                        frame = encode(&request);
                        wait = false;
                        error
                    }
                    other => return Err(other),
                },
            };
            if !matches!(last, ClientError::Server(ServerError::NotLeader { .. })) {
                redirected = false;
            }
            let now = Instant::now();
            if attempts >= retry.attempts || now >= deadline {
                if attempts == 1 {
                    return Err(last);
                }
                return Err(ClientError::GaveUp {
                    attempts,
                    elapsed: now - started,
                    outcome_unknown,
                    last: Box::new(last),
                });
            }
            if wait {
                let pause = retry.backoff.jittered(waits).min(deadline - now);
                waits = waits.saturating_add(1);
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// One attempt on the pool in use (or on a new one, if it has no live
    /// connection).
    async fn attempt(
        &self,
        frame: &Bytes,
        deadline: Instant,
        wait: Duration,
    ) -> Result<Reply, Failure> {
        let current = self
            .inner
            .group
            .usable(deadline)
            .await
            .map_err(Failure::NotSent)?;
        let call = current.pool.call(frame.clone());
        match tokio::time::timeout(self.inner.request_timeout + wait, call).await {
            Err(_) => Err(Failure::Sent(current.generation, ClientError::Timeout)),
            Ok(Err(_not_sent)) => Err(Failure::NotSent(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!(
                    "the connection to {} went away before the request was sent",
                    current.pool.address()
                ),
            )))),
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(error))) => Err(Failure::Sent(current.generation, error)),
        }
    }

    /// How to open a connection of its own to the node in use (the near
    /// cache's invalidation connection).
    pub(crate) fn connect_params(&self) -> crate::connection::ConnectParams {
        self.inner.group.connect_params()
    }

    /// How its connections reconnect (the near cache's link does the same).
    pub(crate) fn reconnect_backoff(&self) -> crate::Backoff {
        self.inner.group.reconnect_backoff()
    }

    /// The request timeout each call waits at most.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
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

    /// Makes node `id`, whose raft endpoint the group reaches at
    /// `raft_addr` (`host:port`), a member of the replication group
    /// (NODE_ADD, SPEC.md §8). Sent to the leader; after an unknown outcome
    /// it is not sent again: check the membership before retrying.
    ///
    /// # Errors
    /// As [`Client::request`]; a server in no replication group answers
    /// `UNAVAILABLE` ([`ClientError::Server`]).
    pub async fn add_node(&self, id: u64, raft_addr: &str) -> Result<(), ClientError> {
        let request = Request::NodeAdd {
            id,
            raft_addr: raft_addr.to_owned(),
        };
        match self.request(request).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected("NODE_ADD", "DONE", &other)),
        }
    }

    /// Takes node `id` out of the replication group (NODE_REMOVE), as
    /// [`Client::add_node`].
    ///
    /// # Errors
    /// As [`Client::add_node`].
    pub async fn remove_node(&self, id: u64) -> Result<(), ClientError> {
        match self.request(Request::NodeRemove { id }).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected("NODE_REMOVE", "DONE", &other)),
        }
    }

    /// How many of the pool's connections are open right now.
    pub fn healthy_connections(&self) -> usize {
        self.inner.group.current().pool.healthy_connections()
    }

    /// The `host:port` of the node the client sends to now: the configured
    /// address, or the leader or member it has moved to.
    pub fn current_address(&self) -> String {
        self.inner.group.current().pool.address().to_owned()
    }
}

/// One request as one frame. Encoding happens in the caller's task, so
/// that many callers encode in parallel and a connection's writer only
/// copies bytes.
pub(crate) fn encode(request: &Request) -> Bytes {
    let mut frame = BytesMut::new();
    codec::encode_request(request, &mut frame);
    frame.freeze()
}

/// The id a CREATE sends (always set before the first attempt).
fn created_id(request: &Request) -> SessionId {
    match request {
        Request::Create(new) => new.id.expect("the id is chosen before sending"),
        _ => unreachable!("only CREATE makes a session"),
    }
}
