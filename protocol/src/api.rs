//! [`SessionStore`]: the operations of a session store, whichever side of a
//! network it is on.
//!
//! The embedded `sessiond::Store` and the `sessiond-client` crate's client
//! both implement this trait, so an application is written once against it
//! and chooses embedded or remote by configuration. The methods are `async`
//! because the client's are; the embedded store's futures are ready at
//! once, since its operations never wait on I/O.

use std::future::Future;
use std::time::Duration;

use crate::{Event, KeyTtl, NewSession, Session, SessionId, SessionInfo, StoreError};

/// Every operation of a session store. See the `sessiond` crate for the
/// semantics of each; they are the same on both sides of a network.
pub trait SessionStore: Send + Sync {
    /// What can go wrong: the store's own errors, and for a network client
    /// also the way to it. `From<StoreError>` lets generic code report
    /// store errors of its own.
    type Error: std::error::Error + From<StoreError> + Send + Sync + 'static;

    /// Creates a session and returns its id.
    fn create(
        &self,
        new: NewSession,
    ) -> impl Future<Output = Result<SessionId, Self::Error>> + Send;

    /// Reads a session and slides its idle deadline.
    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Session, Self::Error>> + Send;

    /// Reads a session without touching it.
    fn peek(&self, id: &SessionId) -> impl Future<Output = Result<Session, Self::Error>> + Send;

    /// Replaces a session's data, optionally only at an expected version;
    /// returns the new version.
    fn update(
        &self,
        id: &SessionId,
        data: &[u8],
        expected_version: Option<u32>,
    ) -> impl Future<Output = Result<u32, Self::Error>> + Send;

    /// Slides a session's idle deadline; returns the new `expires_at`.
    fn touch(&self, id: &SessionId) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Deletes a session; says whether a live one was there.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Gives a session a new id; the old one stops working at once.
    fn rotate(&self, id: &SessionId)
    -> impl Future<Output = Result<SessionId, Self::Error>> + Send;

    /// The owner's live sessions, most recently seen first.
    fn list(
        &self,
        owner: &[u8],
    ) -> impl Future<Output = Result<Vec<SessionInfo>, Self::Error>> + Send;

    /// How many live sessions the owner has.
    fn count(&self, owner: &[u8]) -> impl Future<Output = Result<usize, Self::Error>> + Send;

    /// Deletes the owner's sessions but `keep`; returns how many ended.
    fn delete_owner(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send;

    /// Sets a plain key, with a time to live or none.
    fn set_key(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// A plain key's value.
    fn get_key(
        &self,
        key: &[u8],
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Self::Error>> + Send;

    /// Deletes a plain key; says whether a live one was there.
    fn delete_key(&self, key: &[u8]) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Sets or removes a key's time to live (zero deletes); says whether
    /// the key exists.
    fn expire_key(
        &self,
        key: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// A plain key's time to live.
    fn ttl(&self, key: &[u8]) -> impl Future<Output = Result<KeyTtl, Self::Error>> + Send;

    /// Adds `delta` to the integer in a key; returns the result.
    fn incr(&self, key: &[u8], delta: i64)
    -> impl Future<Output = Result<i64, Self::Error>> + Send;

    /// Adds `delta` to the integer in a key and gives the key `ttl` if it
    /// has no TTL (a new counter): one change, so a crash never leaves a
    /// counter without its TTL. Returns the result.
    fn incr_with_ttl(
        &self,
        key: &[u8],
        delta: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<i64, Self::Error>> + Send;
}

/// A store's session event log (docs/events.md), for code written once
/// against both the embedded store and the network client: an app
/// server's one reader that tells its pages a session ended, say.
pub trait SessionEvents: SessionStore {
    /// The events after seq `after` (at most `max`), waiting up to `wait`
    /// for one when none is there yet; or the gap, when retention has
    /// dropped events after `after`. The network client waits on the
    /// server; the embedded store answers at once (with nothing to wait
    /// on but its own threads, a caller that wants to wait polls, or
    /// listens with `Store::on_events`).
    fn next_events(
        &self,
        after: u64,
        max: u32,
        wait: Duration,
    ) -> impl Future<Output = Result<EventRead, Self::Error>> + Send;
}

/// What [`SessionEvents::next_events`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRead {
    /// The events, oldest first; none if nothing came in time.
    Events(Vec<Event>),
    /// Retention dropped events after the seq asked for: the reader missed
    /// them, and resumes (accepting the loss) after `oldest_kept - 1`.
    Gap {
        /// The oldest seq kept.
        oldest_kept: u64,
    },
}

/// The store's own answer inside an error, if that is what it is: a
/// network client wraps "no such session" or "limit reached" among its
/// connection failures, and generic code over [`SessionStore`] needs to
/// tell the two apart (a signed-out user from a store that cannot be
/// reached). Implemented for [`StoreError`] here and for the Rust client's
/// error in its crate.
pub trait AsStoreError {
    /// The store error this error is, if it is one.
    fn as_store_error(&self) -> Option<&StoreError>;
}

impl AsStoreError for StoreError {
    fn as_store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}
