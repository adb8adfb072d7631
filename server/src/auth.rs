//! The auth token, compared in constant time, and the slowdown of wrong
//! guesses.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::time::Instant;

use subtle::ConstantTimeEq;

/// Longest token compared; longer ones never match. Comparing within a
/// fixed-size buffer keeps the time independent of both the content and
/// the length of the secret.
const MAX_TOKEN: usize = 1024;

/// Shortest token accepted: 32 bytes, as `openssl rand -base64 32` makes
/// (44 characters), so that guessing is hopeless whatever the delays.
pub const MIN_TOKEN: usize = 32;

/// A shared secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from its bytes; surrounding ASCII whitespace (spaces,
    /// tabs, a trailing newline in a token file) is not part of it, as
    /// every client reads token files too. At least [`MIN_TOKEN`] bytes.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Secret, &'static str> {
        let trimmed = bytes.as_ref().trim_ascii();
        if trimmed.is_empty() {
            return Err("the auth token is empty");
        }
        if trimmed.len() < MIN_TOKEN {
            return Err(
                "the auth token is shorter than 32 bytes; make one with `openssl rand -base64 32`",
            );
        }
        if trimmed.len() > MAX_TOKEN {
            return Err("the auth token is longer than 1024 bytes");
        }
        Ok(Secret(trimmed.to_vec()))
    }

    /// The secret a token file holds, checked as by [`Secret::new`]. One
    /// reader for start-up and for reloads, so that both accept the same
    /// files and say the same things about the others.
    pub fn from_file(path: &Path) -> Result<Secret, TokenFileError> {
        let path_buf = || path.to_path_buf();
        let bytes = std::fs::read(path).map_err(|error| TokenFileError::Read {
            path: path_buf(),
            error,
        })?;
        Secret::new(bytes).map_err(|why| TokenFileError::Invalid {
            path: path_buf(),
            why,
        })
    }

    /// The bytes, to send to a peer (node-to-node traffic).
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether `given` is this secret, in time independent of where they
    /// differ and of the secret's length.
    pub fn matches(&self, given: &[u8]) -> bool {
        if given.len() > MAX_TOKEN {
            return false;
        }
        let (mut ours, mut theirs) = ([0u8; MAX_TOKEN], [0u8; MAX_TOKEN]);
        ours[..self.0.len()].copy_from_slice(&self.0);
        theirs[..given.len()].copy_from_slice(given);
        let same_len = (self.0.len() as u64).ct_eq(&(given.len() as u64));
        (ours.ct_eq(&theirs) & same_len).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Why a token file gave no token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read. (The error is in the message rather
    /// than a source, so that a chain of causes prints it once.)
    #[error("cannot read the auth token file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// It holds no valid token: empty, or too long.
    #[error("{}: {why}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with its token.
        why: &'static str,
    },
}

/// How long wrong guesses are remembered across connections: a window
/// that starts at a peer's (or, for all peers together, anyone's) first
/// wrong guess after the last window ended.
const GUESS_WINDOW: Duration = Duration::from_secs(60);

/// Wrong guesses in all, within a window, that cost every wrong guess one
/// more step of delay: guessing from many addresses at once slows too.
const GLOBAL_PER_STEP: u32 = 10;

/// Most peer addresses remembered; past it, those whose window is over
/// are forgotten first, and if none is, all are.
const MAX_PEERS: usize = 16 * 1024;

/// Wrong guesses remembered across connections, per peer address and in
/// all, so that reconnecting does not reset the delay (`policy.rs`).
#[derive(Default)]
pub(crate) struct Guesses {
    peers: parking_lot::Mutex<std::collections::HashMap<IpAddr, Window>>,
    all: parking_lot::Mutex<Option<Window>>,
}

/// Wrong guesses since `since`.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    failures: u32,
}

impl Window {
    /// Counts one more wrong guess at `now`, in a new window if the last
    /// one is over.
    fn bump(window: &mut Option<Window>, now: Instant) -> u32 {
        let current = match *window {
            Some(w) if now.duration_since(w.since) < GUESS_WINDOW => w,
            _ => Window {
                since: now,
                failures: 0,
            },
        };
        let failures = current.failures.saturating_add(1);
        *window = Some(Window {
            failures,
            ..current
        });
        failures
    }
}

impl Guesses {
    /// Records a wrong guess from `peer` (the connection's `failures`-th)
    /// and returns the delay it owes: [`failure_delay`] of the most of the
    /// connection's failures, its peer's in their window, and a step per
    /// [`GLOBAL_PER_STEP`] of everyone's in theirs.
    pub(crate) fn failed(&self, peer: Option<IpAddr>, failures: u32) -> Duration {
        let now = Instant::now();
        let by_peer = peer.map_or(0, |ip| {
            let mut peers = self.peers.lock();
            if peers.len() >= MAX_PEERS && !peers.contains_key(&ip) {
                peers.retain(|_, w| now.duration_since(w.since) < GUESS_WINDOW);
                if peers.len() >= MAX_PEERS {
                    peers.clear();
                }
            }
            let mut window = peers.get(&ip).copied();
            let count = Window::bump(&mut window, now);
            peers.insert(ip, window.expect("bump sets it"));
            count
        });
        let in_all = Window::bump(&mut self.all.lock(), now);
        failure_delay(failures.max(by_peer).max(in_all / GLOBAL_PER_STEP))
    }

    /// The peer gave the right token: its past guesses are forgiven.
    pub(crate) fn succeeded(&self, peer: Option<IpAddr>) {
        if let Some(ip) = peer {
            self.peers.lock().remove(&ip);
        }
    }
}

/// Failed attempts after which a connection is closed.
pub(crate) const MAX_FAILURES: u32 = 10;

/// How long to wait before answering the `failures`-th wrong token: 100 ms
/// more for each, at most 2 s, so guessing costs time but a typo does not.
pub(crate) fn failure_delay(failures: u32) -> Duration {
    Duration::from_millis(100 * u64::from(failures)).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_token() {
        let secret = Secret::new("s3cret-padded-to-the-32-byte-minimum\n").unwrap();
        assert!(secret.matches(b"s3cret-padded-to-the-32-byte-minimum"));
        assert!(!secret.matches(b"s3cre"));
        assert!(!secret.matches(b"s3cret-padded-to-the-32-byte-minimum!"));
        assert!(!secret.matches(b"S3cret"));
        assert!(!secret.matches(b""));
        assert!(!secret.matches(&[b'x'; 5000]));
        assert_eq!(format!("{secret:?}"), "Secret(…)");
    }

    #[test]
    fn refuses_empty_short_and_oversized_tokens() {
        assert!(Secret::new(" \n").is_err());
        assert!(Secret::new(vec![b'a'; 1025]).is_err());
        let short = Secret::new("s3cret").unwrap_err();
        assert!(short.contains("openssl rand -base64 32"), "{short}");
        assert!(Secret::new([b'a'; 31]).is_err());
        assert!(Secret::new([b'a'; 32]).is_ok());
        // Whitespace around it does not count.
        assert!(Secret::new(format!(" {}\n", "a".repeat(31))).is_err());
    }

    #[test]
    fn guesses_are_remembered_per_peer_and_in_all() {
        let guesses = Guesses::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for n in 1..=5 {
            // A fresh connection each time: the peer's count goes on.
            assert_eq!(guesses.failed(Some(a), 1), failure_delay(n));
        }
        assert_eq!(guesses.failed(Some(b), 1), failure_delay(1), "another peer");
        guesses.succeeded(Some(a));
        assert_eq!(guesses.failed(Some(a), 1), failure_delay(1), "forgiven");
        // Many peers guessing at once slow every guess.
        let many = Guesses::default();
        for i in 0..200u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            many.failed(Some(ip), 1);
        }
        assert_eq!(many.failed(None, 1), failure_delay(201 / GLOBAL_PER_STEP));
    }

    #[test]
    fn delay_grows_then_caps() {
        assert_eq!(failure_delay(1), Duration::from_millis(100));
        assert_eq!(failure_delay(5), Duration::from_millis(500));
        assert_eq!(failure_delay(100), Duration::from_secs(2));
    }
}
