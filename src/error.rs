//! The one error type of the engine.

use std::time::Duration;

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
    BadLabels(&'static str),
    /// A session would never expire, or a timeout is out of range.
    #[error("invalid timeout: {0}")]
    BadTimeout(&'static str),
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
}

impl StoreError {
    pub(crate) fn timeout_range(d: Duration) -> Result<u32, StoreError> {
        // Whole seconds, rounded up, so a timeout is never shorter than asked.
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        u32::try_from(secs)
            .ok()
            .filter(|s| *s <= MAX_TIMEOUT_SECS)
            .ok_or(StoreError::BadTimeout("longer than 10 years"))
    }
}

/// Longest idle timeout or absolute lifetime accepted: ten years.
const MAX_TIMEOUT_SECS: u32 = 10 * 366 * 24 * 3600;
