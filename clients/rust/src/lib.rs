//! An async Rust client for sessiond's native protocol (`protocol/SPEC.md`).
//!
//! - **One trait, two stores.** [`Client`] implements
//!   [`SessionStore`], the same trait as
//!   the embedded `sessiond::Store`: application code is written once and
//!   chooses embedded or remote by configuration. Store errors arrive as
//!   [`ClientError::Store`] with the very [`StoreError`] the embedded store
//!   returns.
//! - **Pooled and pipelined.** A client keeps a few connections (4 by
//!   default). Concurrent calls share them: each connection writes every
//!   request queued at that moment in one write, and matches replies to
//!   callers in order, since the server answers in order. Thousands of
//!   concurrent callers need no more connections.
//! - **Bounded waits.** Every call waits at most the request timeout and
//!   then fails with [`ClientError::Timeout`].
//! - **Reconnects, and retries what is safe.** A broken connection
//!   reconnects in the background with exponential backoff,
//!   authenticating again. A request whose connection broke is sent again
//!   only if applying it twice is harmless (reads, KEY_SET, DELETE, …);
//!   others (KEY_INCR, ROTATE, UPDATE without an expected version) fail
//!   with [`ClientError::ConnectionLost`], since they may or may not have
//!   happened. Retries are bounded in number and time ([`Retry`]).
//! - **Replication groups.** Given several addresses
//!   ([`ClientConfig::group`]), the client follows `NOT_LEADER` redirects
//!   to the leader, tries the other members when a node is unreachable or
//!   knows no leader, and retries across a failover. CREATE draws the
//!   session id in the client, so that a retried CREATE cannot make two
//!   sessions.
//! - **A tower-sessions store**: the crate `tower-sessions-sessiond-store`
//!   keeps axum and tower sessions in sessiond, over this client or the
//!   embedded store, filed under their user for device lists and
//!   log-out-everywhere.
//! - **TLS with your CA.** Through rustls, verification always on, with
//!   the CA named explicitly ([`Roots`]); the system store is never used.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use sessiond_client::{Client, ClientConfig, ClientError, SessionStore};
//! use sessiond_client::protocol::{Labels, NewSession, StoreError};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), ClientError> {
//!     let config = ClientConfig::from_url("sessiond://127.0.0.1:7878")?
//!         .auth_token_from_env("SESSIOND_AUTH_TOKEN")?
//!         .request_timeout(Duration::from_secs(2));
//!     let client = Client::connect(config).await?;
//!
//!     let id = client
//!         .create(
//!             NewSession::new("user:42")
//!                 .data(b"{\"cart\":[]}".to_vec())
//!                 .labels(Labels::new().with("ua", "Firefox on Linux"))
//!                 .idle_timeout(Duration::from_secs(30 * 60)),
//!         )
//!         .await?;
//!     let session = client.get(&id).await?;
//!     assert_eq!(session.owner, b"user:42");
//!
//!     // After login, a fresh id; the old one stops working at once.
//!     let id2 = client.rotate(&id).await?;
//!     assert!(matches!(
//!         client.get(&id).await,
//!         Err(ClientError::Store(StoreError::NotFound))
//!     ));
//!
//!     // Log out everywhere else.
//!     client.delete_owner(b"user:42", Some(&id2)).await?;
//!     Ok(())
//! }
//! ```
//!
//! TLS, with the CA that signed the server's certificate:
//!
//! ```no_run
//! # async fn run() -> Result<(), sessiond_client::ClientError> {
//! use sessiond_client::{Client, ClientConfig, TlsOptions};
//!
//! let config = ClientConfig::new("sessiond.internal:7879")
//!     .tls(TlsOptions::from_pem_file("sessiond.internal", "/etc/sessiond/ca.pem"))
//!     .auth_token_from_file("/run/secrets/sessiond-token")?;
//! let client = Client::connect(config).await?;
//! client.ping().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod client;
mod config;
mod connection;
mod error;
mod events;
mod failover;
mod near_cache;
mod pool;
mod store;

pub use client::Client;
pub use config::{Backoff, ClientConfig, DEFAULT_PORT, Retry, Roots, TlsOptions};
pub use error::ClientError;
pub use near_cache::{NearCache, NearCacheConfig, NearCacheStats};
pub use sessiond_protocol::{MAX_KEY_LEN, MAX_OWNER_LEN};

/// The protocol crate: the model types ([`NewSession`](sessiond_protocol::NewSession),
/// [`Session`](sessiond_protocol::Session), …) and the wire messages
/// ([`Request`](sessiond_protocol::wire::Request),
/// [`Reply`](sessiond_protocol::wire::Reply)).
pub use sessiond_protocol as protocol;
pub use sessiond_protocol::{AsStoreError, SessionStore, StoreError};

/// DER certificates, for [`Roots::Certs`] and [`TlsOptions::from_certs`].
pub use rustls_pki_types::CertificateDer;

/// The rustls version the client is built with, for [`Roots::Store`].
pub use rustls;
