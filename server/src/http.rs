//! The metrics listener's HTTP: one request per connection, `GET /metrics`
//! and nothing else.
//!
//! A scraper needs one path, so a web framework would be all weight: this
//! reads one request head, answers it, and closes (`Connection: close`;
//! Prometheus opens a connection per scrape when told to). The head is
//! bounded in size ([`MAX_HEAD`]) and the whole exchange in time (the
//! server's handshake timeout), so a slow or endless client holds a
//! connection for a bounded while, and the listener bounds how many it
//! holds at once ([`MAX_SCRAPES`]). A request body, which a GET has no
//! use for, is never read.
//!
//! When the server has an auth token, the scrape must carry it as a bearer
//! token (`Authorization: Bearer …`, Prometheus's `authorization` setting
//! with `credentials_file`), compared in constant time; the figures say how
//! busy the store is and what fails, which is not for everyone who can
//! reach the port. A wrong token counts as an auth failure and is answered
//! after the first failure's delay, as on the other faces; each connection
//! gets one guess.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tracing::debug;

use crate::Shared;
use crate::auth::{Secret, failure_delay};
use crate::driver::linger;
use crate::metrics::{CONTENT_TYPE, Exporter};
use crate::stats::ServerStats;

/// Largest request head read, in bytes: a scrape's is a few hundred.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Most metrics connections served at once; more are answered 503.
pub(crate) const MAX_SCRAPES: usize = 16;

/// The one path served.
const PATH: &str = "/metrics";

/// Why a request gets no metrics; each is an HTTP error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Not an HTTP/1.x request head.
    #[error("not an HTTP/1.x request")]
    BadRequest,
    /// The server has a token and the request did not carry one.
    #[error("this server needs its auth token as a bearer token")]
    Unauthorized,
    /// The request carried a bearer token that is not the server's.
    #[error("wrong bearer token")]
    WrongToken,
    /// A path other than `/metrics`.
    #[error("only /metrics is served here")]
    NotFound,
    /// A method other than GET.
    #[error("only GET is served here")]
    MethodNotAllowed,
    /// No complete head within the time allowed.
    #[error("no complete request in time")]
    Timeout,
    /// A head over [`MAX_HEAD`] bytes.
    #[error("request head over 8 KiB")]
    HeadTooLarge,
    /// [`MAX_SCRAPES`] connections are being served already.
    #[error("too many metrics connections at once")]
    Busy,
    /// The encoder failed (it writes to a string, so it should not).
    #[error("the metrics could not be encoded")]
    Internal,
}

impl Refusal {
    /// The status line's code and reason phrase.
    fn status(self) -> (u16, &'static str) {
        match self {
            Refusal::BadRequest => (400, "Bad Request"),
            Refusal::Unauthorized | Refusal::WrongToken => (401, "Unauthorized"),
            Refusal::NotFound => (404, "Not Found"),
            Refusal::MethodNotAllowed => (405, "Method Not Allowed"),
            Refusal::Timeout => (408, "Request Timeout"),
            Refusal::HeadTooLarge => (431, "Request Header Fields Too Large"),
            Refusal::Internal => (500, "Internal Server Error"),
            Refusal::Busy => (503, "Service Unavailable"),
        }
    }

    /// Headers the status calls for, each ending in CRLF.
    fn extra_headers(self) -> &'static str {
        match self {
            Refusal::Unauthorized | Refusal::WrongToken => {
                "WWW-Authenticate: Bearer realm=\"sessiond\"\r\n"
            }
            Refusal::MethodNotAllowed => "Allow: GET\r\n",
            _ => "",
        }
    }
}

/// Serves one metrics connection: reads a request within `time` (the
/// server's handshake timeout, what is left of it after TLS), answers it,
/// closes.
pub(crate) async fn serve<S>(
    mut stream: S,
    exporter: &Exporter,
    shared: &Shared,
    time: Duration,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The token in force now, after any reload (`reload.rs`).
    let credentials = shared.credentials.current();
    let token = credentials.token.as_ref();
    let mut head = Vec::with_capacity(1024);
    let answer = match timeout(time, read_head(&mut stream, &mut head)).await {
        Err(_) => Err(Refusal::Timeout),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Err(refusal))) => Err(refusal),
        Ok(Ok(Ok(()))) => {
            check(&head, token).and_then(|()| exporter.render().map_err(|_| Refusal::Internal))
        }
    };
    let response = match answer {
        Ok(body) => response(200, "OK", CONTENT_TYPE, "", &body),
        Err(refusal) => {
            debug!(%refusal, "metrics request refused");
            if refusal == Refusal::WrongToken {
                ServerStats::bump(&shared.stats.auth_failures);
                tokio::time::sleep(failure_delay(1)).await;
            }
            let (code, reason) = refusal.status();
            let body = format!("{refusal}\n");
            let extra = refusal.extra_headers();
            response(code, reason, "text/plain; charset=utf-8", extra, &body)
        }
    };
    stream.write_all(&response).await?;
    // Unread input (an oversized head, a body) would make closing send a
    // reset that can destroy the answer before the client reads it.
    linger(&mut stream).await;
    Ok(())
}

/// Answers a connection over [`MAX_SCRAPES`] without reading it.
pub(crate) async fn refuse_busy<S>(mut stream: S) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let refusal = Refusal::Busy;
    let (code, reason) = refusal.status();
    let body = format!("{refusal}\n");
    let text = "text/plain; charset=utf-8";
    stream
        .write_all(&response(code, reason, text, "", &body))
        .await?;
    linger(&mut stream).await;
    Ok(())
}

/// Reads until the blank line that ends a request head, into `head`.
/// Each read adds at least a byte or ends the loop, and `head` never
/// grows past [`MAX_HEAD`], so the loop is bounded.
async fn read_head<S>(stream: &mut S, head: &mut Vec<u8>) -> io::Result<Result<(), Refusal>>
where
    S: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 1024];
    loop {
        let room = MAX_HEAD - head.len();
        if room == 0 {
            return Ok(Err(Refusal::HeadTooLarge));
        }
        let n = stream.read(&mut chunk[..room.min(1024)]).await?;
        if n == 0 {
            return Ok(Err(Refusal::BadRequest));
        }
        // The end may straddle the previous chunk: search from 3 back.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Ok(()));
        }
    }
}

/// Checks a complete head: HTTP/1.x, GET, `/metrics` (with any query),
/// and the token if the server has one.
fn check(head: &[u8], token: Option<&Secret>) -> Result<(), Refusal> {
    let head = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Refusal::BadRequest);
    }
    if method != "GET" {
        return Err(Refusal::MethodNotAllowed);
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != PATH {
        return Err(Refusal::NotFound);
    }
    let Some(secret) = token else {
        return Ok(());
    };
    let offered = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("authorization") {
            return None;
        }
        let (scheme, credentials) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| credentials.trim())
    });
    match offered {
        None => Err(Refusal::Unauthorized),
        Some(given) if secret.matches(given.as_bytes()) => Ok(()),
        Some(_) => Err(Refusal::WrongToken),
    }
}

/// A whole response: status line, headers, body.
fn response(code: u16, reason: &str, content_type: &str, extra: &str, body: &str) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    #[test]
    fn only_a_get_of_the_metrics_path_passes() {
        let get = |line: &str| check(&head(&format!("{line}\nHost: x\n\n")), None);
        assert_eq!(get("GET /metrics HTTP/1.1"), Ok(()));
        assert_eq!(get("GET /metrics?x=1 HTTP/1.0"), Ok(()));
        assert_eq!(
            get("POST /metrics HTTP/1.1"),
            Err(Refusal::MethodNotAllowed)
        );
        assert_eq!(get("GET / HTTP/1.1"), Err(Refusal::NotFound));
        assert_eq!(get("GET /metrics/x HTTP/1.1"), Err(Refusal::NotFound));
        assert_eq!(get("GET /metrics HTTP/2"), Err(Refusal::BadRequest));
        assert_eq!(get("GET /metrics"), Err(Refusal::BadRequest));
        assert_eq!(check(&[0xff, b'\r', b'\n'], None), Err(Refusal::BadRequest));
    }

    #[test]
    fn with_a_token_only_the_right_bearer_passes() {
        let secret = Secret::new("s3cret-token-padded-to-the-32-byte-minimum").unwrap();
        let with = |auth: &str| {
            let text = format!("GET /metrics HTTP/1.1\nHost: x\n{auth}\n\n");
            check(&head(&text), Some(&secret))
        };
        assert_eq!(
            with("Authorization: Bearer s3cret-token-padded-to-the-32-byte-minimum"),
            Ok(())
        );
        assert_eq!(
            with("authorization:  bearer  s3cret-token-padded-to-the-32-byte-minimum "),
            Ok(())
        );
        assert_eq!(
            with("Authorization: Bearer wrong"),
            Err(Refusal::WrongToken)
        );
        assert_eq!(
            with("Authorization: Basic s3cret-token-padded-to-the-32-byte-minimum"),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(with("X-Other: 1"), Err(Refusal::Unauthorized));
    }

    #[test]
    fn every_refusal_has_an_error_status() {
        let all = [
            Refusal::BadRequest,
            Refusal::Unauthorized,
            Refusal::WrongToken,
            Refusal::NotFound,
            Refusal::MethodNotAllowed,
            Refusal::Timeout,
            Refusal::HeadTooLarge,
            Refusal::Busy,
            Refusal::Internal,
        ];
        for refusal in all {
            assert!(refusal.status().0 >= 400, "{refusal:?}");
        }
    }
}
