//! The first-class session commands (`SESSION.CREATE`, `SESSION.GET`, …):
//! arguments parsed with Redis's conventions, the store's session
//! operations called directly, sessions written as Redis maps.
//! `protocol/RESP.md` is their reference.
//!
//! A missing session is a null reply, not an error, so that a client
//! reads "logged out" the same way whichever command found it.

use std::time::Duration;

use sessiond_protocol::{LimitPolicy, NewSession, OwnerLimit, SessionId, SessionInfo, StoreError};

use super::{count, flag};
use crate::resp::args::{Args, integer};
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `SESSION.CREATE owner [DATA d] [IDLE secs] [LIFETIME secs]
/// [LABEL k v]... [ID id] [LIMIT n REJECT|EVICT]`: the new id.
pub(crate) fn create(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    let id = client.store.create(new_session(args)?)?;
    Ok(Value::text(id.to_string()))
}

/// `SESSION.GET id [NOTOUCH]`: the session as a map, null if missing.
/// A connection under CLIENT NO-TOUCH ON reads as with NOTOUCH (outside
/// a replication group, where the log's replay has no connection flags).
pub(crate) fn get(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let id = args.bytes()?;
    let touch = match args.rest() {
        [] => !super::clients::no_touch(client),
        [flag] if flag.eq_ignore_ascii_case(b"NOTOUCH") => false,
        [_] => return Err(RespError::Syntax),
        _ => return Err(RespError::Arity(args.name())),
    };
    let id = session_id(id)?;
    let store = client.store;
    let session = match touch {
        true => store.get(&id),
        false => store.peek(&id),
    };
    or_null(session, |session| {
        let mut fields = vec![
            (Value::text("owner"), Value::Bulk(session.owner)),
            (Value::text("data"), Value::Bulk(session.data)),
        ];
        fields.extend(info_fields(session.info));
        Value::Map(fields)
    })
}

/// `SESSION.TOUCH id`: the new expiry time, null if missing.
pub(crate) fn touch(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let id = session_id(args.bytes()?)?;
    or_null(client.store.touch(&id), unsigned)
}

/// `SESSION.SET id data [VERSION v]`: the new version, null if missing.
pub(crate) fn set(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (id, data) = (args.bytes()?, args.bytes()?);
    let expected_version = match args.rest() {
        [] => None,
        [flag, version] if flag.eq_ignore_ascii_case(b"VERSION") => Some(
            u32::try_from(integer(version)?)
                .map_err(|_| RespError::other("version must be between 0 and 4294967295"))?,
        ),
        _ => return Err(RespError::Syntax),
    };
    let id = session_id(id)?;
    or_null(client.store.update(&id, data, expected_version), |v| {
        Value::Integer(i64::from(v))
    })
}

/// `SESSION.DEL id`: 1 if it existed.
pub(crate) fn del(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let id = session_id(args.bytes()?)?;
    Ok(flag(client.store.delete(&id)?))
}

/// `SESSION.ROTATE id`: the session's new id, null if missing.
pub(crate) fn rotate(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let id = session_id(args.bytes()?)?;
    or_null(client.store.rotate(&id), |id| Value::text(id.to_string()))
}

/// `SESSION.LIST owner`: the owner's sessions without their data.
pub(crate) fn list(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let infos = client.store.list(args.bytes()?);
    Ok(Value::Array(
        infos
            .into_iter()
            .map(|info| Value::Map(info_fields(info)))
            .collect(),
    ))
}

/// `SESSION.COUNT owner`.
pub(crate) fn count_owner(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(count(client.store.count(args.bytes()?)))
}

/// `SESSION.DELOWNER owner [KEEP id]`: how many sessions ended.
pub(crate) fn delete_owner(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let owner = args.bytes()?;
    let keep = match args.rest() {
        [] => None,
        [flag, id] if flag.eq_ignore_ascii_case(b"KEEP") => Some(session_id(id)?),
        _ => return Err(RespError::Syntax),
    };
    let ended = client.store.delete_owner(owner, keep.as_ref())?;
    Ok(count(ended))
}

/// A session operation's result as a reply: `reply` of its value, null if
/// the session is missing, other errors as errors.
fn or_null<T>(result: Result<T, StoreError>, reply: impl FnOnce(T) -> Value) -> Reply {
    match result {
        Ok(value) => Ok(reply(value)),
        Err(StoreError::NotFound) => Ok(Value::Null),
        Err(error) => Err(error.into()),
    }
}

/// SESSION.CREATE's arguments as a new session.
fn new_session(mut args: Args<'_>) -> Result<NewSession, RespError> {
    let mut new = NewSession::new(args.bytes()?.to_vec());
    let mut rest = args.rest().iter();
    while let Some(option) = rest.next() {
        let mut next = || rest.next().ok_or(RespError::Syntax);
        match option.to_ascii_uppercase().as_slice() {
            b"DATA" => new.data = next()?.to_vec(),
            b"IDLE" => new.idle = Some(seconds(next()?)?),
            b"LIFETIME" => new.absolute = Some(seconds(next()?)?),
            b"LABEL" => {
                let key = text(next()?)?;
                let value = text(next()?)?;
                new.labels.insert(key, value);
            }
            b"ID" => new.id = Some(session_id(next()?)?),
            b"LIMIT" => {
                let max = next()?;
                let policy = match next()?.to_ascii_uppercase().as_slice() {
                    b"REJECT" => LimitPolicy::Reject,
                    b"EVICT" => LimitPolicy::EvictOldest,
                    _ => return Err(RespError::Syntax),
                };
                let max_sessions = u32::try_from(integer(max)?)
                    .map_err(|_| RespError::other("limit must be between 0 and 4294967295"))?;
                // LIMIT 0 lifts the store's per-owner limit for this create.
                new.limit = Some((max_sessions > 0).then_some(OwnerLimit {
                    max_sessions,
                    policy,
                }));
            }
            _ => return Err(RespError::Syntax),
        }
    }
    Ok(new)
}

/// A session id argument: 22 characters of unpadded base64url.
fn session_id(arg: &[u8]) -> Result<SessionId, RespError> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(RespError::other("invalid session id"))
}

/// A whole number of seconds, zero or more.
fn seconds(arg: &[u8]) -> Result<Duration, RespError> {
    let n = integer(arg)?;
    u64::try_from(n)
        .map(Duration::from_secs)
        .map_err(|_| RespError::other("invalid timeout: must not be negative"))
}

/// A label key or value, which must be UTF-8.
fn text(arg: &[u8]) -> Result<String, RespError> {
    String::from_utf8(arg.to_vec()).map_err(|_| RespError::other("invalid labels: not UTF-8"))
}

fn unsigned(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Everything of a session but its owner and data, as map entries.
fn info_fields(info: SessionInfo) -> Vec<(Value, Value)> {
    let labels = info
        .labels
        .iter()
        .map(|(k, v)| (Value::text(k), Value::text(v)))
        .collect();
    vec![
        (Value::text("id"), Value::text(info.id.to_string())),
        (Value::text("created"), unsigned(info.created_at)),
        (Value::text("last_seen"), unsigned(info.last_seen_at)),
        (Value::text("expires_at"), unsigned(info.expires_at)),
        (Value::text("idle"), unsigned(info.idle_timeout.as_secs())),
        (
            Value::text("absolute"),
            info.absolute_deadline.map_or(Value::Null, unsigned),
        ),
        (
            Value::text("version"),
            Value::Integer(i64::from(info.version)),
        ),
        (Value::text("labels"), Value::Map(labels)),
    ]
}
