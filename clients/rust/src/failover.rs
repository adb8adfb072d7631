//! The nodes a client knows and the one it talks to: which pool is in use,
//! moving to the leader a `NOT_LEADER` names, or to another member when
//! the node in use is unreachable; and which requests may be sent again
//! after an unknown outcome.
//!
//! One pool serves the node in use. Moving opens a pool to the new node
//! first and swaps it in only once it has a connection, so a failed move
//! leaves the client where it was. Many callers that fail on the same node
//! at once move it once: each names the pool generation it failed on, and
//! a move only happens while that generation is current.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sessiond_protocol::wire::Request;

use crate::ClientError;
use crate::config::Backoff;
use crate::connection::ConnectParams;
use crate::pool::Pool;

/// Whether a request may be sent again after an attempt whose outcome is
/// unknown (a connection lost after sending, `UNAVAILABLE`). A request
/// answered `NOT_LEADER`, or never sent, is sent again whatever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads, and writes whose second application changes nothing.
    Always,
    /// CREATE with an id chosen before the first attempt: sent again with
    /// the same id, and `ID_TAKEN` after an unknown outcome is the first
    /// attempt's success.
    Create,
    /// Writes that would apply twice: the unknown outcome goes back to the
    /// caller.
    UntilUnknown,
}

impl Replay {
    /// The rule for a request (the crate's README lists them, with why).
    pub(crate) fn of(request: &Request) -> Replay {
        match request {
            Request::Ping
            | Request::Stats
            | Request::Get { .. }
            | Request::List { .. }
            | Request::Count { .. }
            | Request::KeyGet { .. }
            | Request::KeyTtl { .. }
            | Request::KeyScan { .. }
            | Request::EventsRead { .. }
            // Sliding a deadline again, ending what is already ended or
            // setting what is already set changes nothing.
            | Request::Touch { .. }
            | Request::Delete { .. }
            | Request::DeleteNoted { .. }
            | Request::DeleteOwner { .. }
            | Request::DeleteOwnerNoted { .. }
            | Request::KeySet { .. }
            | Request::KeyDelete { .. }
            | Request::KeyExpire { .. }
            // A second application cannot pass the version check.
            | Request::Update {
                expected_version: Some(_),
                ..
            } => Replay::Always,
            Request::Create(_) => Replay::Create,
            // A second ROTATE would end the id the first one made; INCR
            // would count twice; an unconditional UPDATE could overwrite a
            // write made in between; membership changes are the operator's
            // to check.
            Request::Update {
                expected_version: None,
                ..
            }
            | Request::Rotate { .. }
            | Request::KeyIncr { .. }
            | Request::KeyIncrTtl { .. }
            | Request::Auth { .. }
            // Registers the very connection it is sent on: sent again on
            // another, it would register that one instead (the near
            // cache opens its own connection and registers it itself).
            | Request::CacheRegister { .. }
            | Request::NodeAdd { .. }
            | Request::NodeRemove { .. } => Replay::UntilUnknown,
        }
    }
}

/// Where a move goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Move<'a> {
    /// To the leader a redirect named, else to the other members.
    Leader(&'a str),
    /// The node in use knows no leader: to the other members.
    Elsewhere,
    /// The node in use cannot be reached: to the other members, then to
    /// it again (it may be back).
    Away,
}

/// What opening a pool to any node needs.
pub(crate) struct Template {
    pub(crate) tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    pub(crate) auth_token: Option<Vec<u8>>,
    pub(crate) connect_timeout: std::time::Duration,
    pub(crate) pool_size: usize,
    pub(crate) backoff: Backoff,
}

impl Template {
    async fn open(&self, address: &str) -> Result<Pool, ClientError> {
        let params = ConnectParams {
            address: address.to_owned(),
            tls: self.tls.clone(),
            auth_token: self.auth_token.clone(),
            connect_timeout: self.connect_timeout,
        };
        Pool::connect(params, self.pool_size, self.backoff).await
    }
}

/// The pool in use, and which one it is.
#[derive(Clone)]
pub(crate) struct Current {
    pub(crate) pool: Arc<Pool>,
    /// Bumped on every move.
    pub(crate) generation: u64,
}

/// The configured nodes and the pool in use.
pub(crate) struct Group {
    /// Every configured address, the first tried first.
    addresses: Vec<String>,
    template: Template,
    current: std::sync::Mutex<Current>,
    /// Held while a move is tried, so that one caller moves and the others
    /// wait for its result.
    moving: tokio::sync::Mutex<()>,
    /// Moves tried, successful or not: a caller that waited for another's
    /// failed move does not try the same move again at once.
    tried: AtomicU64,
}

impl Group {
    /// Opens a pool to the first address that takes one, in order.
    ///
    /// # Errors
    /// The first address's error when none could be reached (with one
    /// address, exactly what connecting to it said).
    pub(crate) async fn connect(
        addresses: Vec<String>,
        template: Template,
    ) -> Result<Group, ClientError> {
        let mut first_error = None;
        for address in &addresses {
            match template.open(address).await {
                Ok(pool) => {
                    return Ok(Group {
                        addresses,
                        template,
                        current: std::sync::Mutex::new(Current {
                            pool: Arc::new(pool),
                            generation: 0,
                        }),
                        moving: tokio::sync::Mutex::new(()),
                        tried: AtomicU64::new(0),
                    });
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| ClientError::Config("no address".into())))
    }

    /// How to open one more connection to the node in use, as its pool
    /// opens them (TLS, token, connect timeout): the near cache's own.
    pub(crate) fn connect_params(&self) -> ConnectParams {
        ConnectParams {
            address: self.current().pool.address().to_owned(),
            tls: self.template.tls.clone(),
            auth_token: self.template.auth_token.clone(),
            connect_timeout: self.template.connect_timeout,
        }
    }

    /// The reconnection backoff the pools use (`ClientConfig::backoff`).
    pub(crate) fn reconnect_backoff(&self) -> Backoff {
        self.template.backoff
    }

    /// The pool in use now.
    pub(crate) fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The pool in use if it has a live connection, else one to another
    /// node (or to the same one, reopened).
    ///
    /// # Errors
    /// Why no node could be reached; nothing was sent.
    pub(crate) async fn usable(&self, deadline: Instant) -> Result<Current, ClientError> {
        let current = self.current();
        if current.pool.healthy_connections() > 0 {
            return Ok(current);
        }
        self.moved(current.generation, Move::Away, deadline).await
    }

    /// Moves away from the pool of generation `from`, unless another caller
    /// has already moved from it; returns the pool in use afterwards.
    ///
    /// # Errors
    /// Why no other node could be reached; the client stays where it was.
    pub(crate) async fn moved(
        &self,
        from: u64,
        to: Move<'_>,
        deadline: Instant,
    ) -> Result<Current, ClientError> {
        let tried_before = self.tried.load(Ordering::Acquire);
        let _moving = self.moving.lock().await;
        let current = self.current();
        if current.generation != from {
            return Ok(current);
        }
        if self.tried.load(Ordering::Acquire) != tried_before {
            return Err(unreachable_error(
                "no other node could be reached (tried just now)",
            ));
        }
        self.tried.fetch_add(1, Ordering::AcqRel);
        let mut first_error = None;
        for address in self.candidates(current.pool.address(), to) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let opened = match tokio::time::timeout(left, self.template.open(&address)).await {
                Ok(opened) => opened,
                Err(_) => Err(ClientError::Timeout),
            };
            match opened {
                Ok(pool) => {
                    let next = Current {
                        pool: Arc::new(pool),
                        generation: from + 1,
                    };
                    let previous = std::mem::replace(
                        &mut *self
                            .current
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                        next.clone(),
                    );
                    previous.pool.retire();
                    return Ok(next);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| unreachable_error("no other node is configured")))
    }

    /// The addresses a move tries, in order: the configured ones after
    /// the node in use (wrapping around), so that successive moves go
    /// round the group rather than back and forth.
    fn candidates(&self, in_use: &str, to: Move<'_>) -> Vec<String> {
        let start = self
            .addresses
            .iter()
            .position(|a| a == in_use)
            .map_or(0, |i| i + 1);
        let n = self.addresses.len();
        let others = (0..n)
            .map(|i| &self.addresses[(start + i) % n])
            .filter(|a| *a != in_use);
        match to {
            Move::Leader(leader) => std::iter::once(leader)
                .chain(others.map(String::as_str).filter(|a| *a != leader))
                .map(str::to_owned)
                .collect(),
            Move::Elsewhere => others.cloned().collect(),
            Move::Away => others
                .cloned()
                .chain(std::iter::once(in_use.to_owned()))
                .collect(),
        }
    }
}

fn unreachable_error(why: &str) -> ClientError {
    ClientError::Io(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        why.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_protocol::{NewSession, SessionId};

    #[test]
    fn only_writes_safe_twice_are_replayed_after_an_unknown_outcome() {
        let id = SessionId::random();
        let update = |expected_version| Request::Update {
            id,
            expected_version,
            data: vec![],
        };
        assert_eq!(Replay::of(&update(Some(3))), Replay::Always);
        assert_eq!(Replay::of(&update(None)), Replay::UntilUnknown);
        assert_eq!(Replay::of(&Request::Rotate { id }), Replay::UntilUnknown);
        assert_eq!(Replay::of(&Request::Delete { id }), Replay::Always);
        assert_eq!(
            Replay::of(&Request::Create(NewSession::new("u"))),
            Replay::Create
        );
        let incr = Request::KeyIncr {
            key: b"k".to_vec(),
            delta: 1,
        };
        assert_eq!(Replay::of(&incr), Replay::UntilUnknown);
        assert_eq!(
            Replay::of(&Request::NodeRemove { id: 2 }),
            Replay::UntilUnknown
        );
    }
}
