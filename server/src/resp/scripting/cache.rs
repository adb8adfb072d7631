//! The script cache: each script's body by its SHA1, bounded.
//!
//! Redis 7.0's cache grows without bound until SCRIPT FLUSH, and a client
//! that builds a new script per call (a well-known misuse) fills memory
//! with them. Here the cache holds at most [`MAX_SCRIPTS`] scripts and
//! [`MAX_BYTES`] of bodies: past either, the oldest script that EVAL
//! added is forgotten first (as Redis 7.4 does), then the oldest SCRIPT
//! LOAD one. A forgotten script's EVALSHA answers NOSCRIPT, which every
//! client library answers by sending the body again.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

/// Most scripts cached.
pub(crate) const MAX_SCRIPTS: usize = 10_000;
/// Most bytes of bodies cached.
pub(crate) const MAX_BYTES: usize = 64 << 20;

/// One cached script.
pub(super) struct Entry {
    pub body: Bytes,
    /// Added by SCRIPT LOAD (kept longer than EVAL's).
    pub loaded: bool,
}

/// The cache (see the module documentation).
#[derive(Default)]
pub(super) struct Cache {
    scripts: HashMap<String, Entry>,
    /// SHA1s in the order they came.
    order: VecDeque<String>,
    bytes: usize,
}

impl Cache {
    pub(super) fn get(&self, sha: &str) -> Option<&Entry> {
        self.scripts.get(sha)
    }

    pub(super) fn contains(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }

    /// Adds a script; returns the SHA1s forgotten to make room (their
    /// compiled functions go too).
    pub(super) fn insert(&mut self, sha: String, body: Bytes, loaded: bool) -> Vec<String> {
        if let Some(entry) = self.scripts.get_mut(&sha) {
            entry.loaded |= loaded;
            return Vec::new();
        }
        self.bytes += body.len();
        self.scripts.insert(sha.clone(), Entry { body, loaded });
        self.order.push_back(sha);
        let mut forgotten = Vec::new();
        while self.scripts.len() > MAX_SCRIPTS || self.bytes > MAX_BYTES {
            let at = self
                .order
                .iter()
                .position(|s| self.scripts.get(s).is_some_and(|e| !e.loaded))
                .unwrap_or(0);
            // Never the script just added.
            if at + 1 == self.order.len() {
                break;
            }
            let Some(old) = self.order.remove(at) else {
                break;
            };
            if let Some(entry) = self.scripts.remove(&old) {
                self.bytes -= entry.body.len();
            }
            forgotten.push(old);
        }
        forgotten
    }

    pub(super) fn clear(&mut self) {
        *self = Cache::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_eval_script_goes_first() {
        let mut cache = Cache::default();
        cache.insert("loaded".into(), Bytes::from_static(b"x"), true);
        for i in 0..MAX_SCRIPTS {
            let gone = cache.insert(format!("s{i}"), Bytes::from_static(b"y"), false);
            if i + 1 < MAX_SCRIPTS {
                assert!(gone.is_empty());
            } else {
                assert_eq!(gone, ["s0"]);
            }
        }
        assert!(cache.contains("loaded"));
        assert!(!cache.contains("s0"));
        assert_eq!(cache.scripts.len(), MAX_SCRIPTS);
    }
}
