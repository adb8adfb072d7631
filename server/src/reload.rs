//! Reloading the TLS certificate and key and the auth token while the
//! server runs, so that a rotated certificate or token takes effect
//! without a restart, which would drop every connection.
//!
//! What connections read is one [`Credentials`] value behind an `Arc`,
//! which a reload replaces whole: a new connection takes the current TLS
//! acceptor once, when it is accepted, and every AUTH takes the current
//! token once, when it is checked. Nobody holds the lock while using what
//! it read, so a reload never waits for a handshake and a handshake never
//! sees half a reload.
//!
//! The rules, and why:
//!
//! - **All or nothing.** A reload reads and checks every configured file
//!   (the chain has a certificate, the key parses and is the leaf's, the
//!   token is neither empty nor over the limit) before it changes
//!   anything; if one fails, it logs one error line and the old
//!   certificate and token stay, so a half-copied file cannot take the
//!   service down or lock clients out (Redis's `ACL LOAD` is all or
//!   nothing in the same way).
//! - **Only what came from files.** The certificate and key are re-read
//!   if TLS is on; the token if it came from a file
//!   (`ServerConfig::auth_token_file`). A token from `SESSIOND_AUTH_TOKEN`
//!   is kept: a running process's environment cannot be changed from
//!   outside. A reload cannot switch TLS on or off either, as clients of a
//!   listener expect one or the other.
//! - **Existing connections are left alone.** A TLS session keeps the
//!   certificate it was made with, and a connection that has
//!   authenticated stays authenticated under the new token, as a Redis
//!   client does after `CONFIG SET requirepass`. Cutting them off
//!   instead would turn every rotation into an outage for long-lived
//!   pools. One token is in force at a time, so a rotation is: reload,
//!   switch the clients to the new token (their pooled connections go on
//!   meanwhile; only new ones need it), then recycle any connection still
//!   made with the old one. A connection that has not authenticated yet
//!   checks its next AUTH against the new token.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::auth::{Secret, TokenFileError};
use crate::config::{ServerConfig, TlsFiles};
use crate::tls::{self, TlsError};

/// What a new connection needs to be let in: its TLS acceptor and the
/// token its AUTH must match.
pub(crate) struct Credentials {
    /// `None`: plain TCP.
    pub tls: Option<TlsAcceptor>,
    /// `None`: no auth.
    pub token: Option<Secret>,
}

/// The current [`Credentials`], replaced whole by a reload.
pub(crate) struct Live {
    current: RwLock<Arc<Credentials>>,
    /// Held for a whole reload, so that two at once cannot finish out of
    /// order and leave the older files' contents in force.
    reloading: Mutex<()>,
}

impl Live {
    pub(crate) fn new(credentials: Credentials) -> Live {
        Live {
            current: RwLock::new(Arc::new(credentials)),
            reloading: Mutex::new(()),
        }
    }

    /// The credentials in force now, to be used for one handshake or one
    /// AUTH check and let go.
    pub(crate) fn current(&self) -> Arc<Credentials> {
        // Nothing can panic while the lock is held for writing (it only
        // swaps a pointer), so a poisoned lock still holds a whole value.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, credentials: Credentials) {
        let new = Arc::new(credentials);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            new,
        );
        // Freed (if no connection still holds it) after the lock is let go.
        drop(old);
    }
}

/// Reloads a running server's certificate, key and token from their
/// files (see the module's documentation for what that changes). Get one
/// from [`Server::reloader`](crate::Server::reloader) before running the
/// server; clones share it, and it may be used from any thread, during
/// and after [`Server::run_until`](crate::Server::run_until).
#[derive(Clone)]
pub struct Reloader {
    live: Arc<Live>,
    tls: Option<TlsFiles>,
    client_ca: Option<PathBuf>,
    token_file: Option<PathBuf>,
}

/// What a reload read and put in force.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The certificate and key files, if TLS is on.
    pub tls: Option<TlsFiles>,
    /// The token file, if the token came from one.
    pub token_file: Option<PathBuf>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The token file could not be read or holds no valid token.
    #[error(transparent)]
    Token(#[from] TokenFileError),
}

impl Reloader {
    /// The reloader of the server configured by `config`, whose
    /// connections read `live`.
    pub(crate) fn new(config: &ServerConfig, live: Arc<Live>) -> Reloader {
        Reloader {
            live,
            tls: config.tls.clone(),
            client_ca: config.tls_client_ca.clone(),
            token_file: config.auth_token_file.clone(),
        }
    }

    /// Reads the files again and, if all are valid, puts them in force for
    /// new connections and new AUTH checks; otherwise keeps the current
    /// ones. Logs the outcome in one line either way; the result is for
    /// callers that want it too.
    ///
    /// It reads a few small files, blocking: from async code, call it on a
    /// blocking thread (`spawn_blocking`).
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let outcome = self.try_reload();
        match &outcome {
            Ok(reloaded) => info!("reloaded {reloaded}"),
            Err(e) => error!("reload failed, keeping the current certificate and token: {e}"),
        }
        outcome
    }

    fn try_reload(&self) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self
            .live
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.live.current();
        // Everything is read and checked before anything is replaced.
        let tls = match &self.tls {
            Some(files) => Some(tls::acceptor(files, self.client_ca.as_deref())?),
            None => current.tls.clone(),
        };
        let token = match &self.token_file {
            Some(path) => Some(Secret::from_file(path)?),
            None => current.token.clone(),
        };
        self.live.replace(Credentials { tls, token });
        Ok(Reloaded {
            tls: self.tls.clone(),
            token_file: self.token_file.clone(),
        })
    }
}

impl std::fmt::Display for Reloaded {
    /// For the log line: "the TLS certificate (…) and key (…) and the auth
    /// token (…)", or that there was nothing to reload.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = self.tls.as_ref().map(|files| {
            format!(
                "the TLS certificate ({}) and key ({})",
                files.cert.display(),
                files.key.display()
            )
        });
        let token =
            (self.token_file.as_ref()).map(|path| format!("the auth token ({})", path.display()));
        match (tls, token) {
            (Some(tls), Some(token)) => write!(f, "{tls} and {token}"),
            (Some(one), None) | (None, Some(one)) => f.write_str(&one),
            (None, None) => {
                f.write_str("nothing: no TLS files and no auth token file are configured")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reloaded(tls: bool, token: bool) -> String {
        Reloaded {
            tls: tls.then(|| TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into(),
            }),
            token_file: token.then(|| "t".into()),
        }
        .to_string()
    }

    #[test]
    fn the_log_line_says_what_was_reloaded() {
        assert_eq!(
            reloaded(true, true),
            "the TLS certificate (c.pem) and key (k.pem) and the auth token (t)"
        );
        assert_eq!(reloaded(false, true), "the auth token (t)");
        assert_eq!(
            reloaded(true, false),
            "the TLS certificate (c.pem) and key (k.pem)"
        );
        assert!(reloaded(false, false).starts_with("nothing"));
    }

    #[test]
    fn a_token_from_code_is_kept_by_a_reload() {
        let config = ServerConfig {
            auth_token: Some(Secret::new("in-code-padded-to-the-32-byte-minimum").unwrap()),
            ..ServerConfig::default()
        };
        let live = Arc::new(Live::new(Credentials {
            tls: None,
            token: config.auth_token.clone(),
        }));
        let reloader = Reloader::new(&config, live.clone());
        let reloaded = reloader.reload().unwrap();
        assert_eq!(reloaded.token_file, None);
        let current = live.current();
        assert!(
            current
                .token
                .as_ref()
                .unwrap()
                .matches(b"in-code-padded-to-the-32-byte-minimum")
        );
        assert!(current.tls.is_none());
    }
}
