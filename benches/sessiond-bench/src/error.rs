//! The one error type of the load generator.
//!
//! A benchmark run has nothing to recover from: any failure ends the run
//! and is shown to the user as a single line, so a message is all an error
//! needs to carry.

use std::fmt;

/// Why a run stopped: a readable message, shown as one line.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<sessiond::StoreError> for Error {
    fn from(error: sessiond::StoreError) -> Self {
        Error(format!("store: {error}"))
    }
}

impl From<crate::resp::RespError> for Error {
    fn from(error: crate::resp::RespError) -> Self {
        Error(format!("redis: {error}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error(error.to_string())
    }
}

/// The result of anything that can stop a run.
pub type Result<T, E = Error> = std::result::Result<T, E>;
