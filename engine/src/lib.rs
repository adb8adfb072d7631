//! sessiond: a session store with first-class owners.
//!
//! Web apps keep login sessions on the server so they can do what a
//! stateless token cannot: log one device out, kick a user, list a user's
//! devices, cap concurrent logins. [`Store`] is that store, in-process: a
//! sharded in-memory table of sessions with sliding and absolute expiry,
//! an exact per-owner index, plain keys with TTLs beside them, and a
//! memory limit.
//!
//! ```
//! use sessiond::{Labels, NewSession, Store, StoreConfig};
//! use std::time::Duration;
//!
//! let store = Store::new(StoreConfig::default());
//!
//! // Log in on two devices.
//! let laptop = store.create(
//!     NewSession::new("user:42")
//!         .data(b"{\"theme\":\"dark\"}".to_vec())
//!         .labels(Labels::new().with("ua", "Firefox on Linux"))
//!         .idle_timeout(Duration::from_secs(30 * 60)),
//! )?;
//! let phone = store.create(NewSession::new("user:42").labels(Labels::new().with("ua", "Safari on iOS")))?;
//!
//! // Each request reads its session, sliding the idle deadline.
//! let session = store.get(&laptop)?;
//! assert_eq!(session.data, b"{\"theme\":\"dark\"}");
//!
//! // "Your devices", most recent first, then "log out everywhere else".
//! assert_eq!(store.count(b"user:42"), 2);
//! assert_eq!(store.delete_owner(b"user:42", Some(&laptop))?, 1);
//! assert!(store.get(&phone).is_err());
//! assert_eq!(store.list(b"user:42")[0].labels.get("ua"), Some("Firefox on Linux"));
//!
//! // A login-attempt counter beside the sessions.
//! store.incr(b"attempts:user:42", 1)?;
//! store.expire_key(b"attempts:user:42", Some(Duration::from_secs(900)))?;
//! # Ok::<(), sessiond::StoreError>(())
//! ```
//!
//! The engine knows nothing of sockets or wire formats; the daemon and its
//! protocols are thin layers over this crate (see ARCHITECTURE.md).

#![warn(missing_docs)]

mod api;
mod clock;
mod config;
mod event_groups;
mod event_ops;
mod events;
mod expiry;
mod glob;
mod group_ops;
mod growing;
mod hash_numbers;
mod hash_value;
mod hashes;
mod hashing;
mod key_events;
mod key_ops;
mod key_scan;
mod keys;
mod keyspace;
mod long_double;
mod memory;
mod multi_key;
mod on_disk;
mod owner_ops;
mod owners;
mod persist;
mod record;
mod replica;
mod session_ops;
mod sessions;
mod set_ops;
mod sets;
mod shard;
mod stats;
mod store;
mod string_ops;
mod thin;
mod wheel;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{MemoryPolicy, StoreConfig};
pub use event_groups::{ConsumerInfo, EventPos, GroupError, GroupInfo, PendingEntry};
pub use events::{EventsGap, EventsInfo};
pub use expiry::{BATCH, CYCLE_BUDGET, ExpiryReport, TICK};
pub use glob::glob_match;
pub use group_ops::{ClaimOptions, Delivery, GroupStart};
pub use hash_numbers::parse_float;
pub use hashes::{FieldExpire, FieldPersist, FieldTtl, FieldValue, HashError, HashSetOptions};
pub use key_events::{KeyEvent, KeyEventSwitch, KeyObserver};
pub use key_ops::{KeyDeadline, ObjectInfo};
pub use key_scan::KeyTtlSummary;
pub use keyspace::{
    Deadline, ExpireCondition, KeyExpiry, KeyType, SetCondition, SetOptions, SetOutcome,
};
/// Entry points for the fuzz targets (fuzz/): recovery's readers over
/// bytes. Only with the `fuzzing` feature; not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use persist::fuzzing;
pub use persist::{
    CompactionReport, Durability, FsyncPolicy, LoadProgress, OnProgress, PersistConfig,
    PersistError, PersistStats, RecoveryReport, Synced,
};
pub use sessiond_protocol::{
    EndReason, Event, EventKind, KeyTtl, Labels, LimitPolicy, MAX_EVENT_NOTE, NewSession,
    OwnerLimit, Session, SessionId, SessionInfo, SessionStore, StoreError,
};
pub use sessiond_protocol::{MAX_KEY_LEN, MAX_OWNER_LEN};
pub use set_ops::{MAX_RANDOM_MEMBERS, SetOp};
pub use stats::Stats;
pub use store::Store;
pub use string_ops::FloatError;

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
