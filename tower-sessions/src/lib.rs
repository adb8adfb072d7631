//! [`SessiondSessionStore`]: a [tower-sessions] store over sessiond, the
//! embedded `sessiond::Store` and the network `sessiond_client::Client`
//! alike: it is generic over [`SessionStore`], so it depends on neither.
//!
//! An axum application switches from another store with one line, and
//! gains what no other tower-sessions store has: every session is filed
//! under its owner, the user id a login put into the session, so the
//! application can list a user's devices and log them out everywhere.
//!
//! ```
//! use sessiond_protocol::{SessionInfo, SessionStore};
//! use tower_sessions_sessiond_store::SessiondSessionStore;
//! use tower_sessions::SessionManagerLayer;
//!
//! let engine = sessiond::Store::new(sessiond::StoreConfig::default());
//! // Was: let store = RedisStore::new(pool);
//! let store = SessiondSessionStore::new(engine).with_owner_field("user_id");
//! let layer = SessionManagerLayer::new(store.clone()).with_always_save(true);
//! # let _ = layer;
//!
//! // In handlers, `store()` is the sessiond store, embedded or a client:
//! async fn devices<S: SessionStore>(
//!     store: &SessiondSessionStore<S>,
//!     user: &str,
//! ) -> Result<Vec<SessionInfo>, S::Error> {
//!     store.store().list(user.as_bytes()).await
//! }
//! async fn log_out_everywhere<S: SessionStore>(
//!     store: &SessiondSessionStore<S>,
//!     user: &str,
//! ) -> Result<usize, S::Error> {
//!     store.store().delete_owner(user.as_bytes(), None).await
//! }
//! ```
//!
//! # How a record is kept
//! - **Id**: tower-sessions' own, as the same 16 bytes ([`session_id`]);
//!   the cookie's value is the id that `list` shows.
//! - **Data and expiry date**: JSON, `{"expiry_ns": …, "data": {…}}`, in
//!   the session's data.
//! - **Expiry**: tower-sessions gives an absolute expiry date, recomputed at
//!   every save (two weeks, or the `Expiry::OnInactivity` duration, from
//!   now). The session gets an idle timeout reaching that date and no
//!   absolute lifetime, so the next save, an `update`, restarts the same
//!   clock: sessiond ends the session at the expiry date (in its whole
//!   seconds, so up to two seconds later), and `load` refuses a record past
//!   it at once. `load` reads without touching, so a request that does not
//!   save never moves the deadline; for sliding expiry, and a fresh "last
//!   seen" in device lists, use `with_always_save(true)` on the layer.
//!   An expiry date changed otherwise (`Expiry::AtDateTime`) re-creates the
//!   session with the new timeout. The store's default timeouts never
//!   apply.
//! - **Owner**: from a field of the record's data
//!   ([`with_owner_field`](SessiondSessionStore::with_owner_field), a
//!   pointer such as [`AXUM_LOGIN_USER_ID`], or a closure). A session
//!   without one is filed under [`ANONYMOUS_OWNER_PREFIX`] and its own id.
//!   When a save names another owner (a visitor logs in), the session is
//!   deleted and created again under the same id: a concurrent request of
//!   that session may find it missing for that moment. (tower-sessions'
//!   `cycle_id` at login, which axum-login does, avoids this: the new id
//!   is created under the new owner.)
//! - **Per-owner limits**: the store's limit applies to logged-in users.
//!   Under the evict-oldest policy a login ends the user's least recently
//!   seen session; under the reject policy the save that would exceed it
//!   fails (tower-sessions answers 500) and the session is gone, so an
//!   application with that policy checks `count(owner)` before logging a
//!   user in, to refuse with a message of its own.
//! - **Revocation sticks**: a save of a session that is gone (revoked,
//!   logged out everywhere, or expired while its request ran) is dropped,
//!   not written back as other stores do, so a request in flight cannot
//!   log a revoked device in again; its next request has no session.
//! - **Concurrent saves** of one session: the last one wins, as with every
//!   tower-sessions store (each request writes the whole record). A save
//!   that finds the session changed between reading and writing it (its
//!   version moved) starts over. One race remains: versions start again
//!   at 1 when a session is re-created, so a save that read the session
//!   just before another save moved it to a new owner can write its data
//!   under that owner. It takes two requests of one session saving
//!   different users at the same moment, which a login that cycles the id
//!   (`Session::cycle_id`, as axum-login does, and as protection against
//!   session fixation asks anyway) rules out: the logged-in session is a
//!   new id, created under its user.
//! - **Cost**: a load is one read; a save is a read and an update (two
//!   round trips to a daemon), and a re-create adds a delete.
//! - **Expired records** are removed by sessiond itself, within a second of
//!   their deadline; [`ExpiredDeletion`] is implemented as a no-op only so
//!   that code written for stores that need a deletion task still compiles.
//!
//! [tower-sessions]: https://docs.rs/tower-sessions

mod owner;
mod record;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use sessiond_protocol::AsStoreError;
use sessiond_protocol::{Labels, NewSession, Session, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, Error, ExpiredDeletion};

use owner::OwnerRule;
pub use owner::{ANONYMOUS_OWNER_PREFIX, AXUM_LOGIN_USER_ID};
pub use record::{session_id, tower_id};

/// How often a create or save starts over before it gives up: on an id
/// collision, or when a concurrent save changed the session between its
/// read and its write. Each needs a race lost or 64 random bits to match.
const ATTEMPTS: usize = 8;

/// A closure that labels a record's session for device lists.
type LabelFn = dyn Fn(&Record) -> Labels + Send + Sync;

/// A tower-sessions store keeping records in any sessiond
/// [`SessionStore`]: the embedded `sessiond::Store` or a
/// `sessiond_client::Client` of a daemon. See the [crate docs](crate).
pub struct SessiondSessionStore<S> {
    store: S,
    owner: OwnerRule,
    labels: Option<Arc<LabelFn>>,
}

impl<S> SessiondSessionStore<S> {
    /// A store over `store` whose sessions have no owner (each is
    /// anonymous) until one of the `with_owner_*` methods says where the
    /// user id is.
    pub fn new(store: S) -> Self {
        SessiondSessionStore {
            store,
            owner: OwnerRule::Anonymous,
            labels: None,
        }
    }

    /// Files each session under the value of `key` in its data (a string
    /// as it is, a number as its digits), e.g. `"user_id"` after
    /// `session.insert("user_id", 42)`. Null, empty or missing means
    /// anonymous.
    pub fn with_owner_field(mut self, key: &str) -> Self {
        self.owner = OwnerRule::field(key);
        self
    }

    /// Files each session under the value at a JSON pointer into its data,
    /// whose first segment is the key: [`AXUM_LOGIN_USER_ID`] for
    /// axum-login, which keeps the user id inside an entry of its own.
    pub fn with_owner_pointer(mut self, pointer: &str) -> Self {
        self.owner = OwnerRule::Pointer(pointer.to_owned());
        self
    }

    /// Files each session under the owner a closure names (`None` or empty
    /// for anonymous): for a prefix (`user:42`) or a computed owner.
    pub fn with_owner_fn(
        mut self,
        owner: impl Fn(&Record) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.owner = OwnerRule::Custom(Arc::new(owner));
        self
    }

    /// Labels each session for device lists, from its record (a user agent
    /// the application keeps in the session, say). Labels are written when
    /// the session is created; a save whose labels differ re-creates it.
    pub fn with_labels(
        mut self,
        labels: impl Fn(&Record) -> Labels + Send + Sync + 'static,
    ) -> Self {
        self.labels = Some(Arc::new(labels));
        self
    }

    /// The sessiond store underneath: for `list`, `count` and
    /// `delete_owner` by the owners this store files sessions under.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The session a record should be: owner, data, labels, and an idle
    /// timeout reaching its expiry date (`None` if that has passed).
    fn wanted(&self, record: &Record) -> Result<Option<NewSession>, Error> {
        let Some(lifetime) = record::lifetime(record.expiry_date) else {
            return Ok(None);
        };
        let labels = self.labels.as_ref().map_or_else(Labels::new, |f| f(record));
        let new = NewSession::new(self.owner.owner_of(record)?)
            .data(record::encode(record)?)
            .labels(labels)
            .idle_timeout(lifetime)
            .absolute_lifetime(Duration::ZERO)
            .with_id(session_id(record.id));
        Ok(Some(new))
    }
}

impl<S: SessionStore<Error: AsStoreError>> SessiondSessionStore<S> {
    /// Deletes a session; says whether a live one was there.
    async fn remove(&self, id: &SessionId) -> Result<bool, Error> {
        self.store
            .delete(id)
            .await
            .map_err(|e| backend("delete", &e))
    }
}

/// Whether an update alone turns `current` into `wanted`: same owner and
/// labels, and the same idle timeout with no absolute deadline, which the
/// update restarts.
fn update_suffices(current: &Session, wanted: &NewSession) -> bool {
    current.owner == wanted.owner
        && current.info.labels == wanted.labels
        && current.info.absolute_deadline.is_none()
        && Some(current.info.idle_timeout) == wanted.idle
}

/// A failure of the store, as tower-sessions reports it.
fn backend(operation: &str, err: &impl fmt::Display) -> Error {
    Error::Backend(format!("sessiond {operation}: {err}"))
}

#[async_trait]
impl<S> session_store::SessionStore for SessiondSessionStore<S>
where
    S: SessionStore<Error: AsStoreError> + 'static,
{
    /// Creates the record under its own id, or under a fresh one if that is
    /// taken (what tower-sessions asks of stores). A record already expired
    /// is not kept at all: `load` would never return it.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        for _ in 0..ATTEMPTS {
            let Some(new) = self.wanted(record)? else {
                return Ok(());
            };
            match self.store.create(new).await {
                Ok(_) => return Ok(()),
                Err(e) if e.as_store_error() == Some(&StoreError::IdTaken) => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend("create", &e)),
            }
        }
        Err(Error::Backend(format!(
            "sessiond create: {ATTEMPTS} fresh ids in a row were taken"
        )))
    }

    /// Writes the record over its session: one `update` when owner, labels
    /// and timeout still fit, else the session is created again under the
    /// same id (see the module docs). A session that is gone stays gone,
    /// and a record already expired is deleted.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let id = session_id(record.id);
        let Some(wanted) = self.wanted(record)? else {
            self.remove(&id).await?;
            return Ok(());
        };
        for _ in 0..ATTEMPTS {
            let current = match self.store.peek(&id).await {
                Ok(current) => current,
                // Revoked, logged out everywhere or expired while the
                // request ran: writing it back would undo that.
                Err(e) if e.as_store_error() == Some(&StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(backend("save (read)", &e)),
            };
            if update_suffices(&current, &wanted) {
                let version = Some(current.info.version);
                match self.store.update(&id, &wanted.data, version).await {
                    Ok(_) => return Ok(()),
                    Err(e) => match e.as_store_error() {
                        Some(StoreError::NotFound | StoreError::VersionMismatch { .. }) => {}
                        _ => return Err(backend("save (update)", &e)),
                    },
                }
            } else if !self.remove(&id).await? {
                return Ok(()); // gone between the read and the delete
            } else {
                match self.store.create(wanted.clone()).await {
                    Ok(_) => return Ok(()),
                    // A concurrent save re-created it first: read again.
                    Err(e) if e.as_store_error() == Some(&StoreError::IdTaken) => {}
                    Err(e) => return Err(backend("save (create)", &e)),
                }
            }
        }
        Err(Error::Backend(format!(
            "sessiond save: the session changed under {ATTEMPTS} concurrent saves in a row"
        )))
    }

    /// The record, if its session is alive and its expiry date has not
    /// passed. Reads without touching: only a save moves the deadline.
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let session = match self.store.peek(&session_id(*id)).await {
            Ok(session) => session,
            Err(e) if e.as_store_error() == Some(&StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(backend("load", &e)),
        };
        let record = record::decode(*id, &session.data)?;
        Ok((record.expiry_date > OffsetDateTime::now_utc()).then_some(record))
    }

    /// Deletes the record's session, if there is one.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.remove(&session_id(*id)).await.map(drop)
    }
}

/// A no-op: sessiond deletes expired sessions itself, within a second of
/// their deadline, so there is nothing for a deletion task to do. Here so
/// that an application moving from a store that needs one (the SQL
/// stores) keeps compiling.
#[async_trait]
impl<S> ExpiredDeletion for SessiondSessionStore<S>
where
    S: SessionStore<Error: AsStoreError> + 'static,
{
    async fn delete_expired(&self) -> session_store::Result<()> {
        Ok(())
    }
}

impl<S: Clone> Clone for SessiondSessionStore<S> {
    fn clone(&self) -> Self {
        SessiondSessionStore {
            store: self.store.clone(),
            owner: self.owner.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// Shows how owners are found, not the store (which need not be `Debug`);
/// tower-sessions requires stores to be `Debug`.
impl<S> fmt::Debug for SessiondSessionStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessiondSessionStore")
            .field("owner", &self.owner)
            .field("labels", &self.labels.is_some())
            .finish_non_exhaustive()
    }
}
