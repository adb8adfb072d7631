//! The server's settings that an operator may change while it runs, by
//! RESP's `CONFIG SET`: the connection limit, the idle timeout, the slow
//! log's and the latency monitor's thresholds, a script's busy
//! threshold, and the keyspace notification classes.
//!
//! Each is an atomic that the code using it reads where it decides (the
//! accept loop per connection, the driver per batch, the RESP face per
//! command), so a change applies from the next decision on with no lock
//! on any request's path. [`ServerConfig`](crate::ServerConfig) keeps the
//! values the server started with; these are the ones in force.
//!
//! `notify-keyspace-events` is only stored and validated here: the
//! notifications themselves belong to the pub/sub work, which reads
//! [`LiveConfig::keyspace_events`].

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
    /// [`KeyspaceEvents`]' bits.
    keyspace_events: AtomicU32,
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
            keyspace_events: AtomicU32::new(0),
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

    /// The keyspace notification classes in force, for whatever sends
    /// the notifications: the one place their setting is read.
    pub(crate) fn keyspace_events(&self) -> KeyspaceEvents {
        KeyspaceEvents(self.keyspace_events.load(Ordering::Relaxed))
    }

    pub(crate) fn set_keyspace_events(&self, events: KeyspaceEvents) {
        self.keyspace_events.store(events.0, Ordering::Relaxed);
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

/// The classes of keyspace notification asked for, as Redis's
/// `notify-keyspace-events` letters set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KeyspaceEvents(u32);

/// The letters in Redis's order of writing them back, each with its bit;
/// `A` is the classes from `g` to `d` (not `m` or `n`, as in Redis).
const LETTERS: [(char, u32); 14] = [
    ('g', 1 << 2),
    ('$', 1 << 3),
    ('l', 1 << 4),
    ('s', 1 << 5),
    ('h', 1 << 6),
    ('z', 1 << 7),
    ('x', 1 << 8),
    ('e', 1 << 9),
    ('t', 1 << 10),
    ('d', 1 << 13),
    ('n', 1 << 14),
    ('K', 1 << 0),
    ('E', 1 << 1),
    ('m', 1 << 11),
];

/// The bits `A` stands for.
const ALL: u32 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 13);

// The class constants and `wants` are for the keyspace notifications,
// which other work adds; until then only the tests read them.
#[allow(dead_code)]
impl KeyspaceEvents {
    /// Keyspace notifications (`__keyspace@0__:key`) are asked for.
    pub(crate) const KEYSPACE: u32 = 1 << 0;
    /// Keyevent notifications (`__keyevent@0__:event`) are asked for.
    pub(crate) const KEYEVENT: u32 = 1 << 1;
    /// Generic commands (DEL, EXPIRE, RENAME…).
    pub(crate) const GENERIC: u32 = 1 << 2;
    /// String commands.
    pub(crate) const STRING: u32 = 1 << 3;
    /// Set commands.
    pub(crate) const SET: u32 = 1 << 5;
    /// Hash commands.
    pub(crate) const HASH: u32 = 1 << 6;
    /// A key expired.
    pub(crate) const EXPIRED: u32 = 1 << 8;
    /// A key was evicted.
    pub(crate) const EVICTED: u32 = 1 << 9;

    /// Reads Redis's letters; `None` for a letter Redis does not know.
    pub(crate) fn parse(text: &[u8]) -> Option<KeyspaceEvents> {
        let mut bits = 0;
        for &c in text {
            bits |= match c {
                b'A' => ALL,
                _ => LETTERS.iter().find(|(l, _)| *l as u8 == c)?.1,
            };
        }
        Some(KeyspaceEvents(bits))
    }

    /// Whether notifications of class `class` (one of the constants) go
    /// out at all: the class is asked for and so is K or E.
    pub(crate) fn wants(self, class: u32) -> bool {
        self.0 & class != 0 && self.0 & (Self::KEYSPACE | Self::KEYEVENT) != 0
    }

    /// The raw bits.
    pub(crate) fn bits(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for KeyspaceEvents {
    /// As Redis writes them back: `A` for all its classes, else each
    /// class's letter, then `K`, `E`, `m`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        let all = self.0 & ALL == ALL;
        if all {
            out.push('A');
        }
        for (letter, bit) in LETTERS {
            let class = bit & (ALL | (1 << 14)) != 0;
            if self.0 & bit != 0 && !(all && class) {
                out.push(letter);
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        KeyspaceEvents::parse(text.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn letters_are_written_back_in_redis_order() {
        assert_eq!(round_trip("KEA"), "AKE");
        assert_eq!(round_trip("Kx"), "xK");
        assert_eq!(round_trip(""), "");
        assert_eq!(round_trip("Eg$"), "g$E");
        assert_eq!(round_trip("Ag"), "A");
        assert!(KeyspaceEvents::parse(b"Q").is_none());
    }

    #[test]
    fn a_class_needs_k_or_e_to_be_sent() {
        let e = KeyspaceEvents::parse(b"x").unwrap();
        assert!(!e.wants(KeyspaceEvents::EXPIRED));
        let e = KeyspaceEvents::parse(b"Ex").unwrap();
        assert!(e.wants(KeyspaceEvents::EXPIRED));
        assert!(!e.wants(KeyspaceEvents::STRING));
        assert!(
            KeyspaceEvents::parse(b"KA")
                .unwrap()
                .wants(KeyspaceEvents::HASH)
        );
    }

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
