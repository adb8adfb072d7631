//! Frames and message bodies of protocol version 1 (SPEC.md §6, §8–10).
//!
//! The server and every Rust client encode and decode through these few
//! functions, so the bytes are specified once, here and in SPEC.md, and the
//! golden vectors in `protocol/vectors/` pin them down for clients in
//! other languages.
//!
//! - [`encode_request`] and [`encode_response`] append one complete frame
//!   to an output buffer.
//! - [`next_frame`] splits one frame body off the front of a read buffer.
//! - [`decode_request`] turns a body into a [`Request`], or into the
//!   [`ServerError`] the server answers with (`UNKNOWN_OP` or `MALFORMED`).
//! - [`decode_response`] turns a body into a [`Response`], or a
//!   [`DecodeError`] when the server broke the protocol.
//!
//! Decoding never panics, whatever the bytes, and never allocates much more
//! than the body's own length: lengths and counts read from the wire are
//! checked against the bytes that are actually there.
//!
//! Durations travel as whole units: CREATE's timeouts and an `info`'s idle
//! timeout as `u32` seconds, TTLs as `u64` milliseconds. A [`Duration`]
//! with a finer part is rounded **up** when encoded, so that a short
//! non-zero timeout or TTL never turns into 0 (which means "none" for a
//! timeout and "delete" for a TTL); values too large for the field
//! saturate.
//!
//! [`Duration`]: std::time::Duration

mod reader;
mod writer;

use std::borrow::Cow;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use self::reader::Reader;
use self::writer::WireWrite;
use super::message::{ErrorCode, Reply, Request, Response, ServerError};
use crate::{KeyTtl, LimitPolicy, NewSession, OwnerLimit, Session, StoreError};

/// The largest frame body a server accepts unless configured otherwise:
/// 2 MiB, room for the default 1 MiB of data and then some.
pub const DEFAULT_MAX_FRAME: u32 = 2 * 1024 * 1024;

/// Bytes of the length that precedes every frame body.
const LENGTH_PREFIX: usize = 4;

/// The status byte of a successful response; any other is an error code.
const STATUS_OK: u8 = 0;

/// CREATE's flag bits: which optional fields follow.
mod create_flag {
    /// A caller-chosen id.
    pub const ID: u8 = 1 << 0;
    /// An idle timeout.
    pub const IDLE: u8 = 1 << 1;
    /// An absolute lifetime.
    pub const ABSOLUTE: u8 = 1 << 2;
    /// A per-owner limit and its policy.
    pub const LIMIT: u8 = 1 << 3;
    /// Bits 4–7, which must be 0.
    pub const RESERVED: u8 = 0xf0;
}

/// CREATE's limit policies.
mod limit_policy {
    /// No limit (the limit's `u32` is ignored).
    pub const NONE: u8 = 0;
    /// Refuse sessions beyond the limit.
    pub const REJECT: u8 = 1;
    /// End the least recently seen session to make room.
    pub const EVICT_OLDEST: u8 = 2;
}

/// The kinds of a TTL reply.
mod ttl_kind {
    /// No such key.
    pub const MISSING: u8 = 0;
    /// The key has no TTL.
    pub const PERSISTENT: u8 = 1;
    /// The key expires; milliseconds follow.
    pub const EXPIRES: u8 = 2;
}

/// A frame length that loses the framing: the connection cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame declared a body of 0 bytes.
    #[error("empty frame")]
    Empty,
    /// A frame declared a body longer than the receiver accepts.
    #[error("frame of {len} bytes is larger than the limit of {max}")]
    TooLarge {
        /// The declared length.
        len: u32,
        /// The receiver's limit.
        max: u32,
    },
}

impl From<FrameError> for ServerError {
    /// The error frame a server sends before closing: `MALFORMED` for an
    /// empty frame, `FRAME_TOO_LARGE` for a long one.
    fn from(err: FrameError) -> Self {
        match err {
            FrameError::Empty => ServerError::Malformed(err.to_string()),
            FrameError::TooLarge { max, .. } => ServerError::FrameTooLarge { max },
        }
    }
}

/// Why a frame body does not decode. The framing is intact: the next frame
/// can still be read.
///
/// A server answers these with [`ServerError::UnknownOp`] or
/// [`ServerError::Malformed`] (see the `From` impl); a client that gets one
/// from [`decode_response`] is talking to a server that breaks the
/// protocol, or to a newer one (an unknown error code is still an error,
/// SPEC.md §12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A request opcode this crate does not know.
    #[error("unknown opcode 0x{0:02x}")]
    UnknownOp(u8),
    /// A reply tag this crate does not know.
    #[error("unknown reply tag 0x{0:02x}")]
    UnknownTag(u8),
    /// An error code this crate does not know.
    #[error("unknown error code {0}")]
    UnknownErrorCode(u8),
    /// The body ends inside a field.
    #[error("truncated {field}: needs {needed} bytes, {left} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needed.
        needed: usize,
        /// Bytes that were left.
        left: usize,
    },
    /// Bytes remain after the last field.
    #[error("{0} surplus bytes after the last field")]
    Surplus(usize),
    /// A string field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A field holds a value outside its range: a bool or presence byte
    /// other than 0 or 1, an unknown policy or TTL kind, a reserved bit.
    #[error("invalid {field} {value}: expected {expected}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// What it held.
        value: u64,
        /// What it may hold.
        expected: &'static str,
    },
    /// The same label key appears twice.
    #[error("label {0:?} appears twice")]
    DuplicateLabel(String),
}

impl DecodeError {
    fn invalid(field: &'static str, value: impl Into<u64>, expected: &'static str) -> Self {
        DecodeError::Invalid {
            field,
            value: value.into(),
            expected,
        }
    }
}

impl From<DecodeError> for ServerError {
    /// The answer to a request that does not decode: `UNKNOWN_OP` for an
    /// unknown opcode, `MALFORMED` with the reason for anything else.
    fn from(err: DecodeError) -> Self {
        match err {
            DecodeError::UnknownOp(op) => ServerError::UnknownOp(op),
            other => ServerError::Malformed(other.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/// Appends `req` to `out` as one complete frame: length, then body.
///
/// # Panics
/// If a field is longer than its length prefix can say: a token, owner or
/// key over 65 535 bytes, data or a value over 4 GiB, more than 255
/// labels, a label key over 255 bytes or value over 65 535. Each of these
/// is far beyond the limits of SPEC.md §3, which a client checks first.
pub fn encode_request(req: &Request, out: &mut BytesMut) {
    put_frame(out, |body| put_request(body, req));
}

/// Appends `resp` to `out` as one complete frame: length, then body.
///
/// An error's message is its `Display` text, cut to 65 535 bytes.
///
/// # Panics
/// As [`encode_request`], and if a reply holds more than 65 535 statistics
/// or a statistic's name is over 255 bytes.
pub fn encode_response(resp: &Response, out: &mut BytesMut) {
    put_frame(out, |body| put_response(body, resp));
}

/// Splits the next complete frame body off the front of `buf`, a buffer
/// that bytes read from the connection are appended to.
///
/// Returns `Ok(None)` until the whole frame is there. Nothing is reserved
/// for the declared length: the caller's reads grow the buffer as bytes
/// actually arrive.
///
/// # Errors
/// A declared length of 0 ([`FrameError::Empty`]) or above `max_frame`
/// ([`FrameError::TooLarge`]), reported as soon as the length is in. The
/// framing is lost: the receiver answers with the error
/// (`ServerError::from`) and closes. `buf` is left as it was.
pub fn next_frame(buf: &mut BytesMut, max_frame: u32) -> Result<Option<Bytes>, FrameError> {
    let Some(&prefix) = buf.first_chunk::<LENGTH_PREFIX>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(prefix);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max_frame {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame,
        });
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if buf.len() - LENGTH_PREFIX < len {
        return Ok(None);
    }
    buf.advance(LENGTH_PREFIX);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Writes a length placeholder, the body, then the body's real length.
fn put_frame(out: &mut BytesMut, put_body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    put_body(out);
    let len = out.len() - start - LENGTH_PREFIX;
    let len = u32::try_from(len).expect("a frame body is shorter than 4 GiB");
    out[start..start + LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Reads a request body: an opcode and the operation's fields (SPEC.md §8).
///
/// # Errors
/// [`ServerError::UnknownOp`] for an opcode this crate does not know;
/// [`ServerError::Malformed`], with the reason, for a body that is
/// truncated, has bytes left over, sets a reserved CREATE flag, or holds a
/// bool, presence byte, limit policy or label that is not valid. The
/// server sends the error back and reads the next frame.
pub fn decode_request(body: &[u8]) -> Result<Request, ServerError> {
    let mut r = Reader::new(body);
    let request = read_request(&mut r)?;
    r.finish()?;
    Ok(request)
}

fn put_request(out: &mut BytesMut, req: &Request) {
    out.put_u8(req.opcode());
    match req {
        Request::Ping | Request::Stats => {}
        Request::Auth { token } => out.put_bytes16(token),
        Request::Create(new) => put_new_session(out, new),
        Request::Get { id, touch } => {
            out.put_id(id);
            out.put_bool(*touch);
        }
        Request::Update {
            id,
            expected_version,
            data,
        } => {
            out.put_id(id);
            out.put_opt(*expected_version, BytesMut::put_u32);
            out.put_bytes32(data);
        }
        Request::Touch { id } | Request::Delete { id } | Request::Rotate { id } => out.put_id(id),
        Request::List { owner } | Request::Count { owner } => out.put_bytes16(owner),
        Request::DeleteOwner { owner, keep } => {
            out.put_bytes16(owner);
            out.put_opt(keep.as_ref(), BytesMut::put_id);
        }
        Request::KeySet { key, ttl, value } => {
            out.put_bytes16(key);
            out.put_opt(*ttl, BytesMut::put_millis);
            out.put_bytes32(value);
        }
        Request::KeyGet { key } | Request::KeyDelete { key } | Request::KeyTtl { key } => {
            out.put_bytes16(key);
        }
        Request::KeyExpire { key, ttl } => {
            out.put_bytes16(key);
            out.put_opt(*ttl, BytesMut::put_millis);
        }
        Request::KeyIncr { key, delta } => {
            out.put_bytes16(key);
            out.put_i64(*delta);
        }
        Request::KeyScan {
            cursor,
            count,
            pattern,
        } => {
            out.put_u64(*cursor);
            out.put_u32(*count);
            out.put_opt(pattern.as_deref(), BytesMut::put_bytes16);
        }
    }
}

/// The opcodes are those of [`Request::opcode`]; the round-trip tests keep
/// the two tables in step.
fn read_request(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let request = match r.u8("opcode")? {
        0x01 => Request::Ping,
        0x02 => Request::Auth {
            token: r.bytes16("token")?.to_vec(),
        },
        0x03 => Request::Stats,
        0x10 => Request::Create(read_new_session(r)?),
        0x11 => Request::Get {
            id: r.id("id")?,
            touch: r.bool("touch")?,
        },
        0x12 => Request::Update {
            id: r.id("id")?,
            expected_version: r.opt("expected version", Reader::u32)?,
            data: r.bytes32("data")?.to_vec(),
        },
        0x13 => Request::Touch { id: r.id("id")? },
        0x14 => Request::Delete { id: r.id("id")? },
        0x15 => Request::Rotate { id: r.id("id")? },
        0x16 => Request::List {
            owner: r.bytes16("owner")?.to_vec(),
        },
        0x17 => Request::Count {
            owner: r.bytes16("owner")?.to_vec(),
        },
        0x18 => Request::DeleteOwner {
            owner: r.bytes16("owner")?.to_vec(),
            keep: r.opt("keep", Reader::id)?,
        },
        0x20 => Request::KeySet {
            key: r.bytes16("key")?.to_vec(),
            ttl: r.opt("ttl", Reader::millis)?,
            value: r.bytes32("value")?.to_vec(),
        },
        0x21 => Request::KeyGet {
            key: r.bytes16("key")?.to_vec(),
        },
        0x22 => Request::KeyDelete {
            key: r.bytes16("key")?.to_vec(),
        },
        0x23 => Request::KeyExpire {
            key: r.bytes16("key")?.to_vec(),
            ttl: r.opt("ttl", Reader::millis)?,
        },
        0x24 => Request::KeyTtl {
            key: r.bytes16("key")?.to_vec(),
        },
        0x25 => Request::KeyIncr {
            key: r.bytes16("key")?.to_vec(),
            delta: r.i64("delta")?,
        },
        0x26 => Request::KeyScan {
            cursor: r.u64("cursor")?,
            count: r.u32("count")?,
            pattern: r.opt("pattern", Reader::bytes16)?.map(<[u8]>::to_vec),
        },
        op => return Err(DecodeError::UnknownOp(op)),
    };
    Ok(request)
}

/// CREATE: flags, the optional fields they announce in bit order, then
/// owner, labels and data.
fn put_new_session(out: &mut BytesMut, new: &NewSession) {
    let flag = |present: bool, bit: u8| if present { bit } else { 0 };
    let flags = flag(new.id.is_some(), create_flag::ID)
        | flag(new.idle.is_some(), create_flag::IDLE)
        | flag(new.absolute.is_some(), create_flag::ABSOLUTE)
        | flag(new.limit.is_some(), create_flag::LIMIT);
    out.put_u8(flags);
    if let Some(id) = &new.id {
        out.put_id(id);
    }
    if let Some(idle) = new.idle {
        out.put_secs(idle);
    }
    if let Some(absolute) = new.absolute {
        out.put_secs(absolute);
    }
    if let Some(limit) = new.limit {
        put_limit(out, limit);
    }
    out.put_bytes16(&new.owner);
    out.put_labels(&new.labels);
    out.put_bytes32(&new.data);
}

fn read_new_session(r: &mut Reader<'_>) -> Result<NewSession, DecodeError> {
    let flags = r.u8("CREATE flags")?;
    if flags & create_flag::RESERVED != 0 {
        return Err(DecodeError::invalid(
            "CREATE flags",
            flags,
            "reserved bits 4-7 clear",
        ));
    }
    let has = |bit: u8| flags & bit != 0;
    Ok(NewSession {
        id: has(create_flag::ID).then(|| r.id("id")).transpose()?,
        idle: has(create_flag::IDLE)
            .then(|| r.secs("idle timeout"))
            .transpose()?,
        absolute: has(create_flag::ABSOLUTE)
            .then(|| r.secs("absolute lifetime"))
            .transpose()?,
        limit: has(create_flag::LIMIT).then(|| read_limit(r)).transpose()?,
        owner: r.bytes16("owner")?.to_vec(),
        labels: r.labels()?,
        data: r.bytes32("data")?.to_vec(),
    })
}

/// A limit: `u32` sessions, `u8` policy. No limit goes out as 0, policy 0.
fn put_limit(out: &mut BytesMut, limit: Option<OwnerLimit>) {
    let (max_sessions, policy) = match limit {
        None => (0, limit_policy::NONE),
        Some(OwnerLimit {
            max_sessions,
            policy: LimitPolicy::Reject,
        }) => (max_sessions, limit_policy::REJECT),
        Some(OwnerLimit {
            max_sessions,
            policy: LimitPolicy::EvictOldest,
        }) => (max_sessions, limit_policy::EVICT_OLDEST),
    };
    out.put_u32(max_sessions);
    out.put_u8(policy);
}

fn read_limit(r: &mut Reader<'_>) -> Result<Option<OwnerLimit>, DecodeError> {
    let max_sessions = r.u32("session limit")?;
    let policy = match r.u8("limit policy")? {
        limit_policy::NONE => return Ok(None),
        limit_policy::REJECT => LimitPolicy::Reject,
        limit_policy::EVICT_OLDEST => LimitPolicy::EvictOldest,
        other => return Err(DecodeError::invalid("limit policy", other, "0, 1 or 2")),
    };
    Ok(Some(OwnerLimit {
        max_sessions,
        policy,
    }))
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// Reads a response body: status 0 and a reply (SPEC.md §9), or an error
/// code, a message and the code's details (SPEC.md §10).
///
/// The error is rebuilt from the code and its details; the message only
/// carries the variable text of `BAD_LABELS`, `BAD_TIMEOUT`, `MALFORMED`
/// and `BAD_HANDSHAKE` (the part after the fixed prefix of their `Display`,
/// or the whole message if the server used another wording). Other codes'
/// messages are ignored: their text follows from the details.
///
/// # Errors
/// A [`DecodeError`] when the body breaks the protocol: an unknown reply
/// tag or error code, a truncated body, surplus bytes, an invalid field.
/// The framing is intact.
pub fn decode_response(body: &[u8]) -> Result<Response, DecodeError> {
    let mut r = Reader::new(body);
    let response = match r.u8("status")? {
        STATUS_OK => Ok(read_reply(&mut r)?),
        code => Err(read_error(code, &mut r)?),
    };
    r.finish()?;
    Ok(response)
}

fn put_response(out: &mut BytesMut, resp: &Response) {
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
    }
}

/// Fewest bytes a statistic takes on the wire: an empty name and a `u64`.
const MIN_STAT_LEN: usize = 1 + 8;

/// Fewest bytes a scanned key takes on the wire: its `u16` length.
const MIN_SCANNED_KEY_LEN: usize = 2;

/// The tags are those of [`Reply::tag`]; the round-trip tests keep the two
/// tables in step.
fn read_reply(r: &mut Reader<'_>) -> Result<Reply, DecodeError> {
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
        ServerError::AuthRequired
        | ServerError::AuthFailed
        | ServerError::Malformed(_)
        | ServerError::BadHandshake(_)
        | ServerError::ShuttingDown
        | ServerError::Busy => {}
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

fn read_error(code: u8, r: &mut Reader<'_>) -> Result<ServerError, DecodeError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Labels, SessionId, SessionInfo};

    const ID: SessionId = SessionId::from_bytes([
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f,
    ]);

    fn request_frame(req: &Request) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_request(req, &mut out);
        out.to_vec()
    }

    fn response_frame(resp: &Response) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_response(resp, &mut out);
        out.to_vec()
    }

    /// Bytes assembled by hand from SPEC.md, independently of the encoder.
    fn spec_bytes(parts: &[&[u8]]) -> Vec<u8> {
        let body = parts.concat();
        let mut frame = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        frame.extend(body);
        frame
    }

    #[test]
    fn ping_is_five_bytes() {
        assert_eq!(request_frame(&Request::Ping), [0, 0, 0, 1, 0x01]);
    }

    #[test]
    fn create_layout_follows_the_spec() {
        let new = NewSession::new("u")
            .with_id(ID)
            .idle_timeout(Duration::from_secs(1800))
            .absolute_lifetime(Duration::from_secs(86_400))
            .owner_limit(Some(OwnerLimit {
                max_sessions: 3,
                policy: LimitPolicy::EvictOldest,
            }))
            .labels(Labels::new().with("k", "v"))
            .data(*b"d");
        let expected = spec_bytes(&[
            &[0x10, 0b1111],
            ID.as_bytes(),
            &1800u32.to_be_bytes(),
            &86_400u32.to_be_bytes(),
            &[0, 0, 0, 3, 2],
            &[0, 1, b'u'],
            &[1, 1, b'k', 0, 1, b'v'],
            &[0, 0, 0, 1, b'd'],
        ]);
        assert_eq!(request_frame(&Request::Create(new)), expected);

        let minimal = spec_bytes(&[&[0x10, 0, 0, 1, b'u', 0, 0, 0, 0, 0]]);
        assert_eq!(
            request_frame(&Request::Create(NewSession::new("u"))),
            minimal
        );
    }

    #[test]
    fn create_limit_has_three_states() {
        let decode = |limit: &[u8]| {
            let body = [
                &[0x10, create_flag::LIMIT],
                limit,
                &[0, 1, b'u', 0, 0, 0, 0, 0],
            ]
            .concat();
            decode_request(&body).map(|req| match req {
                Request::Create(new) => new.limit,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(decode(&[0, 0, 0, 9, 0]), Ok(Some(None)));
        assert_eq!(
            decode(&[0, 0, 0, 9, 1]),
            Ok(Some(Some(OwnerLimit {
                max_sessions: 9,
                policy: LimitPolicy::Reject
            })))
        );
        assert!(matches!(
            decode(&[0, 0, 0, 9, 3]),
            Err(ServerError::Malformed(_))
        ));
    }

    #[test]
    fn create_refuses_reserved_flags() {
        let body = [0x10, 0x10, 0, 1, b'u', 0, 0, 0, 0, 0];
        assert_eq!(
            decode_request(&body),
            Err(ServerError::Malformed(
                "invalid CREATE flags 16: expected reserved bits 4-7 clear".into()
            ))
        );
    }

    #[test]
    fn ttls_travel_in_whole_milliseconds_rounded_up() {
        let req = Request::KeyExpire {
            key: b"k".to_vec(),
            ttl: Some(Duration::from_micros(1_001)),
        };
        let frame = request_frame(&req);
        assert_eq!(
            frame,
            spec_bytes(&[&[0x23, 0, 1, b'k', 1], &2u64.to_be_bytes()])
        );
        assert_eq!(
            decode_request(&frame[4..]),
            Ok(Request::KeyExpire {
                key: b"k".to_vec(),
                ttl: Some(Duration::from_millis(2)),
            })
        );
    }

    #[test]
    fn request_errors() {
        assert_eq!(decode_request(&[0x7f]), Err(ServerError::UnknownOp(0x7f)));
        assert_eq!(
            decode_request(&[]),
            Err(ServerError::Malformed(
                "truncated opcode: needs 1 bytes, 0 left".into()
            ))
        );
        assert_eq!(
            decode_request(&[0x01, 0]),
            Err(ServerError::Malformed(
                "1 surplus bytes after the last field".into()
            ))
        );
        let bad_bool = [&[0x11][..], ID.as_bytes(), &[2]].concat();
        assert!(matches!(
            decode_request(&bad_bool),
            Err(ServerError::Malformed(_))
        ));
    }

    #[test]
    fn error_layout_follows_the_spec() {
        let err = ServerError::from(StoreError::VersionMismatch {
            expected: 7,
            actual: 9,
        });
        let message = err.to_string();
        let expected = spec_bytes(&[
            &[9],
            &u16::try_from(message.len()).unwrap().to_be_bytes(),
            message.as_bytes(),
            &[0, 0, 0, 7, 0, 0, 0, 9],
        ]);
        let frame = response_frame(&Err(err.clone()));
        assert_eq!(frame, expected);
        assert_eq!(decode_response(&frame[4..]), Ok(Err(err)));
    }

    #[test]
    fn error_texts_survive_the_trip() {
        for err in [
            ServerError::from(StoreError::BadLabels("too many".into())),
            ServerError::from(StoreError::BadTimeout("".into())),
            ServerError::Malformed("truncated id".into()),
            ServerError::BadHandshake("wrong magic".into()),
        ] {
            let frame = response_frame(&Err(err.clone()));
            assert_eq!(decode_response(&frame[4..]), Ok(Err(err)));
        }
    }

    #[test]
    fn an_unprefixed_message_is_kept_whole() {
        let body = [&[ErrorCode::BadLabels as u8, 0, 3][..], b"odd"].concat();
        assert_eq!(
            decode_response(&body),
            Ok(Err(StoreError::BadLabels("odd".into()).into()))
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        // "malformed request: " is 19 bytes, then 3-byte characters: the
        // cut at 65 535 falls inside one, so 65 533 bytes remain.
        let err = ServerError::Malformed("€".repeat(30_000));
        let frame = response_frame(&Err(err));
        let len = usize::from(u16::from_be_bytes([frame[5], frame[6]]));
        assert_eq!(len, 65_533);
        assert!(std::str::from_utf8(&frame[7..7 + len]).is_ok());
        assert!(matches!(
            decode_response(&frame[4..]),
            Ok(Err(ServerError::Malformed(_)))
        ));
    }

    #[test]
    fn response_errors() {
        assert_eq!(
            decode_response(&[0, 0x0d]),
            Err(DecodeError::UnknownTag(0x0d))
        );
        assert_eq!(
            decode_response(&[15, 0, 0]),
            Err(DecodeError::UnknownErrorCode(15))
        );
        assert_eq!(decode_response(&[0, 0, 0]), Err(DecodeError::Surplus(1)));
        assert!(matches!(
            decode_response(&[0, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 5]),
            Err(DecodeError::Invalid { field: "TTL", .. })
        ));
        assert!(matches!(
            decode_response(&[0, 0x09, 3, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::Invalid {
                field: "TTL kind",
                ..
            })
        ));
    }

    #[test]
    fn a_list_claiming_four_billion_sessions_is_refused_cheaply() {
        assert!(matches!(
            decode_response(&[0, 0x06, 0xff, 0xff, 0xff, 0xff, 0]),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn absolute_deadline_zero_means_none() {
        let info = SessionInfo {
            id: ID,
            labels: Labels::new(),
            created_at: 1,
            last_seen_at: 2,
            idle_timeout: Duration::from_secs(3),
            absolute_deadline: None,
            expires_at: 5,
            version: 1,
        };
        let frame = response_frame(&Ok(Reply::List(vec![info.clone()])));
        assert_eq!(frame[4 + 2 + 4 + 16 + 8 + 8 + 4..][..8], [0; 8]);
        assert_eq!(
            decode_response(&frame[4..]),
            Ok(Ok(Reply::List(vec![info])))
        );
    }

    #[test]
    fn frames_split_off_in_order() {
        let mut buf = BytesMut::new();
        encode_request(&Request::Ping, &mut buf);
        encode_request(&Request::Stats, &mut buf);
        buf.put_slice(&[0, 0]);
        assert_eq!(
            next_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&[0x01][..])
        );
        assert_eq!(
            next_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&[0x03][..])
        );
        assert_eq!(next_frame(&mut buf, 16), Ok(None));
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn incomplete_frames_wait() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
        assert_eq!(next_frame(&mut buf, 16), Ok(None));
        buf.put_u8(3);
        assert_eq!(
            next_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&[1, 2, 3][..])
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_lengths_lose_the_framing() {
        let mut empty = BytesMut::from(&[0, 0, 0, 0][..]);
        assert_eq!(next_frame(&mut empty, 16), Err(FrameError::Empty));
        assert_eq!(empty.len(), 4);

        let mut huge = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let err = next_frame(&mut huge, DEFAULT_MAX_FRAME).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: u32::MAX,
                max: DEFAULT_MAX_FRAME
            }
        );
        assert_eq!(
            ServerError::from(err),
            ServerError::FrameTooLarge {
                max: DEFAULT_MAX_FRAME
            }
        );
        assert!(huge.capacity() < 1024);
    }

    #[test]
    fn the_limit_itself_is_allowed() {
        let mut buf = BytesMut::from(&[0, 0, 0, 2, 1, 2][..]);
        assert!(next_frame(&mut buf, 2).unwrap().is_some());
    }
}
