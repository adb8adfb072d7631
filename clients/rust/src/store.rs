//! [`SessionStore`] for [`Client`]: each operation is one request with
//! exactly one expected reply tag (SPEC.md §8).

use std::time::Duration;

use sessiond_protocol::wire::{Reply, Request};
use sessiond_protocol::{KeyTtl, NewSession, Session, SessionId, SessionInfo, SessionStore};

use crate::error::unexpected;
use crate::{Client, ClientError};

impl SessionStore for Client {
    type Error = ClientError;

    async fn create(&self, new: NewSession) -> Result<SessionId, ClientError> {
        match self.request(Request::Create(new)).await? {
            Reply::Id(id) => Ok(id),
            other => Err(unexpected("CREATE", "ID", &other)),
        }
    }

    async fn get(&self, id: &SessionId) -> Result<Session, ClientError> {
        let request = Request::Get {
            id: *id,
            touch: true,
        };
        match self.request(request).await? {
            Reply::Session(session) => Ok(session),
            other => Err(unexpected("GET", "SESSION", &other)),
        }
    }

    async fn peek(&self, id: &SessionId) -> Result<Session, ClientError> {
        let request = Request::Get {
            id: *id,
            touch: false,
        };
        match self.request(request).await? {
            Reply::Session(session) => Ok(session),
            other => Err(unexpected("GET", "SESSION", &other)),
        }
    }

    async fn update(
        &self,
        id: &SessionId,
        data: &[u8],
        expected_version: Option<u32>,
    ) -> Result<u32, ClientError> {
        let request = Request::Update {
            id: *id,
            expected_version,
            data: data.to_vec(),
        };
        match self.request(request).await? {
            Reply::Version(version) => Ok(version),
            other => Err(unexpected("UPDATE", "VERSION", &other)),
        }
    }

    async fn touch(&self, id: &SessionId) -> Result<u64, ClientError> {
        match self.request(Request::Touch { id: *id }).await? {
            Reply::Time(expires_at) => Ok(expires_at),
            other => Err(unexpected("TOUCH", "TIME", &other)),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, ClientError> {
        match self.request(Request::Delete { id: *id }).await? {
            Reply::Bool(existed) => Ok(existed),
            other => Err(unexpected("DELETE", "BOOL", &other)),
        }
    }

    async fn rotate(&self, id: &SessionId) -> Result<SessionId, ClientError> {
        match self.request(Request::Rotate { id: *id }).await? {
            Reply::Id(id) => Ok(id),
            other => Err(unexpected("ROTATE", "ID", &other)),
        }
    }

    async fn list(&self, owner: &[u8]) -> Result<Vec<SessionInfo>, ClientError> {
        let request = Request::List {
            owner: owner.to_vec(),
        };
        match self.request(request).await? {
            Reply::List(infos) => Ok(infos),
            other => Err(unexpected("LIST", "LIST", &other)),
        }
    }

    async fn count(&self, owner: &[u8]) -> Result<usize, ClientError> {
        let request = Request::Count {
            owner: owner.to_vec(),
        };
        match self.request(request).await? {
            Reply::Count(n) => Ok(n as usize),
            other => Err(unexpected("COUNT", "COUNT", &other)),
        }
    }

    async fn delete_owner(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
    ) -> Result<usize, ClientError> {
        let request = Request::DeleteOwner {
            owner: owner.to_vec(),
            keep: keep.copied(),
        };
        match self.request(request).await? {
            Reply::Count(n) => Ok(n as usize),
            other => Err(unexpected("DELETE_OWNER", "COUNT", &other)),
        }
    }

    async fn set_key(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), ClientError> {
        let request = Request::KeySet {
            key: key.to_vec(),
            ttl,
            value: value.to_vec(),
        };
        match self.request(request).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected("KEY_SET", "DONE", &other)),
        }
    }

    async fn get_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        match self.request(Request::KeyGet { key: key.to_vec() }).await? {
            Reply::Value(value) => Ok(value),
            other => Err(unexpected("KEY_GET", "VALUE", &other)),
        }
    }

    async fn delete_key(&self, key: &[u8]) -> Result<bool, ClientError> {
        match self
            .request(Request::KeyDelete { key: key.to_vec() })
            .await?
        {
            Reply::Bool(existed) => Ok(existed),
            other => Err(unexpected("KEY_DELETE", "BOOL", &other)),
        }
    }

    async fn expire_key(&self, key: &[u8], ttl: Option<Duration>) -> Result<bool, ClientError> {
        let request = Request::KeyExpire {
            key: key.to_vec(),
            ttl,
        };
        match self.request(request).await? {
            Reply::Bool(exists) => Ok(exists),
            other => Err(unexpected("KEY_EXPIRE", "BOOL", &other)),
        }
    }

    async fn ttl(&self, key: &[u8]) -> Result<KeyTtl, ClientError> {
        match self.request(Request::KeyTtl { key: key.to_vec() }).await? {
            Reply::Ttl(ttl) => Ok(ttl),
            other => Err(unexpected("KEY_TTL", "TTL", &other)),
        }
    }

    async fn incr(&self, key: &[u8], delta: i64) -> Result<i64, ClientError> {
        let request = Request::KeyIncr {
            key: key.to_vec(),
            delta,
        };
        match self.request(request).await? {
            Reply::Integer(n) => Ok(n),
            other => Err(unexpected("KEY_INCR", "INTEGER", &other)),
        }
    }

    async fn incr_with_ttl(
        &self,
        key: &[u8],
        delta: i64,
        ttl: Duration,
    ) -> Result<i64, ClientError> {
        let request = Request::KeyIncrTtl {
            key: key.to_vec(),
            delta,
            ttl,
        };
        match self.request(request).await? {
            Reply::Integer(n) => Ok(n),
            other => Err(unexpected("KEY_INCR_TTL", "INTEGER", &other)),
        }
    }
}
