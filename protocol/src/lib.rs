//! Types and wire format shared by the sessiond server and its clients.
//!
//! This crate deliberately knows nothing of any async runtime: it holds plain
//! data types and (in later versions) the frame codec, so that the server,
//! the Rust client and tests can all agree on bytes without agreeing on an
//! executor.
//!
//! Today it holds the [`SessionId`], whose text and binary forms are
//! specified in `protocol/SPEC.md`.
//!
//! ```
//! use sessiond_protocol::SessionId;
//!
//! let id = SessionId::random();
//! let text = id.to_string();
//! assert_eq!(text.len(), 22);
//! assert_eq!(text.parse::<SessionId>().unwrap(), id);
//! ```

mod id;

pub use id::{ParseSessionIdError, ROUTING_SLOTS, SessionId};
