//! [`ClientConfig`]: where the server is, how to reach it, and how patient
//! to be.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::ClientError;

/// The port sessiond listens on unless told otherwise (SPEC.md §4).
pub const DEFAULT_PORT: u16 = 7878;

/// How to reach a sessiond server, or the nodes of a replication group,
/// and how patient to be.
///
/// Build one with [`ClientConfig::new`], [`ClientConfig::group`] or
/// [`ClientConfig::from_url`] and the chaining setters; the fields are
/// public so that they can also be read and adjusted in place.
///
/// ```
/// use std::time::Duration;
/// use sessiond_client::ClientConfig;
///
/// let config = ClientConfig::new("127.0.0.1:7878")
///     .auth_token(b"s3cret".to_vec())
///     .pool_size(8)
///     .request_timeout(Duration::from_secs(2));
/// assert_eq!(config.pool_size, 8);
///
/// // A replication group: any member will do to start with; the client
/// // follows the leader from there.
/// let group = ClientConfig::group(["10.0.0.1:7878", "10.0.0.2:7878", "10.0.0.3:7878"]);
/// assert_eq!(group.address, "10.0.0.1:7878");
/// assert_eq!(group.addresses().count(), 3);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `host:port` of the server, or of the member of a replication group
    /// tried first (a name is resolved on every connect, so a reconnect
    /// follows DNS changes).
    pub address: String,
    /// The other members of the replication group, if any (`host:port`
    /// each): tried in order when the node in use cannot be reached or
    /// does not know the leader. A leader named in a `NOT_LEADER` redirect
    /// is used whether it is listed here or not.
    pub peers: Vec<String>,
    /// TLS, or `None` for plain TCP.
    pub tls: Option<TlsOptions>,
    /// The token sent in `AUTH` right after the handshake, if any.
    /// Never printed by `Debug`.
    pub auth_token: Option<Vec<u8>>,
    /// How many connections to keep open (default 4). Requests are
    /// pipelined, so a few connections carry many concurrent callers.
    pub pool_size: usize,
    /// The longest a request waits for its reply, including the wait for
    /// a connection (default 5 s).
    pub request_timeout: Duration,
    /// The longest one connection attempt may take: TCP, TLS, handshake
    /// and `AUTH` together (default 5 s).
    pub connect_timeout: Duration,
    /// The delays between reconnection attempts.
    pub backoff: Backoff,
    /// How requests are retried across a failover (see [`Retry`]).
    pub retry: Retry,
}

impl ClientConfig {
    /// Plain TCP to `address` (`host:port`), no token, the default pool
    /// size and timeouts.
    pub fn new(address: impl Into<String>) -> Self {
        ClientConfig {
            address: address.into(),
            peers: Vec::new(),
            tls: None,
            auth_token: None,
            pool_size: 4,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            retry: Retry::default(),
        }
    }

    /// Plain TCP to a replication group: the first address is tried first,
    /// the others when it fails (see [`ClientConfig::peers`]). No addresses
    /// at all is refused when connecting.
    pub fn group<I, A>(addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        let mut addresses = addresses.into_iter().map(Into::into);
        let first = addresses.next().unwrap_or_default();
        ClientConfig::new(first).peers(addresses)
    }

    /// The other members of the replication group, replacing any given
    /// before.
    pub fn peers<I, A>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.peers = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// Every configured address, [`address`](ClientConfig::address) first.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.address.as_str()).chain(self.peers.iter().map(String::as_str))
    }

    /// How requests are retried across a failover.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// A configuration from a URL: `sessiond://host:port` for plain TCP or
    /// `sessiond+tls://host:port?ca=/path/to/ca.pem` for TLS. The port
    /// defaults to 7878; an IPv6 host is written in brackets
    /// (`sessiond://[::1]:7878`).
    ///
    /// TLS never falls back to the operating system's roots: the CA that
    /// signed the server's certificate must be named, either with the
    /// `ca` query parameter (a path, not percent-decoded) or with
    /// [`ClientConfig::from_url_with_roots`]. The server name checked in
    /// the certificate is the URL's host.
    ///
    /// ```
    /// use sessiond_client::ClientConfig;
    ///
    /// let plain = ClientConfig::from_url("sessiond://cache.internal:7878").unwrap();
    /// assert_eq!(plain.address, "cache.internal:7878");
    /// assert!(plain.tls.is_none());
    ///
    /// // TLS without a CA is refused, with a message that says how to give one.
    /// assert!(ClientConfig::from_url("sessiond+tls://cache.internal").is_err());
    /// let tls = ClientConfig::from_url("sessiond+tls://cache.internal?ca=/etc/sessiond/ca.pem").unwrap();
    /// assert_eq!(tls.address, "cache.internal:7878");
    /// assert_eq!(tls.tls.unwrap().server_name, "cache.internal");
    /// ```
    ///
    /// # Errors
    /// [`ClientError::Config`] for another scheme, a malformed address, an
    /// unknown query parameter, or TLS without a CA.
    pub fn from_url(url: &str) -> Result<Self, ClientError> {
        let parsed = ParsedUrl::parse(url)?;
        let roots = match (&parsed.ca, parsed.tls) {
            (Some(path), true) => Some(Roots::PemFile(path.clone())),
            (Some(_), false) => {
                return Err(ClientError::Config(
                    "the `ca` parameter only applies to sessiond+tls:// URLs".into(),
                ));
            }
            (None, true) => {
                return Err(ClientError::Config(format!(
                    "{url}: TLS needs the CA that signed the server's certificate \
                     (system roots are never used): add `?ca=/path/to/ca.pem` to the URL, \
                     or call ClientConfig::from_url_with_roots(url, Roots::PemFile(path)) \
                     or Roots::Certs(certificates)"
                )));
            }
            (None, false) => None,
        };
        Ok(parsed.into_config(roots))
    }

    /// Like [`ClientConfig::from_url`], with the CA roots for a
    /// `sessiond+tls://` URL given here (a `ca` query parameter, if any,
    /// is refused as ambiguous).
    ///
    /// ```
    /// use sessiond_client::{ClientConfig, Roots};
    ///
    /// let config = ClientConfig::from_url_with_roots(
    ///     "sessiond+tls://cache.internal:7879",
    ///     Roots::PemFile("/etc/sessiond/ca.pem".into()),
    /// )
    /// .unwrap();
    /// assert!(config.tls.is_some());
    /// ```
    ///
    /// # Errors
    /// [`ClientError::Config`] as for `from_url`, and for roots given with
    /// a plain `sessiond://` URL.
    pub fn from_url_with_roots(url: &str, roots: Roots) -> Result<Self, ClientError> {
        let parsed = ParsedUrl::parse(url)?;
        if !parsed.tls {
            return Err(ClientError::Config(format!(
                "{url}: CA roots were given for a plain sessiond:// URL; use sessiond+tls://"
            )));
        }
        if parsed.ca.is_some() {
            return Err(ClientError::Config(format!(
                "{url}: CA roots are given both in the URL and as an argument"
            )));
        }
        Ok(parsed.into_config(Some(roots)))
    }

    /// Uses TLS.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticates every connection with this token.
    pub fn auth_token(mut self, token: impl Into<Vec<u8>>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Authenticates with the token in an environment variable (by
    /// convention `SESSIOND_AUTH_TOKEN`), read as the server reads it:
    /// surrounding ASCII whitespace is not part of the token.
    ///
    /// # Errors
    /// [`ClientError::Config`] when the variable is unset or empty.
    pub fn auth_token_from_env(self, var: &str) -> Result<Self, ClientError> {
        let value = std::env::var_os(var)
            .ok_or_else(|| ClientError::Config(format!("environment variable {var} is not set")))?;
        let token = value.as_encoded_bytes().trim_ascii().to_vec();
        if token.is_empty() {
            return Err(ClientError::Config(format!(
                "environment variable {var} is empty"
            )));
        }
        Ok(self.auth_token(token))
    }

    /// Authenticates with the token in a file (a mounted secret), read as
    /// the server reads its `--auth-token-file`: surrounding ASCII
    /// whitespace (the line ending editors and `echo` add, spaces, tabs)
    /// is not part of the token, so one file serves both.
    ///
    /// # Errors
    /// [`ClientError::Config`] when the file cannot be read or holds no
    /// token.
    pub fn auth_token_from_file(self, path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            ClientError::Config(format!("reading token file {}: {e}", path.display()))
        })?;
        let token = bytes.trim_ascii().to_vec();
        if token.is_empty() {
            return Err(ClientError::Config(format!(
                "token file {} is empty",
                path.display()
            )));
        }
        Ok(self.auth_token(token))
    }

    /// How many connections to keep open.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections;
        self
    }

    /// The longest a request waits for its reply.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The longest one connection attempt may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The delays between reconnection attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Checks the settings that do not need the network.
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        let fail = |msg: String| Err(ClientError::Config(msg));
        if self.addresses().any(str::is_empty) {
            return fail("an address is empty".into());
        }
        if self.pool_size == 0 {
            return fail("the pool needs at least one connection".into());
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return fail("timeouts must be above zero".into());
        }
        for backoff in [self.backoff, self.retry.backoff] {
            if backoff.min.is_zero() || backoff.min > backoff.max {
                return fail(format!(
                    "backoff must satisfy 0 < min <= max, got {:?} and {:?}",
                    backoff.min, backoff.max
                ));
            }
        }
        if self.retry.attempts == 0 || self.retry.total.is_zero() {
            return fail("retry needs at least one attempt and a total time above zero".into());
        }
        if let Some(token) = &self.auth_token {
            if token.is_empty() {
                return fail("the auth token is empty".into());
            }
            // AUTH carries the token as `bytes16`.
            if token.len() > usize::from(u16::MAX) {
                return fail(format!(
                    "the auth token is {} bytes; the protocol carries at most {}",
                    token.len(),
                    u16::MAX
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClientConfig {
    /// Prints everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .field("peers", &self.peers)
            .field("tls", &self.tls)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("pool_size", &self.pool_size)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff", &self.backoff)
            .field("retry", &self.retry)
            .finish()
    }
}

/// TLS settings. Certificate verification is always on: there is no way
/// to turn it off, only to choose the CA.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The name the server's certificate must carry (a DNS name or an IP
    /// address), usually the host part of the address.
    pub server_name: String,
    /// The CA certificates trusted to sign the server's certificate.
    pub roots: Roots,
}

impl TlsOptions {
    /// TLS checking `server_name` against the CAs in a PEM file.
    pub fn from_pem_file(server_name: impl Into<String>, ca_file: impl Into<PathBuf>) -> Self {
        TlsOptions {
            server_name: server_name.into(),
            roots: Roots::PemFile(ca_file.into()),
        }
    }

    /// TLS checking `server_name` against the given CA certificates.
    pub fn from_certs(
        server_name: impl Into<String>,
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Self {
        TlsOptions {
            server_name: server_name.into(),
            roots: Roots::Certs(certs.into_iter().collect()),
        }
    }

    /// The rustls connector for these options, built once per client.
    pub(crate) fn connector(
        &self,
    ) -> Result<
        (
            tokio_rustls::TlsConnector,
            rustls_pki_types::ServerName<'static>,
        ),
        ClientError,
    > {
        let server_name = rustls_pki_types::ServerName::try_from(self.server_name.clone())
            .map_err(|e| {
                ClientError::Tls(format!("invalid server name {:?}: {e}", self.server_name))
            })?;
        let roots = self.roots.to_store()?;
        // The provider is named rather than taken from the process default,
        // so that the client works whichever providers other crates enable.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok((
            tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        ))
    }
}

/// Where the trusted CA certificates come from. The operating system's
/// store is deliberately not an option: a session store is reached inside
/// one's own infrastructure, with one's own CA.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Roots {
    /// Every certificate in a PEM file (read when the client connects).
    PemFile(PathBuf),
    /// These certificates (DER).
    Certs(Vec<CertificateDer<'static>>),
    /// A store built by the caller.
    Store(RootCertStore),
}

impl Roots {
    fn to_store(&self) -> Result<RootCertStore, ClientError> {
        let mut store = RootCertStore::empty();
        let add = |store: &mut RootCertStore, cert: CertificateDer<'static>| {
            store
                .add(cert)
                .map_err(|e| ClientError::Tls(format!("unusable CA certificate: {e}")))
        };
        match self {
            Roots::PemFile(path) => {
                let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                    ClientError::Tls(format!("reading CA file {}: {e}", path.display()))
                })?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        ClientError::Tls(format!("reading CA file {}: {e}", path.display()))
                    })?;
                    add(&mut store, cert)?;
                }
            }
            Roots::Certs(certs) => {
                for cert in certs {
                    add(&mut store, cert.clone())?;
                }
            }
            Roots::Store(given) => store = given.clone(),
        }
        if store.is_empty() {
            return Err(ClientError::Tls("no CA certificate in the roots".into()));
        }
        Ok(store)
    }
}

/// Exponential backoff between reconnection attempts: the first waits
/// `min`, each next one twice as long up to `max`. Every delay is spread
/// at random over its upper half, so that clients that lost the same
/// server do not all come back in the same millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay (default 50 ms).
    pub min: Duration,
    /// The longest delay (default 5 s).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0 for the first), before
    /// jitter: `min * 2^attempt`, at most `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.min
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// [`Backoff::delay`] spread at random over its upper half.
    pub(crate) fn jittered(&self, attempt: u32) -> Duration {
        use std::hash::{BuildHasher, Hasher};
        let delay = self.delay(attempt);
        // A std hasher with fresh random keys is random enough for jitter
        // and needs no dependency.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let half = delay / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if nanos == 0 { 0 } else { random % nanos })
    }
}

/// How a request is retried when the server, or the replication group,
/// cannot answer it now: a connection lost, `NOT_LEADER`, `UNAVAILABLE`.
///
/// Every call makes at most `attempts` attempts within `total`, waiting
/// `backoff` between them (no wait before following a redirect to a named
/// leader). What is retried depends on the operation: a `NOT_LEADER`
/// request was not executed and is always sent on; after an unknown
/// outcome (a lost connection, `UNAVAILABLE`) only reads and writes that
/// are safe to apply twice are sent again (the crate's README lists them).
/// A timeout ends the call: the request timeout is the caller's own bound.
/// When the bound is reached, the call fails with
/// [`ClientError::GaveUp`](crate::ClientError::GaveUp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The most attempts a call makes, the first included (default 20; 1
    /// turns retrying off).
    pub attempts: u32,
    /// The longest a call keeps trying, from its first attempt (default
    /// 10 s, about what a replication group needs to elect a new leader
    /// and then some). An attempt under way is not cut short by it.
    pub total: Duration,
    /// The waits between attempts (default 50 ms, doubling up to 1 s).
    pub backoff: Backoff,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 20,
            total: Duration::from_secs(10),
            backoff: Backoff {
                min: Duration::from_millis(50),
                max: Duration::from_secs(1),
            },
        }
    }
}

impl Retry {
    /// One attempt, no retry: every error comes back as it happened, and
    /// a `NOT_LEADER` is not followed.
    pub fn never() -> Self {
        Retry {
            attempts: 1,
            ..Retry::default()
        }
    }
}

struct ParsedUrl {
    tls: bool,
    host: String,
    address: String,
    ca: Option<PathBuf>,
}

impl ParsedUrl {
    fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::Config(format!("{url}: {why}"));
        let (tls, rest) = if let Some(rest) = url.strip_prefix("sessiond://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("sessiond+tls://") {
            (true, rest)
        } else {
            return Err(bad("the scheme must be sessiond:// or sessiond+tls://"));
        };
        let (authority, query) = match rest.split_once('?') {
            Some((authority, query)) => (authority, Some(query)),
            None => (rest, None),
        };
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains(['/', '@', '#']) {
            return Err(bad(
                "only host and port may follow the scheme (no user, path or fragment)",
            ));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected ':' and a port after ']'"))?,
                ),
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        let mut ca = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("ca", path)) if !path.is_empty() => ca = Some(PathBuf::from(path)),
                _ => return Err(bad(&format!("unknown or empty query parameter {pair:?}"))),
            }
        }
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(ParsedUrl {
            tls,
            host: host.to_owned(),
            address,
            ca,
        })
    }

    fn into_config(self, roots: Option<Roots>) -> ClientConfig {
        let mut config = ClientConfig::new(self.address);
        if let Some(roots) = roots {
            config.tls = Some(TlsOptions {
                server_name: self.host,
                roots,
            });
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = ClientConfig::from_url("sessiond://localhost").unwrap();
        assert_eq!(c.address, "localhost:7878");
        let c = ClientConfig::from_url("sessiond://10.0.0.1:9000/").unwrap();
        assert_eq!(c.address, "10.0.0.1:9000");
        let c = ClientConfig::from_url("sessiond+tls://[::1]:7000?ca=/tmp/ca.pem").unwrap();
        assert_eq!(c.address, "[::1]:7000");
        let tls = c.tls.unwrap();
        assert_eq!(tls.server_name, "::1");
        assert!(matches!(tls.roots, Roots::PemFile(p) if p == Path::new("/tmp/ca.pem")));

        for bad in [
            "http://localhost",
            "sessiond://",
            "sessiond://host:0",
            "sessiond://host:99999",
            "sessiond://host:x",
            "sessiond://user@host",
            "sessiond://host/path",
            "sessiond://[::1",
            "sessiond://host?ca=/x",
            "sessiond+tls://host?cert=/x",
            "sessiond+tls://host:7878",
        ] {
            assert!(
                matches!(ClientConfig::from_url(bad), Err(ClientError::Config(_))),
                "{bad}"
            );
        }
        let err = ClientConfig::from_url("sessiond+tls://host").unwrap_err();
        assert!(err.to_string().contains("?ca="), "{err}");

        let roots = || Roots::Certs(Vec::new());
        assert!(ClientConfig::from_url_with_roots("sessiond+tls://h", roots()).is_ok());
        assert!(ClientConfig::from_url_with_roots("sessiond://h", roots()).is_err());
        assert!(ClientConfig::from_url_with_roots("sessiond+tls://h?ca=/x", roots()).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let b = Backoff::default();
        assert_eq!(b.delay(0), Duration::from_millis(50));
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(6), Duration::from_millis(3200));
        assert_eq!(b.delay(7), Duration::from_secs(5));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
        for attempt in 0..10 {
            let j = b.jittered(attempt);
            assert!(j >= b.delay(attempt) / 2 && j <= b.delay(attempt), "{j:?}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let c = ClientConfig::new("h:1").auth_token(b"hunter2".to_vec());
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn token_file_is_read_as_the_server_reads_it() {
        let dir = std::env::temp_dir().join(format!("sessiond-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, b"abc\r\n").unwrap();
        let c = ClientConfig::new("h:1")
            .auth_token_from_file(&path)
            .unwrap();
        assert_eq!(c.auth_token.as_deref(), Some(&b"abc"[..]));
        // All surrounding whitespace goes, as the server trims it.
        std::fs::write(&path, b" \ta b\t \n\n").unwrap();
        let c = ClientConfig::new("h:1")
            .auth_token_from_file(&path)
            .unwrap();
        assert_eq!(c.auth_token.as_deref(), Some(&b"a b"[..]));
        std::fs::write(&path, b"\n").unwrap();
        assert!(
            ClientConfig::new("h:1")
                .auth_token_from_file(&path)
                .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            ClientConfig::new("h:1")
                .auth_token_from_env("SESSIOND_CLIENT_TEST_SURELY_UNSET")
                .is_err()
        );
    }

    #[test]
    fn validation() {
        assert!(ClientConfig::new("h:1").validate().is_ok());
        assert!(ClientConfig::new("h:1").pool_size(0).validate().is_err());
        assert!(
            ClientConfig::new("h:1")
                .request_timeout(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(
            ClientConfig::new("h:1")
                .auth_token(vec![0; 70_000])
                .validate()
                .is_err()
        );
        assert!(ClientConfig::group(["a:1", "b:2"]).validate().is_ok());
        assert!(
            ClientConfig::group(Vec::<String>::new())
                .validate()
                .is_err()
        );
        assert!(ClientConfig::group(["a:1", ""]).validate().is_err());
        let no_attempts = Retry {
            attempts: 0,
            ..Retry::default()
        };
        assert!(
            ClientConfig::new("h:1")
                .retry(no_attempts)
                .validate()
                .is_err()
        );
        assert!(
            ClientConfig::new("h:1")
                .retry(Retry::never())
                .validate()
                .is_ok()
        );
    }
}
