//! [`ClientError`]: everything that can go wrong between a call and its
//! answer.
//!
//! The variants separate what the caller can act on differently: a store
//! error is an answer (the operation did not happen, as on the embedded
//! store); a timeout or a lost connection means the caller does not know
//! whether a write happened; a configuration or TLS error will not go away
//! by retrying.

use sessiond_protocol::wire::ServerError;
use sessiond_protocol::{AsStoreError, StoreError};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The store refused the operation, exactly as the embedded store
    /// would have (`NOT_FOUND`, `VERSION_MISMATCH`, …). The store is
    /// unchanged.
    #[error(transparent)]
    Store(StoreError),
    /// The server answered with one of the protocol's own errors rather
    /// than a store error: `AUTH_FAILED`, `AUTH_REQUIRED`, `BUSY`,
    /// `SHUTTING_DOWN`, `UNSUPPORTED_VERSION`, … Also used for a request
    /// too large for the server's `max frame`, which the client refuses
    /// before sending (the server would close the connection on it).
    #[error("server error: {0}")]
    Server(ServerError),
    /// The network failed while connecting.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// TLS failed: the server's certificate did not verify, the server
    /// name is invalid, or the CA roots could not be loaded.
    #[error("TLS error: {0}")]
    Tls(String),
    /// No reply within the configured request timeout (or no connection
    /// within the connect timeout). A write may or may not have happened.
    #[error("timed out")]
    Timeout,
    /// The connection broke after the request was sent and before its
    /// reply arrived: it may or may not have been executed. Returned for
    /// operations that are not safe to apply twice (others are retried,
    /// see [`Retry`](crate::Retry)). The client reconnects in the
    /// background.
    #[error(
        "connection lost before the reply arrived; the request may or may not have been executed"
    )]
    ConnectionLost,
    /// The server broke the protocol: a reply of the wrong kind, a bad
    /// hello, a body that does not decode.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// The client's configuration cannot work: a bad address or URL, a
    /// missing CA, a missing token for a server that requires one.
    #[error("client configuration: {0}")]
    Config(String),
    /// The call was retried up to its bound ([`Retry`](crate::Retry)) and
    /// never got an answer it could return: the server or replication
    /// group stayed unreachable, leaderless or unavailable.
    #[error(
        "gave up after {attempts} attempts in {} ms{}: {last}",
        elapsed.as_millis(),
        if *outcome_unknown { " (the request may or may not have been executed)" } else { "" }
    )]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// From the first attempt to giving up.
        elapsed: std::time::Duration,
        /// Whether some attempt may have been executed (its connection
        /// broke after sending, or the group answered `UNAVAILABLE`).
        outcome_unknown: bool,
        /// Why the last attempt failed.
        last: Box<ClientError>,
    },
}

/// Lets code generic over [`sessiond_protocol::SessionStore`] find the
/// store's answer inside a client error (the `#[error(transparent)]` on
/// [`ClientError::Store`] hides it from the source chain).
impl AsStoreError for ClientError {
    fn as_store_error(&self) -> Option<&StoreError> {
        match self {
            ClientError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for ClientError {
    fn from(err: StoreError) -> Self {
        ClientError::Store(err)
    }
}

impl From<ServerError> for ClientError {
    /// Store errors become [`ClientError::Store`], so that callers match
    /// them the same way whether the store is embedded or remote; the
    /// protocol's own errors become [`ClientError::Server`].
    fn from(err: ServerError) -> Self {
        match err {
            ServerError::Store(e) => ClientError::Store(e),
            other => ClientError::Server(other),
        }
    }
}

impl ClientError {
    /// Whether the call failed without an answer from the store, so that
    /// the caller cannot know whether a write took effect: a timeout, a
    /// lost connection, `UNAVAILABLE`, or retries that gave up after one
    /// of those.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            ClientError::Timeout
            | ClientError::ConnectionLost
            | ClientError::Server(ServerError::Unavailable(_)) => true,
            ClientError::GaveUp {
                outcome_unknown, ..
            } => *outcome_unknown,
            _ => false,
        }
    }

    /// Maps an I/O error from a TLS stream to [`ClientError::Tls`] when
    /// rustls is behind it (a certificate that does not verify surfaces as
    /// an `io::Error` wrapping a `rustls::Error`).
    pub(crate) fn from_io(err: std::io::Error) -> Self {
        let is_tls = err
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        if is_tls {
            ClientError::Tls(err.to_string())
        } else {
            ClientError::Io(err)
        }
    }
}

/// The error for a reply of the wrong kind: the server broke the
/// protocol, since each operation has exactly one reply tag (SPEC.md §8).
pub(crate) fn unexpected(
    op: &str,
    expected: &str,
    got: &sessiond_protocol::wire::Reply,
) -> ClientError {
    ClientError::Protocol(format!(
        "{op} was answered with reply tag 0x{:02x}, expected {expected}",
        got.tag()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_from_the_server_become_store_errors() {
        let err = ClientError::from(ServerError::Store(StoreError::NotFound));
        assert!(matches!(err, ClientError::Store(StoreError::NotFound)));
        let err = ClientError::from(ServerError::Busy);
        assert!(matches!(err, ClientError::Server(ServerError::Busy)));
    }

    #[test]
    fn rustls_errors_inside_io_errors_become_tls_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(ClientError::from_io(io), ClientError::Tls(_)));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(ClientError::from_io(io), ClientError::Io(_)));
    }
}
