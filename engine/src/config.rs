//! How a store is set up: limits, defaults and policies.

use std::time::Duration;

use sessiond_protocol::OwnerLimit;

/// What to do when a write would take the store past its memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryPolicy {
    /// Refuse the write with [`crate::StoreError::OutOfMemory`].
    Reject,
    /// Evict the sessions nearest their deadline until the write fits.
    EvictNearestDeadline,
}

/// Settings of a [`crate::Store`]. Start from `StoreConfig::default()` and
/// change what you need.
///
/// ```
/// use sessiond::{LimitPolicy, OwnerLimit, StoreConfig};
/// use std::time::Duration;
///
/// let config = StoreConfig {
///     default_idle_timeout: Duration::from_secs(15 * 60),
///     owner_limit: Some(OwnerLimit { max_sessions: 3, policy: LimitPolicy::EvictOldest }),
///     ..StoreConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Largest session data or key value, in bytes. Default 1 MiB.
    pub max_data_bytes: usize,
    /// Idle timeout of sessions created without one. Default 30 minutes.
    pub default_idle_timeout: Duration,
    /// Absolute lifetime of sessions created without one (`None`: no cap).
    /// Default 24 hours.
    pub default_absolute_lifetime: Option<Duration>,
    /// Per-owner session cap applied when a create does not override it.
    /// Default: none.
    pub owner_limit: Option<OwnerLimit>,
    /// Memory limit in accounted bytes (see [`crate::Stats::bytes_used`]).
    /// Default: none.
    pub memory_limit: Option<u64>,
    /// What happens at the memory limit. Default: reject writes.
    pub memory_policy: MemoryPolicy,
    /// Number of lock shards for each table, rounded up to a power of two.
    /// More shards mean less contention and slightly more fixed memory.
    /// Default 64.
    pub shards: usize,
    /// Run the expiry cycle on a background thread. Default `true`; tests
    /// that drive [`crate::Store::run_expiry_cycle`] themselves turn it off.
    pub background_expiry: bool,
    /// Most session events the event log keeps (docs/events.md); older
    /// ones are dropped, and a reader that falls behind them is told of
    /// the gap. 0 turns the log off: a lifecycle change then costs one
    /// branch more. Default 100,000.
    pub events_max: usize,
    /// Events older than this are dropped (`None`: kept whatever their
    /// age). Default 24 hours.
    pub events_max_age: Option<Duration>,
    /// Most bytes the kept events may take (see
    /// [`crate::EventsInfo::bytes`]); the oldest go first. A bound on the
    /// log's memory whatever the sessions' labels, which events repeat.
    /// Default 64 MiB.
    pub events_max_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_data_bytes: 1 << 20,
            default_idle_timeout: Duration::from_secs(30 * 60),
            default_absolute_lifetime: Some(Duration::from_secs(24 * 3600)),
            owner_limit: None,
            memory_limit: None,
            memory_policy: MemoryPolicy::Reject,
            shards: 64,
            background_expiry: true,
            events_max: 100_000,
            events_max_age: Some(Duration::from_secs(24 * 3600)),
            events_max_bytes: 64 << 20,
        }
    }
}
