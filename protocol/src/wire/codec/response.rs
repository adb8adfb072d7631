//! Response bodies (SPEC.md §9, §10): a reply after status 0, or an error
//! code with its message and details, both ways.

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut, BytesMut};

use super::event::{MIN_EVENT_LEN, put_event, read_event};
use super::reader::Reader;
use super::writer::WireWrite;
use super::{DecodeError, STATUS_OK};
use crate::wire::message::{ErrorCode, Reply, Response, ServerError};
use crate::{KeyTtl, Session, StoreError};

/// The kinds of a TTL reply.
mod ttl_kind {
    /// No such key.
    pub const MISSING: u8 = 0;
    /// The key has no TTL.
    pub const PERSISTENT: u8 = 1;
    /// The key expires; milliseconds follow.
    pub const EXPIRES: u8 = 2;
}

pub(super) fn put_response(out: &mut BytesMut, resp: &Response) {
    match resp {
        Ok(reply) => {
            out.put_u8(STATUS_OK);
            put_reply(out, reply);
        }
        Err(err) => put_error(out, err),
    }
}

fn put_reply(out: &mut BytesMut, reply: &Reply) {
    out.put_u8(reply.tag());
    match reply {
        Reply::Done => {}
        Reply::Id(id) => out.put_id(id),
        Reply::Session(session) => {
            out.put_bytes16(&session.owner);
            out.put_bytes32(&session.data);
            out.put_info(&session.info);
        }
        Reply::Version(version) => out.put_u32(*version),
        Reply::Time(time) => out.put_u64(*time),
        Reply::Bool(value) => out.put_bool(*value),
        Reply::List(infos) => {
            out.put_len32(infos.len());
            for info in infos {
                out.put_info(info);
            }
        }
        Reply::Count(count) => out.put_u32(*count),
        Reply::Value(value) => out.put_opt(value.as_deref(), BytesMut::put_bytes32),
        Reply::Ttl(ttl) => put_ttl(out, ttl),
        Reply::Integer(value) => out.put_i64(*value),
        Reply::Stats(stats) => {
            out.put_len16(stats.len());
            for (name, value) in stats {
                out.put_str8(name);
                out.put_u64(*value);
            }
        }
        Reply::Scan { cursor, keys } => {
            out.put_u64(*cursor);
            out.put_len32(keys.len());
            for key in keys {
                out.put_bytes16(key);
            }
        }
        Reply::Events(events) => {
            out.put_len32(events.len());
            for event in events {
                put_event(out, event);
            }
        }
        Reply::Cache { head, bound } => {
            out.put_u64(*head);
            out.put_u32(u32::try_from(bound.as_millis()).unwrap_or(u32::MAX));
        }
    }
}

/// Fewest bytes a statistic takes on the wire: an empty name and a `u64`.
const MIN_STAT_LEN: usize = 1 + 8;

/// Fewest bytes a scanned key takes on the wire: its `u16` length.
const MIN_SCANNED_KEY_LEN: usize = 2;

/// The tags are those of [`Reply::tag`]; the round-trip tests keep the two
/// tables in step.
pub(super) fn read_reply(r: &mut Reader<'_>) -> Result<Reply, DecodeError> {
    let reply = match r.u8("reply tag")? {
        0x00 => Reply::Done,
        0x01 => Reply::Id(r.id("id")?),
        0x02 => Reply::Session(Session {
            owner: r.bytes16("owner")?.to_vec(),
            data: r.bytes32("data")?.to_vec(),
            info: r.info()?,
        }),
        0x03 => Reply::Version(r.u32("version")?),
        0x04 => Reply::Time(r.u64("time")?),
        0x05 => Reply::Bool(r.bool("bool")?),
        0x06 => Reply::List(r.infos()?),
        0x07 => Reply::Count(r.u32("count")?),
        0x08 => Reply::Value(r.opt("value", Reader::bytes32)?.map(<[u8]>::to_vec)),
        0x09 => Reply::Ttl(read_ttl(r)?),
        0x0A => Reply::Integer(r.i64("integer")?),
        0x0B => {
            let count = r.u16("statistics count")?.into();
            Reply::Stats(r.counted(count, MIN_STAT_LEN, |r| {
                Ok((r.str8("statistic name")?.to_owned(), r.u64("statistic")?))
            })?)
        }
        0x0C => {
            let cursor = r.u64("cursor")?;
            let count = r.len32("key count")?;
            Reply::Scan {
                cursor,
                keys: r.counted(count, MIN_SCANNED_KEY_LEN, |r| {
                    Ok(r.bytes16("key")?.to_vec())
                })?,
            }
        }
        0x0D => {
            let count = r.len32("event count")?;
            Reply::Events(r.counted(count, MIN_EVENT_LEN, read_event)?)
        }
        0x0E => Reply::Cache {
            head: r.u64("head")?,
            bound: std::time::Duration::from_millis(r.u32("bound")?.into()),
        },
        tag => return Err(DecodeError::UnknownTag(tag)),
    };
    Ok(reply)
}

/// A TTL: `u8` kind, `u64` milliseconds (0 unless the key expires).
fn put_ttl(out: &mut BytesMut, ttl: &KeyTtl) {
    match *ttl {
        KeyTtl::Missing => {
            out.put_u8(ttl_kind::MISSING);
            out.put_u64(0);
        }
        KeyTtl::Persistent => {
            out.put_u8(ttl_kind::PERSISTENT);
            out.put_u64(0);
        }
        KeyTtl::ExpiresIn(left) => {
            out.put_u8(ttl_kind::EXPIRES);
            out.put_millis(left);
        }
    }
}

fn read_ttl(r: &mut Reader<'_>) -> Result<KeyTtl, DecodeError> {
    let kind = r.u8("TTL kind")?;
    let millis = r.u64("TTL")?;
    match (kind, millis) {
        (ttl_kind::EXPIRES, millis) => Ok(KeyTtl::ExpiresIn(Duration::from_millis(millis))),
        (ttl_kind::MISSING, 0) => Ok(KeyTtl::Missing),
        (ttl_kind::PERSISTENT, 0) => Ok(KeyTtl::Persistent),
        (ttl_kind::MISSING | ttl_kind::PERSISTENT, millis) => Err(DecodeError::invalid(
            "TTL",
            millis,
            "0 for a key without a TTL",
        )),
        (other, _) => Err(DecodeError::invalid("TTL kind", other, "0, 1 or 2")),
    }
}

/// An error: code, `str16` message, then the code's details.
fn put_error(out: &mut BytesMut, err: &ServerError) {
    out.put_u8(err.code() as u8);
    out.put_str16(truncate(&err.to_string(), u16::MAX.into()));
    match err {
        ServerError::Store(err) => put_store_details(out, err),
        ServerError::UnknownOp(op) => out.put_u8(*op),
        ServerError::FrameTooLarge { max } => out.put_u32(*max),
        ServerError::UnsupportedVersion { lowest, highest } => {
            out.put_u16(*lowest);
            out.put_u16(*highest);
        }
        // No leader known travels as the empty string.
        ServerError::NotLeader { leader } => {
            out.put_str16(truncate(leader.as_deref().unwrap_or(""), u16::MAX.into()));
        }
        ServerError::EventsGap { after, oldest_kept } => {
            out.put_u64(*after);
            out.put_u64(*oldest_kept);
        }
        ServerError::AuthRequired
        | ServerError::AuthFailed
        | ServerError::Malformed(_)
        | ServerError::BadHandshake(_)
        | ServerError::ShuttingDown
        | ServerError::Busy
        | ServerError::Unavailable(_) => {}
    }
}

/// Lengths and limits beyond `u32::MAX` go out as `u32::MAX`.
fn put_store_details(out: &mut BytesMut, err: &StoreError) {
    let saturated = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    match err {
        StoreError::BadOwner { len, max }
        | StoreError::TooLarge { len, max }
        | StoreError::BadKey { len, max } => {
            out.put_u32(saturated(*len));
            out.put_u32(saturated(*max));
        }
        StoreError::SessionLimit { limit } => out.put_u32(*limit),
        StoreError::VersionMismatch { expected, actual } => {
            out.put_u32(*expected);
            out.put_u32(*actual);
        }
        StoreError::OutOfMemory {
            used,
            limit,
            needed,
        } => {
            out.put_u64(*used);
            out.put_u64(*limit);
            out.put_u64(*needed);
        }
        StoreError::NotFound
        | StoreError::IdTaken
        | StoreError::BadLabels(_)
        | StoreError::BadTimeout(_)
        | StoreError::NotAnInteger
        | StoreError::Overflow
        | StoreError::WrongType
        | StoreError::Persistence(_) => {}
    }
}

pub(super) fn read_error(code: u8, r: &mut Reader<'_>) -> Result<ServerError, DecodeError> {
    let code = ErrorCode::from_u8(code).ok_or(DecodeError::UnknownErrorCode(code))?;
    let message = r.str16("error message")?;
    let err = match code {
        ErrorCode::NotFound => StoreError::NotFound.into(),
        ErrorCode::IdTaken => StoreError::IdTaken.into(),
        ErrorCode::BadOwner => StoreError::BadOwner {
            len: r.len32("length")?,
            max: r.len32("max")?,
        }
        .into(),
        ErrorCode::TooLarge => StoreError::TooLarge {
            len: r.len32("length")?,
            max: r.len32("max")?,
        }
        .into(),
        ErrorCode::BadKey => StoreError::BadKey {
            len: r.len32("length")?,
            max: r.len32("max")?,
        }
        .into(),
        ErrorCode::BadLabels => {
            let reason = variable_part(message, StoreError::BadLabels(Cow::Borrowed("")));
            StoreError::BadLabels(Cow::Owned(reason)).into()
        }
        ErrorCode::BadTimeout => {
            let reason = variable_part(message, StoreError::BadTimeout(Cow::Borrowed("")));
            StoreError::BadTimeout(Cow::Owned(reason)).into()
        }
        ErrorCode::SessionLimit => StoreError::SessionLimit {
            limit: r.u32("limit")?,
        }
        .into(),
        ErrorCode::VersionMismatch => StoreError::VersionMismatch {
            expected: r.u32("expected version")?,
            actual: r.u32("actual version")?,
        }
        .into(),
        ErrorCode::OutOfMemory => StoreError::OutOfMemory {
            used: r.u64("used")?,
            limit: r.u64("limit")?,
            needed: r.u64("needed")?,
        }
        .into(),
        ErrorCode::NotAnInteger => StoreError::NotAnInteger.into(),
        ErrorCode::Overflow => StoreError::Overflow.into(),
        ErrorCode::WrongType => StoreError::WrongType.into(),
        ErrorCode::Persistence => {
            let reason = variable_part(message, StoreError::Persistence(Cow::Borrowed("")));
            StoreError::Persistence(Cow::Owned(reason)).into()
        }
        ErrorCode::AuthRequired => ServerError::AuthRequired,
        ErrorCode::AuthFailed => ServerError::AuthFailed,
        ErrorCode::UnknownOp => ServerError::UnknownOp(r.u8("opcode")?),
        ErrorCode::Malformed => ServerError::Malformed(variable_part(
            message,
            ServerError::Malformed(String::new()),
        )),
        ErrorCode::FrameTooLarge => ServerError::FrameTooLarge { max: r.u32("max")? },
        ErrorCode::UnsupportedVersion => ServerError::UnsupportedVersion {
            lowest: r.u16("lowest version")?,
            highest: r.u16("highest version")?,
        },
        ErrorCode::BadHandshake => ServerError::BadHandshake(variable_part(
            message,
            ServerError::BadHandshake(String::new()),
        )),
        ErrorCode::ShuttingDown => ServerError::ShuttingDown,
        ErrorCode::Busy => ServerError::Busy,
        ErrorCode::NotLeader => {
            let leader = r.str16("leader address")?;
            ServerError::NotLeader {
                leader: (!leader.is_empty()).then(|| leader.to_owned()),
            }
        }
        ErrorCode::Unavailable => ServerError::Unavailable(variable_part(
            message,
            ServerError::Unavailable(String::new()),
        )),
        ErrorCode::EventsGap => ServerError::EventsGap {
            after: r.u64("after")?,
            oldest_kept: r.u64("oldest kept")?,
        },
    };
    Ok(err)
}

/// The text that follows the fixed prefix in `message`, where `empty` is
/// the error variant with an empty text (so that its `Display` is exactly
/// the prefix). A message without the prefix is kept whole.
fn variable_part(message: &str, empty: impl Into<ServerError>) -> String {
    let prefix = empty.into().to_string();
    message.strip_prefix(&prefix).unwrap_or(message).to_owned()
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
