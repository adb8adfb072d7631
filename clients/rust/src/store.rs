//! [`SessionStore`] for [`Client`]: each operation is one request with
//! exactly one expected reply tag (SPEC.md §8).
//!
//! Also the client's own check of the limits of SPEC.md §3 before a
//! request is encoded: the codec cannot encode fields longer than their
//! length prefixes, and an owner, key or labels the server would refuse
//! are refused here with the same [`StoreError`], without a round trip.

use std::time::Duration;

use sessiond_protocol::wire::{Reply, Request};
use sessiond_protocol::{
    KeyTtl, Labels, NewSession, Session, SessionId, SessionInfo, SessionStore, StoreError,
};

use crate::client::unexpected;
use crate::{Client, ClientError};

/// Longest owner, in bytes (SPEC.md §3).
pub const MAX_OWNER_LEN: usize = 256;
/// Longest plain key, in bytes (SPEC.md §3).
pub const MAX_KEY_LEN: usize = 4096;

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
}

/// Checks a request against the limits of SPEC.md §3 that do not depend
/// on the server's configuration, answering as the server would. Data
/// and values are only checked against what the wire can carry; the
/// server's own limit is its to enforce, and the frame limit is checked
/// by the connection.
pub(crate) fn check_request(request: &Request) -> Result<(), ClientError> {
    match request {
        Request::Ping | Request::Stats => Ok(()),
        Request::Auth { token } => {
            if token.len() > usize::from(u16::MAX) {
                return Err(ClientError::Config(format!(
                    "the auth token is {} bytes; the protocol carries at most {}",
                    token.len(),
                    u16::MAX
                )));
            }
            Ok(())
        }
        Request::Create(new) => {
            check_owner(&new.owner)?;
            check_labels(&new.labels)?;
            check_data(&new.data)
        }
        Request::Get { .. }
        | Request::Touch { .. }
        | Request::Delete { .. }
        | Request::Rotate { .. } => Ok(()),
        Request::Update { data, .. } => check_data(data),
        Request::List { owner } | Request::Count { owner } | Request::DeleteOwner { owner, .. } => {
            check_owner(owner)
        }
        Request::KeySet { key, value, .. } => {
            check_key(key)?;
            check_data(value)
        }
        Request::KeyGet { key }
        | Request::KeyDelete { key }
        | Request::KeyExpire { key, .. }
        | Request::KeyTtl { key }
        | Request::KeyIncr { key, .. } => check_key(key),
    }
}

fn check_owner(owner: &[u8]) -> Result<(), ClientError> {
    if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
        return Err(StoreError::BadOwner {
            len: owner.len(),
            max: MAX_OWNER_LEN,
        }
        .into());
    }
    Ok(())
}

fn check_key(key: &[u8]) -> Result<(), ClientError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(StoreError::BadKey {
            len: key.len(),
            max: MAX_KEY_LEN,
        }
        .into());
    }
    Ok(())
}

fn check_data(data: &[u8]) -> Result<(), ClientError> {
    // `bytes32` on the wire, and the whole frame's length must fit a
    // `u32` too: keep 1 MiB for the other fields (an owner and labels
    // take at most about 18 KiB).
    let max = (u32::MAX - (1 << 20)) as usize;
    if data.len() > max {
        return Err(StoreError::TooLarge {
            len: data.len(),
            max,
        }
        .into());
    }
    Ok(())
}

fn check_labels(labels: &Labels) -> Result<(), ClientError> {
    let bad = |why: &'static str| Err(StoreError::BadLabels(why.into()).into());
    if labels.len() > Labels::MAX_LABELS {
        return bad("more than 16 labels");
    }
    for (key, value) in labels.iter() {
        if key.is_empty() || key.len() > Labels::MAX_KEY_LEN {
            return bad("a label key must be 1 to 64 bytes");
        }
        if value.len() > Labels::MAX_VALUE_LEN {
            return bad("a label value must be at most 1024 bytes");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_before_encoding() {
        let long = vec![b'x'; 70_000];
        let err = check_request(&Request::Count {
            owner: long.clone(),
        })
        .unwrap_err();
        assert!(matches!(
            err,
            ClientError::Store(StoreError::BadOwner {
                len: 70_000,
                max: 256
            })
        ));
        let err = check_request(&Request::KeyGet { key: Vec::new() }).unwrap_err();
        assert!(matches!(
            err,
            ClientError::Store(StoreError::BadKey { len: 0, .. })
        ));
        let mut labels = Labels::new();
        for i in 0..17 {
            labels.insert(format!("k{i}"), "v");
        }
        let err = check_request(&Request::Create(NewSession::new("u").labels(labels))).unwrap_err();
        assert!(matches!(err, ClientError::Store(StoreError::BadLabels(_))));
        let labels = Labels::new().with("k", "v".repeat(2000));
        let err = check_request(&Request::Create(NewSession::new("u").labels(labels))).unwrap_err();
        assert!(matches!(err, ClientError::Store(StoreError::BadLabels(_))));
        assert!(matches!(
            check_request(&Request::Auth { token: long }),
            Err(ClientError::Config(_))
        ));
        assert!(check_request(&Request::Create(NewSession::new("u").data(vec![0; 10]))).is_ok());
    }
}
