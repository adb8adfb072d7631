//! Frames and message bodies of protocol version 1 (SPEC.md §6, §8–10).
//!
//! The server and every Rust client encode and decode through these few
//! functions, so the bytes are specified once, here and in SPEC.md, and the
//! golden vectors in `protocol/vectors/` pin them down for clients in
//! other languages.
//!
//! - [`encode_request`] and [`encode_response`] append one complete frame
//!   to an output buffer.
//! - [`Pieces`] writes a long LIST or KEY_SCAN reply a piece at a time,
//!   the same bytes as [`encode_response`].
//! - [`next_frame`] splits one frame body off the front of a read buffer.
//! - [`decode_request`] turns a body into a [`Request`], or into the
//!   [`ServerError`] the server answers with (`UNKNOWN_OP` or `MALFORMED`).
//! - [`decode_response`] turns a body into a [`Response`], or a
//!   [`DecodeError`] when the server broke the protocol.
//!
//! This file holds the framing and those entry points; the bodies are in
//! `request.rs` (SPEC.md §8) and `response.rs` (§9, §10), over the field
//! primitives of `reader.rs` and `writer.rs`.
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

mod event;
mod pieces;
mod reader;
mod request;
mod response;
#[cfg(test)]
mod tests;
mod writer;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub use self::pieces::Pieces;
use self::reader::Reader;
use super::message::{Request, Response, ServerError};
use crate::SessionId;

/// The largest frame body a server accepts unless configured otherwise:
/// 2 MiB, room for the default 1 MiB of data and then some.
pub const DEFAULT_MAX_FRAME: u32 = 2 * 1024 * 1024;

/// Bytes of the length that precedes every frame body.
const LENGTH_PREFIX: usize = 4;

/// The status byte of a successful response; any other is an error code.
const STATUS_OK: u8 = 0;

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
    put_frame(out, |body| request::put_request(body, req));
}

/// Appends `resp` to `out` as one complete frame: length, then body.
///
/// An error's message is its `Display` text, cut to 65 535 bytes.
///
/// # Panics
/// As [`encode_request`], and if a reply holds more than 65 535 statistics
/// or a statistic's name is over 255 bytes.
pub fn encode_response(resp: &Response, out: &mut BytesMut) {
    put_frame(out, |body| response::put_response(body, resp));
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

/// What a read request names, so that a server can start fetching it from
/// memory before it answers the requests ahead of it.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadTarget<'a> {
    /// GET of a session (`0x11`).
    Session(SessionId),
    /// KEY_GET (`0x21`).
    Key(&'a [u8]),
}

/// The reads among the complete frames at the front of `buf`, at most
/// `max` frames looked at, without taking anything off `buf` or checking
/// more of a body than the fields named: a body that is not what it
/// seems is reported when it is decoded for real.
pub fn peek_reads(buf: &[u8], max: usize) -> impl Iterator<Item = ReadTarget<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let prefix = rest.first_chunk::<LENGTH_PREFIX>()?;
        let len = usize::try_from(u32::from_be_bytes(*prefix)).ok()?;
        let body = rest.get(LENGTH_PREFIX..LENGTH_PREFIX.checked_add(len)?)?;
        rest = &rest[LENGTH_PREFIX + len..];
        Some(read_target(body))
    })
    .take(max)
    .flatten()
}

/// What one request body reads, if it is a GET or a KEY_GET.
fn read_target(body: &[u8]) -> Option<ReadTarget<'_>> {
    let mut r = Reader::new(body);
    match r.u8("opcode").ok()? {
        0x11 => r.id("id").ok().map(ReadTarget::Session),
        0x21 => r.bytes16("key").ok().map(ReadTarget::Key),
        _ => None,
    }
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
    let request = request::read_request(&mut r)?;
    r.finish()?;
    Ok(request)
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
        STATUS_OK => Ok(response::read_reply(&mut r)?),
        code => Err(response::read_error(code, &mut r)?),
    };
    r.finish()?;
    Ok(response)
}
