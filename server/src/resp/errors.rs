//! Why a Redis command failed, and Redis's words for it, in one place:
//! clients and the differential test compare the texts byte for byte.
//!
//! Handlers return a [`RespError`], never a reply built by hand, so that
//! an engine error reads the same whichever command met it, and `?` on a
//! store call is all a handler writes.

use std::borrow::Cow;

use bytes::Bytes;
use sessiond_protocol::StoreError;

use super::reply::Value;

/// A failed command; its `Display` is the whole error line, code first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RespError {
    /// An option or argument Redis does not accept there.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be an integer (as Redis's `string2ll` reads).
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    /// The argument count does not fit the command.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(&'static str),
    /// A TTL that is not positive or whose deadline overflows.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    /// A SCAN cursor that is not an unsigned decimal.
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// The connection must authenticate first.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// A wrong token, or a user other than `default`.
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// The engine refused; spelled by [`store_text`].
    #[error("{}", store_text(.0))]
    Store(#[from] StoreError),
    /// Any other error with Redis's generic `ERR` code.
    #[error("ERR {0}")]
    Other(Cow<'static, str>),
    /// An error line with a code of its own (`NOPROTO …`).
    #[error("{0}")]
    Coded(Cow<'static, str>),
}

impl RespError {
    /// An `ERR` error with this message.
    pub(crate) fn other(message: impl Into<Cow<'static, str>>) -> RespError {
        RespError::Other(message.into())
    }

    /// Redis's `unknown command` error, quoting the name as it was spelled
    /// and up to the first 16 arguments (128 characters of each).
    pub(crate) fn unknown_command(name: &[u8], args: &[Bytes]) -> RespError {
        let mut text = format!(
            "unknown command '{}', with args beginning with: ",
            String::from_utf8_lossy(name)
        );
        for arg in args.iter().take(16) {
            let arg = String::from_utf8_lossy(arg);
            let arg: String = arg.chars().take(128).collect();
            text.push_str(&format!("'{arg}' "));
        }
        RespError::Other(text.into())
    }

    /// `unknown subcommand …` for CLIENT and COMMAND.
    pub(crate) fn unknown_subcommand(sub: &str, command: &str) -> RespError {
        RespError::other(format!(
            "unknown subcommand or wrong number of arguments for '{sub}'. Try {command} HELP."
        ))
    }
}

impl From<RespError> for Value {
    fn from(error: RespError) -> Value {
        Value::Error(error.to_string())
    }
}

/// An engine error in Redis's words where Redis has them, in `ERR` and
/// the engine's words where it has none.
fn store_text(error: &StoreError) -> String {
    match error {
        StoreError::NotAnInteger => RespError::NotAnInteger.to_string(),
        StoreError::Overflow => "ERR increment or decrement would overflow".into(),
        StoreError::OutOfMemory { .. } => {
            "OOM command not allowed when used memory > 'maxmemory'.".into()
        }
        StoreError::WrongType => {
            "WRONGTYPE Operation against a key holding the wrong kind of value".into()
        }
        // Redis's prefix for "writes refused until the disk is fixed".
        StoreError::Persistence(why) => {
            format!("MISCONF Errors writing to the append-only log: {why}")
        }
        // Key commands miss only in RENAME; session commands answer a
        // missing session with null before it gets here.
        StoreError::NotFound => "ERR no such key".into(),
        StoreError::SessionLimit { limit } => {
            format!("SESSIONLIMIT owner already has {limit} sessions")
        }
        StoreError::VersionMismatch { expected, actual } => {
            format!("VERSIONMISMATCH expected {expected}, session is at {actual}")
        }
        other => format!("ERR {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_redis_writes_them() {
        assert_eq!(
            RespError::Arity("get").to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            RespError::from(StoreError::WrongType).to_string(),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            RespError::from(StoreError::IdTaken).to_string(),
            "ERR session id is already in use"
        );
        let args = [Bytes::from("a"), Bytes::from("b")];
        assert_eq!(
            RespError::unknown_command(b"FOOBAR", &args).to_string(),
            "ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' "
        );
    }
}
