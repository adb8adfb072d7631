//! Types and wire format shared by the sessiond server and its clients.
//!
//! This crate deliberately knows nothing of any async runtime: it holds plain
//! data types and the frame codec, so that the server,
//! the Rust client and tests can all agree on bytes without agreeing on an
//! executor.
//!
//! It holds the [`SessionId`], the model of sessions and keys that the
//! engine and every client share ([`NewSession`], [`Session`], [`Labels`],
//! …), and the error type [`StoreError`]; all specified in
//! `protocol/SPEC.md`; and the native protocol's messages ([`Request`],
//! [`Response`], …) with their codec in [`wire`].
//!
//! ```
//! use sessiond_protocol::SessionId;
//!
//! let id = SessionId::random();
//! let text = id.to_string();
//! assert_eq!(text.len(), 22);
//! assert_eq!(text.parse::<SessionId>().unwrap(), id);
//! ```

mod api;
pub mod decimal;
mod error;
mod events;
mod id;
pub mod limits;
mod model;
mod utc;
pub mod wire;

pub use api::{AsStoreError, EventRead, SessionEvents, SessionStore};
pub use error::StoreError;
pub use events::{EndReason, Event, EventKind, MAX_EVENT_NOTE};
pub use id::{ParseSessionIdError, ROUTING_SLOTS, SessionId};
pub use limits::{MAX_KEY_LEN, MAX_OWNER_LEN};
pub use model::{KeyTtl, Labels, LimitPolicy, NewSession, OwnerLimit, Session, SessionInfo};
pub use utc::UtcDateTime;
pub use wire::{ErrorCode, Reply, Request, Response, ServerError};
