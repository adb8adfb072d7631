//! The sessiond target: the benchmark's operations over sessiond's native
//! protocol (`protocol/SPEC.md`), one blocking connection per worker
//! thread, plain TCP or TLS.
//!
//! | operation | request |
//! | --- | --- |
//! | request (get with touch) | `GET id touch` |
//! | login | `CREATE` owner, labels (user agent, address), data, idle 1800 s |
//! | logout | `DELETE id` |
//! | devices | `LIST owner` |
//! | key get / set | `KEY_GET` / `KEY_SET` with TTL |
//!
//! Every operation is one request: the owner index, sliding expiry and
//! labels are the server's business. Replies are checked by status and tag
//! and counted as hits or misses without decoding whole sessions, so the
//! load generator spends its time on the load; errors are decoded in full
//! and end the run.
//!
//! `sessiond://[:token@]host[:port]` for plain TCP, `sessiond+tls://…?ca=FILE`
//! for TLS (the server's certificate is checked against the CA in FILE; add
//! `&name=NAME` when the certificate does not name the host). Without a
//! token in the URL, `SESSIOND_AUTH_TOKEN` is used if set.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sessiond::{Labels, NewSession, SessionId};
use sessiond_protocol::wire::codec::{self, decode_response};
use sessiond_protocol::wire::handshake::{ClientHello, MAGIC, ServerHello, VERSION};
use sessiond_protocol::wire::{Reply, Request, Response, ServerError};

use crate::error::{Error, Result};
use crate::target::{
    BatchLatency, Connection, MemorySource, Op, Outcome, Target, key_name, owner_name,
};

/// The port a target without one uses.
const DEFAULT_PORT: u16 = 7878;
/// Idle timeout of sessions created by the benchmark (as the Redis target's
/// `EX 1800`).
const SESSION_IDLE: Duration = Duration::from_secs(1800);
/// How long a read or write may block before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response accepted (a LIST can exceed the request limit).
const MAX_RESPONSE: u32 = 256 * 1024 * 1024;

/// Where a sessiond daemon is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessiondSpec {
    addr: String,
    token: Option<String>,
    tls: Option<TlsSpec>,
}

#[derive(Clone, PartialEq, Eq)]
struct TlsSpec {
    ca: PathBuf,
    name: String,
}

impl FromStr for SessiondSpec {
    type Err = String;

    /// Parses what follows the scheme: `[:token@]host[:port][?ca=FILE&name=NAME]`.
    fn from_str(url: &str) -> std::result::Result<Self, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("sessiond+tls://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("sessiond://") {
            (false, rest)
        } else {
            return Err(format!("not a sessiond URL: {url}"));
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (token, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host)) => (Some(user_info.trim_start_matches(':').to_owned()), host),
            None => (None, authority),
        };
        if host_port.is_empty() {
            return Err(format!("no host in {url}"));
        }
        let addr = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:{DEFAULT_PORT}")
        };
        let mut ca = None;
        let mut name = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("ca", path)) => ca = Some(PathBuf::from(path)),
                Some(("name", n)) => name = Some(n.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown option `{pair}` in {url} (known: ca, name)"
                    ));
                }
            }
        }
        let tls = match (tls, ca) {
            (false, None) => None,
            (false, Some(_)) => return Err(format!("`ca=` needs sessiond+tls:// in {url}")),
            (true, None) => {
                return Err(format!(
                    "sessiond+tls:// needs `?ca=FILE` (the CA to trust) in {url}"
                ));
            }
            (true, Some(ca)) => {
                let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                Some(TlsSpec {
                    ca,
                    name: name.unwrap_or_else(|| host.to_owned()),
                })
            }
        };
        let token = token.or_else(|| std::env::var("SESSIOND_AUTH_TOKEN").ok());
        Ok(SessiondSpec { addr, token, tls })
    }
}

impl SessiondSpec {
    /// A plain-TCP spec for `host:port` (with `SESSIOND_AUTH_TOKEN` if
    /// set), as a redirect names a node.
    pub fn parse_addr(addr: &str) -> Result<SessiondSpec> {
        format!("sessiond://{addr}").parse().map_err(Error::new)
    }
}

impl fmt::Display for SessiondSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls.is_some() {
            "sessiond+tls"
        } else {
            "sessiond"
        };
        write!(f, "{scheme}://{}", self.addr)
    }
}

impl fmt::Debug for SessiondSpec {
    /// Never shows the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessiondSpec({self})")
    }
}

/// A sessiond daemon under test.
pub struct Sessiond {
    spec: SessiondSpec,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Sessiond {
    /// Prepares to connect (loads the CA for TLS).
    pub fn new(spec: SessiondSpec) -> Result<Sessiond> {
        let tls = spec.tls.as_ref().map(client_config).transpose()?;
        Ok(Sessiond { spec, tls })
    }

    /// One statistic from a fresh connection's STATS.
    fn stat(&self, name: &str) -> Result<u64> {
        let mut conn = SessiondConnection::open(self)?;
        let reply = conn.call(&Request::Stats)?;
        let Reply::Stats(stats) = reply else {
            return Err(Error::new(format!("STATS answered {reply:?}")));
        };
        stats
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
            .ok_or_else(|| Error::new(format!("{} reports no `{name}` in STATS", self.spec)))
    }
}

fn client_config(tls: &TlsSpec) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&tls.ca)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::new(format!("reading the CA {}: {e}", tls.ca.display())))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| Error::new(format!("the CA {}: {e}", tls.ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Target for Sessiond {
    fn connect(&self) -> Result<Box<dyn Connection>> {
        Ok(Box::new(SessiondConnection::open(self)?))
    }

    /// The native protocol has no flush: a run needs a fresh daemon.
    fn ensure_empty(&self, _flush: bool) -> Result<()> {
        let (sessions, keys) = (self.stat("sessions")?, self.stat("keys")?);
        if sessions + keys > 0 {
            return Err(Error::new(format!(
                "{} holds {sessions} sessions and {keys} keys; start a fresh daemon \
                 (the native protocol has no flush)",
                self.spec
            )));
        }
        Ok(())
    }

    fn resident_bytes(&self) -> Result<u64> {
        self.stat("rss_bytes")
    }

    fn bytes_used(&self) -> Result<Option<u64>> {
        self.stat("bytes_used").map(Some)
    }

    fn server_cpu(&self) -> Result<Option<Duration>> {
        self.stat("cpu_us")
            .map(|us| Some(Duration::from_micros(us)))
    }

    fn memory_source(&self) -> MemorySource {
        MemorySource {
            resident: "server RSS (STATS rss_bytes)",
            used: "bytes_used",
        }
    }

    fn batch_latency(&self) -> BatchLatency {
        BatchLatency::RoundTrip
    }
}

/// A socket, with or without TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One blocking connection to a daemon.
pub struct SessiondConnection {
    stream: Stream,
    input: BytesMut,
    output: BytesMut,
    name: Vec<u8>,
}

impl SessiondConnection {
    /// Connects, shakes hands and authenticates.
    pub fn open(target: &Sessiond) -> Result<SessiondConnection> {
        let spec = &target.spec;
        let tcp = TcpStream::connect(&spec.addr)
            .map_err(|e| Error::new(format!("connecting to {spec}: {e}")))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let stream = match (&target.tls, &spec.tls) {
            (Some(config), Some(tls)) => {
                let name = ServerName::try_from(tls.name.clone())
                    .map_err(|e| Error::new(format!("server name {}: {e}", tls.name)))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| Error::new(format!("TLS: {e}")))?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
            _ => Stream::Plain(tcp),
        };
        let mut conn = SessiondConnection {
            stream,
            input: BytesMut::with_capacity(64 * 1024),
            output: BytesMut::with_capacity(64 * 1024),
            name: Vec::new(),
        };
        conn.handshake(spec)?;
        Ok(conn)
    }

    /// Sets how long a read or write may block (the runs' default is
    /// [`IO_TIMEOUT`]; failover measurement wants to notice a silent node
    /// sooner).
    pub fn set_io_timeout(&self, timeout: Duration) -> Result<()> {
        let tcp = match &self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        };
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        Ok(())
    }

    /// Sends one request and hands back its response as the server gave
    /// it, errors included (a redirect is an answer, not a failure, to a
    /// client of a group).
    pub fn exchange(&mut self, request: &Request) -> Result<Response> {
        self.output.clear();
        codec::encode_request(request, &mut self.output);
        self.stream.write_all(&self.output)?;
        self.read_response()
    }

    /// Writes `requests` in one write without waiting for their answers,
    /// which [`SessiondConnection::receive`] then reads in order: a writer
    /// that keeps a fixed rate cannot wait a round trip per request.
    pub fn send(&mut self, requests: &[Request]) -> Result<()> {
        self.output.clear();
        for request in requests {
            codec::encode_request(request, &mut self.output);
        }
        self.stream.write_all(&self.output)?;
        Ok(())
    }

    /// Reads the answer to the oldest request not yet answered.
    pub fn receive(&mut self) -> Result<Response> {
        self.read_response()
    }

    fn handshake(&mut self, spec: &SessiondSpec) -> Result<()> {
        self.stream
            .write_all(&ClientHello { version: VERSION }.encode())?;
        let mut hello = [0u8; 16];
        self.stream.read_exact(&mut hello[..4])?;
        if hello[..4] != MAGIC {
            // An error frame instead of a hello (BUSY and the like).
            self.input.extend_from_slice(&hello[..4]);
            let error = self.read_response()?;
            return Err(Error::new(format!(
                "{spec} refused the connection: {error:?}"
            )));
        }
        self.stream.read_exact(&mut hello[4..])?;
        let hello = ServerHello::decode(&hello)
            .map_err(|e| Error::new(format!("{spec}: bad server hello: {e}")))?;
        match (&spec.token, hello.auth_required) {
            (Some(token), _) => {
                self.call(&Request::Auth {
                    token: token.clone().into_bytes(),
                })
                .map_err(|e| Error::new(format!("authenticating to {spec}: {e}")))?;
            }
            (None, true) => {
                return Err(Error::new(format!(
                    "{spec} requires a token: put it in the URL (sessiond://:TOKEN@host) \
                     or in SESSIOND_AUTH_TOKEN"
                )));
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// Sends one request and decodes its reply.
    fn call(&mut self, request: &Request) -> Result<Reply> {
        self.output.clear();
        codec::encode_request(request, &mut self.output);
        self.stream.write_all(&self.output)?;
        self.read_response()?
            .map_err(|e| Error::new(format!("server error: {e}")))
    }

    /// Reads and fully decodes one response.
    fn read_response(&mut self) -> Result<std::result::Result<Reply, ServerError>> {
        let body = self.read_frame()?;
        decode_response(&body).map_err(|e| Error::new(format!("bad response: {e}")))
    }

    /// Reads one response body.
    fn read_frame(&mut self) -> Result<bytes::Bytes> {
        loop {
            match codec::next_frame(&mut self.input, MAX_RESPONSE) {
                Ok(Some(body)) => return Ok(body),
                Ok(None) => {}
                Err(e) => return Err(Error::new(format!("bad framing from the server: {e}"))),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(Error::new("the server closed the connection"));
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }

    /// The request an operation sends.
    fn request(&mut self, op: &Op<'_>) -> Request {
        match *op {
            Op::GetTouch(id) => Request::Get { id, touch: true },
            Op::Create {
                owner,
                data,
                device,
            } => {
                let labels = device.map(|d| d.labels()).unwrap_or_else(Labels::new);
                Request::Create(
                    NewSession::new(owner_name(&mut self.name, owner).to_vec())
                        .data(data.to_vec())
                        .labels(labels)
                        .idle_timeout(SESSION_IDLE),
                )
            }
            Op::Delete { id, .. } => Request::Delete { id },
            Op::List { owner } => Request::List {
                owner: owner_name(&mut self.name, owner).to_vec(),
            },
            Op::Get { key } => Request::KeyGet {
                key: key_name(&mut self.name, key).to_vec(),
            },
            Op::Set { key, value, ttl } => Request::KeySet {
                key: key_name(&mut self.name, key).to_vec(),
                ttl: Some(ttl),
                value: value.to_vec(),
            },
        }
    }
}

/// What a successful reply body says, read from its first bytes: status
/// 0, a tag, and for some tags the byte or count that tells hit from miss.
fn outcome(body: &[u8]) -> Option<Outcome> {
    match body {
        [0, 0x00, ..] => Some(Outcome::Hit), // DONE
        [0, 0x02, ..] => Some(Outcome::Hit), // SESSION
        [0, 0x01, id @ ..] if id.len() == 16 => {
            Some(Outcome::Created(SessionId::from_bytes(id.try_into().ok()?)))
        }
        [0, 0x05, found] => Some(Outcome::found(*found == 1)), // BOOL
        [0, 0x06, a, b, c, d, ..] => Some(Outcome::found(u32::from_be_bytes([*a, *b, *c, *d]) > 0)),
        [0, 0x08, present, ..] => Some(Outcome::found(*present == 1)), // VALUE
        [1, ..] => Some(Outcome::Miss),                                // NOT_FOUND
        _ => None,
    }
}

impl Connection for SessiondConnection {
    /// Writes the whole batch in one write.
    fn send_batch(&mut self, ops: &[Op<'_>]) -> Result<()> {
        self.output.clear();
        for op in ops {
            let request = self.request(op);
            codec::encode_request(&request, &mut self.output);
        }
        self.stream.write_all(&self.output)?;
        Ok(())
    }

    /// Reads one reply per operation sent, in order.
    fn receive_batch(&mut self, ops: &[Op<'_>], outcomes: &mut Vec<Outcome>) -> Result<()> {
        outcomes.clear();
        for _ in ops {
            let body = self.read_frame()?;
            match outcome(&body) {
                Some(found) => outcomes.push(found),
                None => {
                    let error = match decode_response(&body) {
                        Ok(Err(e)) => e.to_string(),
                        Ok(Ok(reply)) => format!("unexpected reply {reply:?}"),
                        Err(e) => format!("bad response: {e}"),
                    };
                    return Err(Error::new(format!("sessiond: {error}")));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_tokens_ports_and_tls_options() {
        let plain: SessiondSpec = "sessiond://127.0.0.1:7000".parse().unwrap();
        assert_eq!(plain.addr, "127.0.0.1:7000");
        assert!(plain.tls.is_none());
        let defaulted: SessiondSpec = "sessiond://:s3cret@db".parse().unwrap();
        assert_eq!(defaulted.addr, "db:7878");
        assert_eq!(defaulted.token.as_deref(), Some("s3cret"));
        assert!(!format!("{defaulted:?}").contains("s3cret"));
        let tls: SessiondSpec = "sessiond+tls://localhost:7001?ca=/tmp/ca.pem"
            .parse()
            .unwrap();
        let t = tls.tls.unwrap();
        assert_eq!(
            (t.ca, t.name.as_str()),
            (PathBuf::from("/tmp/ca.pem"), "localhost")
        );
        assert!(
            "sessiond+tls://h:1".parse::<SessiondSpec>().is_err(),
            "TLS needs a CA"
        );
        assert!("sessiond://h:1?ca=x".parse::<SessiondSpec>().is_err());
        assert!("sessiond://h:1?bogus=1".parse::<SessiondSpec>().is_err());
        assert!("redis://h".parse::<SessiondSpec>().is_err());
    }

    #[test]
    fn outcomes_are_read_from_the_first_bytes() {
        assert_eq!(outcome(&[0, 0x00]), Some(Outcome::Hit));
        assert_eq!(outcome(&[0, 0x05, 1]), Some(Outcome::Hit));
        assert_eq!(outcome(&[0, 0x05, 0]), Some(Outcome::Miss));
        assert_eq!(outcome(&[0, 0x06, 0, 0, 0, 0]), Some(Outcome::Miss));
        assert_eq!(outcome(&[0, 0x06, 0, 0, 0, 2, 9, 9]), Some(Outcome::Hit));
        assert_eq!(outcome(&[0, 0x08, 0]), Some(Outcome::Miss));
        assert_eq!(outcome(&[1, 0, 0]), Some(Outcome::Miss));
        assert_eq!(outcome(&[10, 0, 0]), None, "other errors end the run");
        let mut created = vec![0, 0x01];
        created.extend_from_slice(&[7; 16]);
        assert_eq!(
            outcome(&created),
            Some(Outcome::Created(SessionId::from_bytes([7; 16])))
        );
    }
}
