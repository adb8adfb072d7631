//! How the daemon listens: address, TLS, auth and connection limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::Secret;

/// PEM files of the server's certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Settings of one native-protocol listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:7878`.
    pub listen: SocketAddr,
    /// Also speak the Redis protocol (RESP) on this address, with the same
    /// TLS, auth and limits. Default: off.
    pub resp_listen: Option<SocketAddr>,
    /// Serve Prometheus metrics (`GET /metrics`) over HTTP on this address,
    /// with the same TLS and token (as a bearer token). Default: off.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve TLS with these files (read again by a reload); `None` for
    /// plain TCP.
    pub tls: Option<TlsFiles>,
    /// With TLS, require every client (of every listener, the raft one
    /// included) to present a certificate issued by one in this PEM file;
    /// read again by a reload. `None` (the default): no client
    /// certificates.
    pub tls_client_ca: Option<PathBuf>,
    /// Require this token before any command but PING and AUTH.
    pub auth_token: Option<Secret>,
    /// The file `auth_token` was read from: a reload (`Reloader`) reads it
    /// again. `None` (a token given in code or by `SESSIOND_AUTH_TOKEN`,
    /// or no token) and a reload leaves the token as it is.
    pub auth_token_file: Option<PathBuf>,
    /// Listen on a non-loopback address without an auth token. Off by
    /// default, like Redis's protected mode.
    pub allow_unauthenticated_remote: bool,
    /// Most connections served at once; more are answered BUSY.
    pub max_connections: usize,
    /// Close a connection after this long without a request.
    pub idle_timeout: Duration,
    /// From accepting a connection, the longest wait for its TLS handshake
    /// and the native hello and, when a token is set, for the client to
    /// authenticate: a client that has not by then is closed.
    pub handshake_timeout: Duration,
    /// Most bytes a connection may hold of requests not yet answered (an
    /// incomplete request, or requests behind unwritten answers); more
    /// closes it. Before authentication, at most 1 MiB whatever this says.
    pub max_input_buffer: usize,
    /// Most bytes of answers a connection may hold that its client has not
    /// read; more closes it, as Redis's `client-output-buffer-limit` does.
    /// Before authentication, at most 1 MiB whatever this says.
    pub max_output_buffer: usize,
    /// Close a connection whose waiting answers have had no byte taken
    /// for this long.
    pub write_timeout: Duration,
    /// Largest frame body accepted, in bytes.
    pub max_frame: u32,
    /// How long a graceful shutdown waits for connections to finish.
    pub shutdown_grace: Duration,
    /// Threads serving connections; 0 for one per core (the default).
    pub threads: usize,
    /// How long a connection thread keeps polling its sockets after a
    /// read before it sleeps (`spin.rs`); zero (the default) never polls.
    pub poll_window: Duration,
    /// How long a session write waits for a strict near cache to
    /// acknowledge its invalidation before it cuts the cache off, and so
    /// the caches' lease (docs/events.md, "Near cache"). Default 1 s.
    pub near_cache_bound: Duration,
    /// Be a member of a replication group; `None` (the default): run
    /// alone.
    pub replication: Option<crate::ReplicationConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            resp_listen: None,
            metrics_listen: None,
            tls: None,
            tls_client_ca: None,
            auth_token: None,
            auth_token_file: None,
            allow_unauthenticated_remote: false,
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(10),
            max_input_buffer: 64 * 1024 * 1024,
            max_output_buffer: 64 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            max_frame: sessiond_protocol::wire::codec::DEFAULT_MAX_FRAME,
            shutdown_grace: Duration::from_secs(10),
            threads: 0,
            poll_window: Duration::ZERO,
            near_cache_bound: Duration::from_secs(1),
            replication: None,
        }
    }
}

impl ServerConfig {
    /// Whether this configuration would expose an unauthenticated store
    /// beyond this machine.
    pub fn is_unprotected_remote(&self) -> bool {
        let remote = std::iter::once(self.listen)
            .chain(self.resp_listen)
            .any(|addr| !addr.ip().is_loopback());
        remote && self.auth_token.is_none() && !self.allow_unauthenticated_remote
    }

    /// The listeners beyond loopback that would speak without TLS, which
    /// the server warns of at start-up.
    pub fn cleartext_remote(&self) -> Vec<SocketAddr> {
        if self.tls.is_some() {
            return Vec::new();
        }
        let raft = self.replication.as_ref().map(|group| group.raft_listen);
        std::iter::once(self.listen)
            .chain(self.resp_listen)
            .chain(self.metrics_listen)
            .chain(raft)
            .filter(|addr| !addr.ip().is_loopback())
            .collect()
    }

    /// The metrics address, if this configuration would serve the metrics
    /// beyond this machine to anyone (no token to ask for, and no
    /// permission to do without one).
    pub fn unprotected_metrics(&self) -> Option<SocketAddr> {
        let addr = self.metrics_listen?;
        let open = self.auth_token.is_none() && !self.allow_unauthenticated_remote;
        (open && !addr.ip().is_loopback()).then_some(addr)
    }
}
