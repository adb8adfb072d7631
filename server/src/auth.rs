//! The auth token, compared in constant time, and the slowdown of wrong
//! guesses.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use subtle::ConstantTimeEq;

/// Longest token compared; longer ones never match. Comparing within a
/// fixed-size buffer keeps the time independent of both the content and
/// the length of the secret.
const MAX_TOKEN: usize = 1024;

/// A shared secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from its bytes; surrounding whitespace (a trailing newline
    /// in a token file) is not part of it.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Secret, &'static str> {
        let trimmed = bytes.as_ref().trim_ascii();
        if trimmed.is_empty() {
            return Err("the auth token is empty");
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
        let secret = Secret::new("s3cret\n").unwrap();
        assert!(secret.matches(b"s3cret"));
        assert!(!secret.matches(b"s3cre"));
        assert!(!secret.matches(b"s3cret!"));
        assert!(!secret.matches(b"S3cret"));
        assert!(!secret.matches(b""));
        assert!(!secret.matches(&[b'x'; 5000]));
        assert_eq!(format!("{secret:?}"), "Secret(…)");
    }

    #[test]
    fn refuses_empty_and_oversized_tokens() {
        assert!(Secret::new(" \n").is_err());
        assert!(Secret::new(vec![b'a'; 1025]).is_err());
    }

    #[test]
    fn delay_grows_then_caps() {
        assert_eq!(failure_delay(1), Duration::from_millis(100));
        assert_eq!(failure_delay(5), Duration::from_millis(500));
        assert_eq!(failure_delay(100), Duration::from_secs(2));
    }
}
