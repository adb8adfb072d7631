//! Keyspace notifications: Redis's `notify-keyspace-events`, published
//! through the pub/sub hub (`pubsub.rs`) to whoever subscribes.
//!
//! The engine tells the server of every change to a key, with Redis's
//! event name for it (`engine/src/key_events.rs`; the fan-out to WATCH
//! and here is `key_hook.rs`). For each event of a class the operator
//! asked for, two messages go out, as from Redis: on
//! `__keyspace@0__:<key>` the event's name (if `K` is set), then on
//! `__keyevent@0__:<event>` the key (if `E` is). A subscriber sees them
//! as any published message, in RESP2 subscriber mode or as RESP3
//! pushes, and one that does not read is disconnected at
//! `--max-output-buffer` like any other.
//!
//! What differs from Redis: `expired` is sent when the key's deadline
//! passes (the expiry cycle reaches every deadline within about a second,
//! `engine/src/wheel.rs`), where Redis sends it when its sampling finds
//! the key, which may be much later; the classes `n` (new key) and `m`
//! (key miss) are accepted and stored but nothing is sent for them; `e`
//! (evicted) never fires, as eviction here removes sessions, which are no
//! keys (their lifecycle is the session event log's, docs/events.md);
//! FLUSHALL sends nothing per key, as in Redis.
//!
//! Cost: while no class is asked for, the store does not call the hook
//! at all (one relaxed load per write). While one is, each change costs
//! one check of the classes and, if anyone subscribes to anything, two
//! channel names built and looked up in the hub; it runs on the writer's
//! thread inside the key's shard lock, so the events of one key are
//! published in the order of its changes (ARCHITECTURE.md, lock order).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sessiond::KeyEvent;

use crate::pubsub::Hub;

/// Publishes the notifications of the classes in force.
pub(crate) struct Notifications {
    hub: Arc<Hub>,
    /// [`KeyspaceEvents`]' bits.
    classes: AtomicU32,
}

impl Notifications {
    pub(crate) fn new(hub: Arc<Hub>) -> Notifications {
        Notifications {
            hub,
            classes: AtomicU32::new(0),
        }
    }

    /// The classes in force (CONFIG GET notify-keyspace-events).
    pub(crate) fn classes(&self) -> KeyspaceEvents {
        KeyspaceEvents(self.classes.load(Ordering::Relaxed))
    }

    /// Puts `classes` in force; whether any notification can go out now.
    pub(crate) fn set_classes(&self, classes: KeyspaceEvents) -> bool {
        self.classes.store(classes.0, Ordering::Relaxed);
        classes.sends_any()
    }

    /// Publishes what `event` on `key` announces, of the classes in force.
    pub(crate) fn key_changed(&self, key: &[u8], event: KeyEvent) {
        let classes = self.classes();
        if self.hub.is_empty() {
            return;
        }
        for (class, name) in announced(event) {
            if !classes.wants(class) {
                continue;
            }
            if classes.0 & KeyspaceEvents::KEYSPACE != 0 {
                let channel = [KEYSPACE_PREFIX, key].concat();
                self.hub.publish(&channel, name.as_bytes());
            }
            if classes.0 & KeyspaceEvents::KEYEVENT != 0 {
                let channel = [KEYEVENT_PREFIX, name.as_bytes()].concat();
                self.hub.publish(&channel, key);
            }
        }
    }
}

/// The channel prefixes of database 0, the only one.
const KEYSPACE_PREFIX: &[u8] = b"__keyspace@0__:";
const KEYEVENT_PREFIX: &[u8] = b"__keyevent@0__:";

/// The notifications an event announces, in order, each with its class:
/// one for most, two for a hash whose every field expired (`hexpired`,
/// then `del`), none for a flush.
fn announced(event: KeyEvent) -> impl Iterator<Item = (u32, &'static str)> {
    let first = event.name().map(|name| (class_of(event), name));
    let then = (event == KeyEvent::HexpiredAll).then_some((KeyspaceEvents::GENERIC, "del"));
    first.into_iter().chain(then)
}

/// The `notify-keyspace-events` class an event belongs to, as Redis
/// classes its commands' events.
fn class_of(event: KeyEvent) -> u32 {
    use KeyEvent::*;
    match event {
        Del | Expire | Persist | RenameFrom | RenameTo | CopyTo | Flushed => {
            KeyspaceEvents::GENERIC
        }
        Set | Incrby | Incrbyfloat | Append | Setrange => KeyspaceEvents::STRING,
        Sadd | Srem | Spop | Sinterstore | Sunionstore | Sdiffstore => KeyspaceEvents::SET,
        Hset | Hdel | Hincrby | Hincrbyfloat | Hexpire | Hpersist | Hexpired | HexpiredAll => {
            KeyspaceEvents::HASH
        }
        Expired => KeyspaceEvents::EXPIRED,
        Evicted => KeyspaceEvents::EVICTED,
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

    /// Whether any notification goes out at all: some class the hook
    /// announces, and K or E.
    pub(crate) fn sends_any(self) -> bool {
        let announced = Self::GENERIC | Self::STRING | Self::SET | Self::HASH | Self::EXPIRED;
        self.wants(announced | Self::EVICTED)
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
    fn every_event_is_announced_in_its_class() {
        let all: Vec<_> = announced(KeyEvent::HexpiredAll).collect();
        assert_eq!(
            all,
            [
                (KeyspaceEvents::HASH, "hexpired"),
                (KeyspaceEvents::GENERIC, "del")
            ]
        );
        assert_eq!(announced(KeyEvent::Flushed).count(), 0);
        assert_eq!(
            announced(KeyEvent::Spop).collect::<Vec<_>>(),
            [(KeyspaceEvents::SET, "spop")]
        );
        assert_eq!(class_of(KeyEvent::Expired), KeyspaceEvents::EXPIRED);
        assert!(!KeyspaceEvents::parse(b"Kn").unwrap().sends_any());
        assert!(KeyspaceEvents::parse(b"Ex").unwrap().sends_any());
    }
}
