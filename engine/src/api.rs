//! The embedded store as a [`SessionStore`], so applications written
//! against the trait run on it or on the network client alike.
//!
//! Every future here is ready at once: the store's operations never wait on
//! I/O (see `store.rs` on locks), so wrapping them costs nothing.

use std::future::{Future, ready};
use std::time::Duration;

use sessiond_protocol::{
    EventRead, KeyTtl, NewSession, Session, SessionEvents, SessionId, SessionInfo, SessionStore,
    StoreError,
};

use crate::Store;

impl SessionStore for Store {
    type Error = StoreError;

    fn create(
        &self,
        new: NewSession,
    ) -> impl Future<Output = Result<SessionId, StoreError>> + Send {
        ready(Store::create(self, new))
    }

    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Session, StoreError>> + Send {
        ready(Store::get(self, id))
    }

    fn peek(&self, id: &SessionId) -> impl Future<Output = Result<Session, StoreError>> + Send {
        ready(Store::peek(self, id))
    }

    fn update(
        &self,
        id: &SessionId,
        data: &[u8],
        expected_version: Option<u32>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send {
        ready(Store::update(self, id, data, expected_version))
    }

    fn touch(&self, id: &SessionId) -> impl Future<Output = Result<u64, StoreError>> + Send {
        ready(Store::touch(self, id))
    }

    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Store::delete(self, id))
    }

    fn rotate(&self, id: &SessionId) -> impl Future<Output = Result<SessionId, StoreError>> + Send {
        ready(Store::rotate(self, id))
    }

    fn list(
        &self,
        owner: &[u8],
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send {
        ready(Ok(Store::list(self, owner)))
    }

    fn count(&self, owner: &[u8]) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Ok(Store::count(self, owner)))
    }

    fn delete_owner(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Store::delete_owner(self, owner, keep))
    }

    fn set_key(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Store::set_key(self, key, value, ttl))
    }

    fn get_key(
        &self,
        key: &[u8],
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send {
        ready(Store::get_string(self, key))
    }

    fn delete_key(&self, key: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Store::delete_key(self, key))
    }

    fn expire_key(
        &self,
        key: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Store::expire_key(self, key, ttl))
    }

    fn ttl(&self, key: &[u8]) -> impl Future<Output = Result<KeyTtl, StoreError>> + Send {
        ready(Ok(Store::ttl(self, key)))
    }

    fn incr(&self, key: &[u8], delta: i64) -> impl Future<Output = Result<i64, StoreError>> + Send {
        ready(Store::incr(self, key, delta))
    }

    fn incr_with_ttl(
        &self,
        key: &[u8],
        delta: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        ready(Store::incr_with_ttl(self, key, delta, ttl))
    }
}

/// The embedded log answers at once: `wait` is not waited (see the trait).
impl SessionEvents for Store {
    fn next_events(
        &self,
        after: u64,
        max: u32,
        _wait: Duration,
    ) -> impl Future<Output = Result<EventRead, StoreError>> + Send {
        let read = match Store::read_events(self, after, max as usize) {
            Ok(events) => EventRead::Events(events),
            Err(gap) => EventRead::Gap {
                oldest_kept: gap.oldest_kept,
            },
        };
        ready(Ok(read))
    }
}
