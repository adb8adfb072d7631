//! The first-class session commands of the RESP face (`SESSION.CREATE`,
//! `SESSION.GET`, …): arguments parsed into the native protocol's
//! [`Request`]s, run through the one command layer, and the replies
//! written as Redis values. Nothing here touches the store directly.
//! `protocol/RESP.md` is their reference.

use std::time::Duration;

use bytes::Bytes;
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_protocol::{LimitPolicy, NewSession, OwnerLimit, SessionId, SessionInfo, StoreError};

use super::errors::{SYNTAX, unexpected, wrong_arity};
use super::reply::Value;
use super::{integer, store_error};
use crate::Shared;
use crate::commands::{self, Command, Output};

/// `ERR invalid session id`
pub(crate) const INVALID_ID: &str = "invalid session id";

/// Redis-style arity of each session command (negative: a minimum).
pub(super) fn arity(name: &str) -> Option<i32> {
    Some(match name {
        "session.touch" | "session.del" | "session.rotate" | "session.list" | "session.count" => 2,
        "session.create" | "session.get" | "session.delowner" => -2,
        "session.set" => -3,
        _ => return None,
    })
}

/// Runs a session command whose arity [`arity`] accepted.
pub(super) fn run(name: &str, args: &[Bytes], shared: &Shared) -> Result<Value, Value> {
    let owner = || args[0].to_vec();
    match name {
        "session.create" => match call(shared, create(args)?)? {
            Some(Reply::Id(id)) => Ok(Value::text(id.to_string())),
            other => Err(unexpected(other)),
        },
        "session.get" => {
            let touch = match &args[1..] {
                [] => true,
                [flag] if flag.eq_ignore_ascii_case(b"NOTOUCH") => false,
                [_] => return Err(Value::err(SYNTAX)),
                _ => return Err(wrong_arity(name)),
            };
            let id = session_id(&args[0])?;
            match call(shared, Request::Get { id, touch })? {
                None => Ok(Value::Null),
                Some(Reply::Session(session)) => {
                    let mut fields = vec![
                        (Value::text("owner"), Value::Bulk(session.owner)),
                        (Value::text("data"), Value::Bulk(session.data)),
                    ];
                    fields.extend(info_fields(session.info));
                    Ok(Value::Map(fields))
                }
                other => Err(unexpected(other)),
            }
        }
        "session.touch" => {
            let id = session_id(&args[0])?;
            match call(shared, Request::Touch { id })? {
                None => Ok(Value::Null),
                Some(Reply::Time(at)) => Ok(unsigned(at)),
                other => Err(unexpected(other)),
            }
        }
        "session.set" => {
            let expected_version = match &args[2..] {
                [] => None,
                [flag, version] if flag.eq_ignore_ascii_case(b"VERSION") => Some(
                    u32::try_from(integer(version)?)
                        .map_err(|_| Value::err("version must be between 0 and 4294967295"))?,
                ),
                _ => return Err(Value::err(SYNTAX)),
            };
            let request = Request::Update {
                id: session_id(&args[0])?,
                expected_version,
                data: args[1].to_vec(),
            };
            match call(shared, request)? {
                None => Ok(Value::Null),
                Some(Reply::Version(v)) => Ok(Value::Integer(i64::from(v))),
                other => Err(unexpected(other)),
            }
        }
        "session.del" => {
            let id = session_id(&args[0])?;
            match call(shared, Request::Delete { id })? {
                Some(Reply::Bool(gone)) => Ok(Value::Integer(i64::from(gone))),
                other => Err(unexpected(other)),
            }
        }
        "session.rotate" => {
            let id = session_id(&args[0])?;
            match call(shared, Request::Rotate { id })? {
                None => Ok(Value::Null),
                Some(Reply::Id(id)) => Ok(Value::text(id.to_string())),
                other => Err(unexpected(other)),
            }
        }
        "session.list" => match call(shared, Request::List { owner: owner() })? {
            Some(Reply::List(infos)) => Ok(Value::Array(
                infos
                    .into_iter()
                    .map(|info| Value::Map(info_fields(info)))
                    .collect(),
            )),
            other => Err(unexpected(other)),
        },
        "session.count" => match call(shared, Request::Count { owner: owner() })? {
            Some(Reply::Count(n)) => Ok(Value::Integer(i64::from(n))),
            other => Err(unexpected(other)),
        },
        "session.delowner" => {
            let keep = match &args[1..] {
                [] => None,
                [flag, id] if flag.eq_ignore_ascii_case(b"KEEP") => Some(session_id(id)?),
                _ => return Err(Value::err(SYNTAX)),
            };
            let request = Request::DeleteOwner {
                owner: owner(),
                keep,
            };
            match call(shared, request)? {
                Some(Reply::Count(n)) => Ok(Value::Integer(i64::from(n))),
                other => Err(unexpected(other)),
            }
        }
        _ => unreachable!("every command with an arity is handled"),
    }
}

/// Runs a native request through the command layer: `Ok(None)` when the
/// session is not found (the reply is then null), session errors in
/// their RESP spelling.
fn call(shared: &Shared, request: Request) -> Result<Option<Reply>, Value> {
    match commands::run(&shared.store, &shared.stats, Command::Native(request)) {
        Ok(Output::Reply(reply)) => Ok(Some(reply)),
        Ok(other) => Err(unexpected(other)),
        Err(ServerError::Store(StoreError::NotFound)) => Ok(None),
        Err(ServerError::Store(StoreError::SessionLimit { limit })) => Err(Value::Error(format!(
            "SESSIONLIMIT owner already has {limit} sessions"
        ))),
        Err(ServerError::Store(StoreError::VersionMismatch { expected, actual })) => {
            Err(Value::Error(format!(
                "VERSIONMISMATCH expected {expected}, session is at {actual}"
            )))
        }
        Err(error) => Err(store_error(&error)),
    }
}

/// `SESSION.CREATE owner [DATA d] [IDLE secs] [LIFETIME secs]
/// [LABEL k v]... [ID id] [LIMIT n REJECT|EVICT]`.
fn create(args: &[Bytes]) -> Result<Request, Value> {
    let mut new = NewSession::new(args[0].to_vec());
    let mut rest = args[1..].iter();
    let syntax = || Value::err(SYNTAX);
    while let Some(option) = rest.next() {
        let mut next = || rest.next().ok_or_else(syntax);
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
                    _ => return Err(syntax()),
                };
                let max_sessions = u32::try_from(integer(max)?)
                    .map_err(|_| Value::err("limit must be between 0 and 4294967295"))?;
                // LIMIT 0 lifts the store's per-owner limit for this create.
                new.limit = Some((max_sessions > 0).then_some(OwnerLimit {
                    max_sessions,
                    policy,
                }));
            }
            _ => return Err(syntax()),
        }
    }
    Ok(Request::Create(new))
}

/// A session id argument: 22 characters of unpadded base64url.
fn session_id(arg: &[u8]) -> Result<SessionId, Value> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Value::err(INVALID_ID))
}

/// A whole number of seconds, zero or more.
fn seconds(arg: &[u8]) -> Result<Duration, Value> {
    let n = integer(arg)?;
    u64::try_from(n)
        .map(Duration::from_secs)
        .map_err(|_| Value::err("invalid timeout: must not be negative"))
}

/// A label key or value, which must be UTF-8.
fn text(arg: &[u8]) -> Result<String, Value> {
    String::from_utf8(arg.to_vec()).map_err(|_| Value::err("invalid labels: not UTF-8"))
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
