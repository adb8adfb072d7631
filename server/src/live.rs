//! The server's settings that an operator may change while it runs, by
//! RESP's `CONFIG SET`: the connection limit, the idle timeout, the slow
//! log's and the latency monitor's thresholds, a script's busy
//! threshold. (The keyspace notification classes live with the
//! notifications, `notifications.rs`.)
//!
//! Each is an atomic that the code using it reads where it decides (the
//! accept loop per connection, the driver per batch, the RESP face per
//! command), so a change applies from the next decision on with no lock
//! on any request's path. [`ServerConfig`](crate::ServerConfig) keeps the
//! values the server started with; these are the ones in force.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::ServerConfig;

/// Redis's default `slowlog-log-slower-than`, in microseconds.
const SLOWLOG_DEFAULT_US: i64 = 10_000;

/// Redis's default `busy-reply-threshold`, in milliseconds.
const BUSY_REPLY_DEFAULT_MS: u64 = 5000;

/// Redis's default `slowlog-max-len`.
const SLOWLOG_DEFAULT_LEN: u64 = 128;

/// The settings in force (see the module documentation).
pub(crate) struct LiveConfig {
    max_clients: AtomicUsize,
    /// Milliseconds; 0: connections never idle out (Redis's `timeout 0`).
    idle_timeout_ms: AtomicU64,
    /// Microseconds; negative: the slow log is off.
    slowlog_slower_than_us: AtomicI64,
    slowlog_max_len: AtomicU64,
    /// Milliseconds; 0: the latency monitor is off.
    latency_threshold_ms: AtomicU64,
    /// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds:
    /// a script running longer makes other clients hear BUSY; 0: never.
    busy_reply_threshold_ms: AtomicU64,
    /// Redis's `hz`, stored for CONFIG GET: the engine's cycles have
    /// their own pacing.
    hz: AtomicU32,
    /// Parameters CONFIG SET checks and keeps though they mean nothing
    /// here (`lfu-log-factor`…), by name.
    stored: parking_lot::Mutex<Vec<(&'static str, String)>>,
}

impl LiveConfig {
    /// The settings a server starts with.
    pub(crate) fn new(config: &ServerConfig) -> LiveConfig {
        LiveConfig {
            max_clients: AtomicUsize::new(config.max_connections),
            idle_timeout_ms: AtomicU64::new(config.idle_timeout.as_millis() as u64),
            slowlog_slower_than_us: AtomicI64::new(SLOWLOG_DEFAULT_US),
            slowlog_max_len: AtomicU64::new(SLOWLOG_DEFAULT_LEN),
            latency_threshold_ms: AtomicU64::new(0),
            busy_reply_threshold_ms: AtomicU64::new(BUSY_REPLY_DEFAULT_MS),
            hz: AtomicU32::new(10),
            stored: parking_lot::Mutex::default(),
        }
    }

    /// Most client connections at once (both faces together); a new one
    /// past it is refused, the ones already open stay.
    pub(crate) fn max_clients(&self) -> usize {
        self.max_clients.load(Ordering::Relaxed)
    }

    pub(crate) fn set_max_clients(&self, n: usize) {
        self.max_clients.store(n, Ordering::Relaxed);
    }

    /// How long a connection may idle before it is closed; `None`: never.
    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        match self.idle_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_idle_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |t| (t.as_millis() as u64).max(1));
        self.idle_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// Commands that take at least this long go to the slow log; `None`:
    /// the log is off.
    pub(crate) fn slowlog_threshold(&self) -> Option<Duration> {
        let us = self.slowlog_slower_than_us.load(Ordering::Relaxed);
        u64::try_from(us).ok().map(Duration::from_micros)
    }

    /// The threshold as Redis spells it (microseconds, negative: off).
    pub(crate) fn slowlog_slower_than_us(&self) -> i64 {
        self.slowlog_slower_than_us.load(Ordering::Relaxed)
    }

    pub(crate) fn set_slowlog_slower_than_us(&self, us: i64) {
        self.slowlog_slower_than_us.store(us, Ordering::Relaxed);
    }

    /// The slow log's configured length (what CONFIG GET shows; the log
    /// keeps at most [`crate::slowlog::MAX_ENTRIES`] whatever this says).
    pub(crate) fn slowlog_max_len(&self) -> u64 {
        self.slowlog_max_len.load(Ordering::Relaxed)
    }

    pub(crate) fn set_slowlog_max_len(&self, n: u64) {
        self.slowlog_max_len.store(n, Ordering::Relaxed);
    }

    /// Commands that take at least this long are latency events; `None`:
    /// the monitor is off (Redis's default).
    pub(crate) fn latency_threshold(&self) -> Option<Duration> {
        match self.latency_threshold_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn latency_threshold_ms(&self) -> u64 {
        self.latency_threshold_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_latency_threshold_ms(&self, ms: u64) {
        self.latency_threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// A stored parameter's value, if it was set.
    pub(crate) fn stored(&self, name: &str) -> Option<String> {
        let stored = self.stored.lock();
        stored
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn set_stored(&self, name: &'static str, value: String) {
        let mut stored = self.stored.lock();
        match stored.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => stored.push((name, value)),
        }
    }

    /// How long a script runs before other clients hear BUSY (read by
    /// each script when it starts); 0: scripts never time out.
    pub(crate) fn busy_reply_threshold_ms(&self) -> u64 {
        self.busy_reply_threshold_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_busy_reply_threshold_ms(&self, ms: u64) {
        self.busy_reply_threshold_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn hz(&self) -> u32 {
        self.hz.load(Ordering::Relaxed)
    }

    pub(crate) fn set_hz(&self, hz: u32) {
        self.hz.store(hz, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_timeout_zero_means_never() {
        let live = LiveConfig::new(&ServerConfig::default());
        assert_eq!(live.idle_timeout(), Some(Duration::from_secs(300)));
        live.set_idle_timeout(None);
        assert_eq!(live.idle_timeout(), None);
        live.set_slowlog_slower_than_us(-1);
        assert_eq!(live.slowlog_threshold(), None);
        live.set_slowlog_slower_than_us(0);
        assert_eq!(live.slowlog_threshold(), Some(Duration::ZERO));
    }
}
