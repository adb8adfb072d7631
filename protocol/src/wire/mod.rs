//! The native protocol of sessiond, version 1 (SPEC.md §4–12), as plain
//! functions over bytes.
//!
//! Nothing here reads or writes a socket: the server and the clients bring
//! their own I/O (blocking or async), hand the bytes they read to
//! [`next_frame`] and the decoders, and write what the encoders and
//! [`ClientHello`] / [`ServerHello`] produce. That keeps this crate free of
//! any async runtime and makes every byte testable on its own.
//!
//! - [`handshake`]: the hellos that open a connection.
//! - [`codec`]: frames, requests and responses.
//! - [`message`]: the requests, replies and errors as Rust values.

pub mod codec;
pub mod handshake;
pub mod message;

pub use codec::{
    DEFAULT_MAX_FRAME, DecodeError, FrameError, Pieces, decode_request, decode_response,
    encode_request, encode_response, next_frame,
};
pub use handshake::{
    ClientHello, HTTP_REPLY, HandshakeError, LOWEST_VERSION, MAGIC, ServerHello, VERSION,
    looks_like_http, negotiate,
};
pub use message::{
    CacheMode, ErrorCode, MAX_EVENTS_READ, MAX_EVENTS_WAIT, Reply, Request, Response, ServerError,
};
