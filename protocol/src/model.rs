//! The shape of sessions and keys, as the engine, the daemon and every
//! client see them: what goes in, what comes out, and the limits that apply.

use std::time::Duration;

use crate::SessionId;

/// Short key/value strings kept beside a session and shown in device lists
/// without reading its data: user agent, IP address, device name.
///
/// Limits: at most [`Labels::MAX_LABELS`] labels, keys of 1 to
/// [`Labels::MAX_KEY_LEN`] bytes, values of at most
/// [`Labels::MAX_VALUE_LEN`] bytes.
///
/// ```
/// use sessiond_protocol::Labels;
/// let labels = Labels::new().with("ua", "Firefox on Linux").with("ip", "192.0.2.7");
/// assert_eq!(labels.get("ip"), Some("192.0.2.7"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Most labels on one session.
    pub const MAX_LABELS: usize = 16;
    /// Longest label key, in bytes.
    pub const MAX_KEY_LEN: usize = 64;
    /// Longest label value, in bytes.
    pub const MAX_VALUE_LEN: usize = 1024;

    /// No labels.
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Adds a label, replacing an earlier one with the same key.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets a label, replacing an earlier one with the same key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Labels in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What to create: built with [`NewSession::new`] and its setters, passed to
/// `Store::create` (or the client's `create`).
///
/// ```
/// use sessiond_protocol::{Labels, NewSession};
/// use std::time::Duration;
///
/// let new = NewSession::new("user:42")
///     .data(b"{\"cart\":[]}".to_vec())
///     .labels(Labels::new().with("ua", "Safari on iOS"))
///     .idle_timeout(Duration::from_secs(15 * 60));
/// # let _ = new;
/// ```
///
/// The fields are public so that servers and clients can take a request
/// apart; build one with the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The owner (user id), 1 to 256 bytes.
    pub owner: Vec<u8>,
    /// Opaque session data.
    pub data: Vec<u8>,
    /// Labels for device lists.
    pub labels: Labels,
    /// Idle timeout; `None` for the store's default, zero for none.
    pub idle: Option<Duration>,
    /// Absolute lifetime; `None` for the store's default, zero for none.
    pub absolute: Option<Duration>,
    /// A caller-chosen id; `None` to have the store generate one.
    pub id: Option<SessionId>,
    /// `None` for the store's per-owner limit; `Some(None)` for no limit.
    pub limit: Option<Option<OwnerLimit>>,
}

impl NewSession {
    /// A session of `owner` (the user id, 1 to 256 bytes), with no data,
    /// no labels and the store's default timeouts.
    pub fn new(owner: impl Into<Vec<u8>>) -> Self {
        NewSession {
            owner: owner.into(),
            data: Vec::new(),
            labels: Labels::new(),
            idle: None,
            absolute: None,
            id: None,
            limit: None,
        }
    }

    /// The session's opaque data.
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Labels shown in device lists.
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// Sliding idle timeout, in whole seconds (rounded up).
    /// `Duration::ZERO` means no idle timeout (then an absolute lifetime is
    /// required).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Hard cap on the session's life from creation, which touching never
    /// extends. `Duration::ZERO` means no cap.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute = Some(lifetime);
        self
    }

    /// Uses an id the caller generated (it must be as random as ours; the
    /// store refuses one that is taken) instead of a fresh one.
    pub fn with_id(mut self, id: SessionId) -> Self {
        self.id = Some(id);
        self
    }

    /// Overrides the store's per-owner limit for this create: `None` means
    /// no limit.
    pub fn owner_limit(mut self, limit: Option<OwnerLimit>) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// A session as listed among its owner's devices: everything but its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id.
    pub id: SessionId,
    /// Its labels.
    pub labels: Labels,
    /// When it was created, in Unix seconds.
    pub created_at: u64,
    /// When it was last read with touch or written, in Unix seconds.
    pub last_seen_at: u64,
    /// Sliding idle timeout; zero means none.
    pub idle_timeout: Duration,
    /// The hard deadline from its absolute lifetime, in Unix seconds.
    pub absolute_deadline: Option<u64>,
    /// The last second in which it is alive, in Unix seconds: the earlier of
    /// `last_seen_at + idle_timeout` and `absolute_deadline`.
    pub expires_at: u64,
    /// Bumped on every data write; starts at 1.
    pub version: u32,
}

/// A session read with `get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its owner.
    pub owner: Vec<u8>,
    /// Its data.
    pub data: Vec<u8>,
    /// Everything else.
    pub info: SessionInfo,
}

/// What to do when an owner is at its session limit and logs in again.
/// The default refuses: ending someone's session is for a limit that
/// asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitPolicy {
    /// Refuse the new session with [`StoreError::SessionLimit`](crate::StoreError::SessionLimit).
    #[default]
    Reject,
    /// End the owner's least recently seen session to make room.
    EvictOldest,
}

/// A cap on concurrent sessions per owner ("screens" of a streaming plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerLimit {
    /// Most live sessions one owner may have.
    pub max_sessions: u32,
    /// What happens to the session beyond the cap.
    pub policy: LimitPolicy,
}

/// The time to live of a plain key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// No such key.
    Missing,
    /// The key has no TTL.
    Persistent,
    /// The key expires after this long.
    ExpiresIn(Duration),
}
