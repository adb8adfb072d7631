//! A near cache: the sessions this app server read recently, kept in its
//! own memory and answered from there with no round trip, dropped as the
//! server's event log says they changed (docs/events.md, "Near cache").
//!
//! [`NearCache`] wraps a [`Client`] and is a [`SessionStore`] itself, so
//! code written against the trait (the tower-sessions store, the demo)
//! gets the cache by being handed one. Only session reads are served
//! from the cache; everything else goes to the server as the client
//! sends it.
//!
//! In **strict** mode ([`NearCacheConfig::strict`]) the server answers a
//! delete, kick, rotation or update only once every strict cache has
//! dropped the session or been cut off, and a cache serves nothing
//! without a lease the server renews: once `delete` returns, no app
//! server accepts the session, even one that was stopped or cut off from
//! the network meanwhile. In **relaxed** mode nothing waits; entries go
//! as their events arrive.
//!
//! ```no_run
//! use sessiond_client::{Client, ClientConfig, ClientError, NearCache, NearCacheConfig, SessionStore};
//! use sessiond_client::protocol::NewSession;
//!
//! # async fn run() -> Result<(), ClientError> {
//! let client = Client::connect(ClientConfig::new("127.0.0.1:7878")).await?;
//! let sessions = NearCache::connect(client, NearCacheConfig::strict()).await?;
//! let id = sessions.create(NewSession::new("user:42")).await?;
//! sessions.get(&id).await?; // from the server, then kept
//! sessions.get(&id).await?; // from memory
//! assert_eq!(sessions.stats().hits, 1);
//! # Ok(()) }
//! ```

mod entries;
mod link;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessiond_protocol::wire::CacheMode;
use sessiond_protocol::{
    EventRead, KeyTtl, NewSession, Session, SessionEvents, SessionId, SessionInfo, SessionStore,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Client, ClientError};
use entries::Entries;

/// How a [`NearCache`] behaves: its mode and its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearCacheConfig {
    mode: CacheMode,
    max_entries: usize,
    max_bytes: usize,
}

impl NearCacheConfig {
    /// Deletes, kicks, rotations and updates wait for this cache (see the
    /// module documentation). 10 000 entries, 64 MiB.
    pub fn strict() -> Self {
        NearCacheConfig {
            mode: CacheMode::Strict,
            max_entries: 10_000,
            max_bytes: 64 << 20,
        }
    }

    /// Nothing waits for this cache; it drops entries as their events
    /// arrive, and serves nothing once it has not heard from the server
    /// for the server's bound. Same bounds as [`NearCacheConfig::strict`].
    pub fn relaxed() -> Self {
        NearCacheConfig {
            mode: CacheMode::Relaxed,
            ..NearCacheConfig::strict()
        }
    }

    /// Most sessions kept (at least 1).
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// Most bytes kept, counting each session's data, owner and labels
    /// and 128 bytes for its entry.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }
}

/// What a [`NearCache`] has done, and holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NearCacheStats {
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that went to the server.
    pub misses: u64,
    /// Entries dropped because the server said they changed.
    pub invalidations: u64,
    /// Entries dropped to stay within the bounds.
    pub evictions: u64,
    /// Times everything was dropped: the invalidation connection ended,
    /// or events were missed.
    pub resets: u64,
    /// Sessions kept now.
    pub entries: usize,
    /// Bytes they count for.
    pub bytes: usize,
}

/// A [`Client`] with a near cache (see the module documentation). Cheap
/// to clone; the background tasks end with the last clone.
#[derive(Clone)]
pub struct NearCache {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("client", &self.handle.shared.client)
            .field("stats", &self.stats())
            .finish()
    }
}

struct Handle {
    shared: Arc<Shared>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Handle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the cache and its tasks share.
pub(crate) struct Shared {
    client: Client,
    entries: Mutex<Entries>,
}

impl Shared {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        // Every critical section leaves the table whole.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl NearCache {
    /// Opens the cache's invalidation connection to the node `client`
    /// uses and registers it; returns once it is registered. It
    /// reconnects by itself (dropping everything kept each time) for as
    /// long as the cache lives.
    ///
    /// Must be called within a Tokio runtime.
    ///
    /// # Errors
    /// What the first registration met: the connection's errors, or
    /// [`ClientError::Server`] with `UNAVAILABLE` from a replication
    /// group, which does not take near caches.
    pub async fn connect(
        client: Client,
        config: NearCacheConfig,
    ) -> Result<NearCache, ClientError> {
        let shared = Arc::new(Shared {
            client,
            entries: Mutex::new(Entries::new(config.max_entries, config.max_bytes)),
        });
        let (ready, registered) = oneshot::channel();
        let invalidations =
            tokio::spawn(link::invalidations(Arc::clone(&shared), config.mode, ready));
        let touches = tokio::spawn(link::touches(Arc::clone(&shared)));
        let handle = Arc::new(Handle {
            shared,
            tasks: [invalidations, touches],
        });
        match registered.await {
            Ok(Ok(())) => Ok(NearCache { handle }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ClientError::ConnectionLost),
        }
    }

    /// The client underneath, for what the cache does not wrap.
    pub fn client(&self) -> &Client {
        &self.handle.shared.client
    }

    /// The counters, and what is kept now.
    pub fn stats(&self) -> NearCacheStats {
        self.shared().entries().stats()
    }

    /// [`Client::delete_with_note`], dropping the entry here first.
    ///
    /// # Errors
    /// As [`Client::delete_with_note`].
    pub async fn delete_with_note(&self, id: &SessionId, note: &[u8]) -> Result<bool, ClientError> {
        self.forget(*id);
        let deleted = self.client().delete_with_note(id, note).await;
        self.forget(*id);
        deleted
    }

    /// [`Client::delete_owner_with_note`], dropping the owner's entries
    /// here first.
    ///
    /// # Errors
    /// As [`Client::delete_owner_with_note`].
    pub async fn delete_owner_with_note(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
        note: &[u8],
    ) -> Result<usize, ClientError> {
        self.shared().entries().invalidate_owner(owner);
        let ended = self
            .client()
            .delete_owner_with_note(owner, keep, note)
            .await;
        self.shared().entries().invalidate_owner(owner);
        ended
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Drops an entry this process is about to change; before the write
    /// (nothing reads it meanwhile) and after it (moving the epoch again,
    /// so that no read that started before the write returned keeps its
    /// answer).
    fn forget(&self, id: SessionId) {
        self.shared().entries().invalidate([id]);
    }

    /// A read: from memory if it may be, else from the server, kept
    /// unless an invalidation came meanwhile.
    async fn read(&self, id: &SessionId, touch: bool) -> Result<Session, ClientError> {
        let epoch = {
            let mut entries = self.shared().entries();
            if let Some(session) = entries.lookup(id, Instant::now(), unix_now(), touch) {
                return Ok(session);
            }
            entries.epoch()
        };
        let session = if touch {
            self.client().get(id).await?
        } else {
            self.client().peek(id).await?
        };
        self.shared()
            .entries()
            .insert(session.clone(), epoch, Instant::now());
        Ok(session)
    }
}

/// Now, in Unix seconds.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl SessionStore for NearCache {
    type Error = ClientError;

    async fn create(&self, new: NewSession) -> Result<SessionId, ClientError> {
        self.client().create(new).await
    }

    /// From memory when kept and leased; a hit's touch reaches the server
    /// within a second, coalesced with the others.
    async fn get(&self, id: &SessionId) -> Result<Session, ClientError> {
        self.read(id, true).await
    }

    async fn peek(&self, id: &SessionId) -> Result<Session, ClientError> {
        self.read(id, false).await
    }

    async fn update(
        &self,
        id: &SessionId,
        data: &[u8],
        expected_version: Option<u32>,
    ) -> Result<u32, ClientError> {
        self.forget(*id);
        let version = self.client().update(id, data, expected_version).await;
        self.forget(*id);
        version
    }

    async fn touch(&self, id: &SessionId) -> Result<u64, ClientError> {
        let expires_at = self.client().touch(id).await?;
        self.shared().entries().touched(id, expires_at);
        Ok(expires_at)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, ClientError> {
        self.forget(*id);
        let deleted = self.client().delete(id).await;
        self.forget(*id);
        deleted
    }

    async fn rotate(&self, id: &SessionId) -> Result<SessionId, ClientError> {
        self.forget(*id);
        let rotated = self.client().rotate(id).await;
        self.forget(*id);
        rotated
    }

    async fn list(&self, owner: &[u8]) -> Result<Vec<SessionInfo>, ClientError> {
        self.client().list(owner).await
    }

    async fn count(&self, owner: &[u8]) -> Result<usize, ClientError> {
        self.client().count(owner).await
    }

    async fn delete_owner(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
    ) -> Result<usize, ClientError> {
        self.shared().entries().invalidate_owner(owner);
        let ended = self.client().delete_owner(owner, keep).await;
        self.shared().entries().invalidate_owner(owner);
        ended
    }

    async fn set_key(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), ClientError> {
        self.client().set_key(key, value, ttl).await
    }

    async fn get_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        self.client().get_key(key).await
    }

    async fn delete_key(&self, key: &[u8]) -> Result<bool, ClientError> {
        self.client().delete_key(key).await
    }

    async fn expire_key(&self, key: &[u8], ttl: Option<Duration>) -> Result<bool, ClientError> {
        self.client().expire_key(key, ttl).await
    }

    async fn ttl(&self, key: &[u8]) -> Result<KeyTtl, ClientError> {
        self.client().ttl(key).await
    }

    async fn incr(&self, key: &[u8], delta: i64) -> Result<i64, ClientError> {
        self.client().incr(key, delta).await
    }

    async fn incr_with_ttl(
        &self,
        key: &[u8],
        delta: i64,
        ttl: Duration,
    ) -> Result<i64, ClientError> {
        self.client().incr_with_ttl(key, delta, ttl).await
    }
}

impl SessionEvents for NearCache {
    async fn next_events(
        &self,
        after: u64,
        max: u32,
        wait: Duration,
    ) -> Result<EventRead, ClientError> {
        self.client().next_events(after, max, wait).await
    }
}
