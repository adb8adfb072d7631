//! The error of a store operation, shared by the engine and its clients:
//! each variant has one error code on the wire (SPEC.md §10).

use std::borrow::Cow;

/// Why a store operation did not happen.
///
/// Every variant leaves the store unchanged: an operation either completes
/// or has no effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The session does not exist: never created, deleted, rotated away or
    /// expired. These are deliberately indistinguishable.
    #[error("no such session")]
    NotFound,
    /// A caller-chosen id is already in use (by a session sharing its first
    /// 8 bytes, which the store keeps unique).
    #[error("session id is already in use")]
    IdTaken,
    /// An owner must be 1 to 256 bytes.
    #[error("owner must be 1 to {max} bytes, got {len}")]
    BadOwner {
        /// Length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Session data or a key's value is larger than the store allows.
    #[error("value is {len} bytes; the limit is {max}")]
    TooLarge {
        /// Length given.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A plain key is empty or too long.
    #[error("key must be 1 to {max} bytes, got {len}")]
    BadKey {
        /// Length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Labels break one of the limits in [`crate::Labels`].
    #[error("invalid labels: {0}")]
    BadLabels(Cow<'static, str>),
    /// A session would never expire, or a timeout is out of range.
    #[error("invalid timeout: {0}")]
    BadTimeout(Cow<'static, str>),
    /// The owner already has as many sessions as its limit allows, and the
    /// policy is to refuse new ones.
    #[error("owner already has {limit} sessions, the most allowed")]
    SessionLimit {
        /// The limit in force.
        limit: u32,
    },
    /// A conditional update found the session at another version.
    #[error("version mismatch: expected {expected}, session is at {actual}")]
    VersionMismatch {
        /// The version the caller expected.
        expected: u32,
        /// The version the session has.
        actual: u32,
    },
    /// The memory limit is reached and the policy is to refuse writes (or
    /// nothing could be evicted).
    #[error("out of memory: {used} of {limit} bytes in use, {needed} more needed")]
    OutOfMemory {
        /// Bytes accounted now.
        used: u64,
        /// The configured limit.
        limit: u64,
        /// Bytes the write needed.
        needed: u64,
    },
    /// `incr` on a value that is not a decimal 64-bit integer.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// `incr` would overflow a signed 64-bit integer.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// A string operation met a key holding a set, or a set operation a
    /// key holding a string.
    #[error("operation against a key holding the wrong kind of value")]
    WrongType,
    /// The store's data directory cannot take writes now (a full disk, a
    /// failed fsync): writes are refused, reads go on, and writes resume by
    /// themselves once the disk takes them again.
    #[error("writes refused: {0}")]
    Persistence(Cow<'static, str>),
}
