"""One blocking connection: TCP (optionally TLS), handshake, auth, frames.

Kept apart from the pool and the client API so that the I/O rules live in one
place: every socket failure becomes :class:`sessiond.ConnectionError` or
:class:`sessiond.TimeoutError`, and a connection that failed mid-exchange is
marked broken and never reused (its framing is unknown).
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from typing import List, Optional, Sequence, TypeVar, Union

from . import errors, protocol
from .protocol import Call
from .types import ServerHello

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    """How to reach and authenticate with a server; shared by both clients."""

    host: str = "127.0.0.1"
    port: int = 7878
    token: Optional[Union[str, bytes]] = None
    ssl_context: Optional[ssl.SSLContext] = None
    server_hostname: Optional[str] = None
    connect_timeout: Optional[float] = 5.0
    timeout: Optional[float] = 10.0


def make_ssl_context(tls: bool, ca_file: Optional[str], ssl_context: Optional[ssl.SSLContext]) -> Optional[ssl.SSLContext]:
    """The TLS context to use: the caller's, or a verifying default.

    Verification stays on by default (hostname and chain); a private CA is
    given with ``ca_file`` rather than by turning verification off.
    """
    if ssl_context is not None:
        return ssl_context
    if not tls and ca_file is None:
        return None
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def hello_error(first4: bytes, rest: bytes) -> errors.SessiondError:
    """The exception for a server that answered the hello with an error frame."""
    (length,) = struct.unpack(">I", first4)
    if length == 0 or len(rest) < length:
        return errors.ProtocolError("the server did not answer with a sessiond hello")
    r = protocol.Reader(rest[:length])
    try:
        return protocol.parse_error(r.u8(), r)
    except protocol.DecodeError:
        return errors.ProtocolError("the server did not answer with a sessiond hello")


class Connection:
    """A handshaken, authenticated connection. Not thread-safe: the pool hands
    each one to a single thread at a time."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.broken = False
        self._buf = bytearray()
        try:
            raw = socket.create_connection((options.host, options.port), timeout=options.connect_timeout)
        except socket.timeout as exc:
            raise errors.TimeoutError(f"connecting to {options.host}:{options.port} timed out") from exc
        except OSError as exc:
            raise errors.ConnectionError(f"cannot connect to {options.host}:{options.port}: {exc}") from exc
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = raw
        try:
            if options.ssl_context is not None:
                try:
                    self.sock = options.ssl_context.wrap_socket(
                        raw, server_hostname=options.server_hostname or options.host
                    )
                except OSError as exc:  # ssl.SSLError is an OSError
                    raise self._fail(exc, "TLS handshake with") from exc
            self.hello = self._handshake()
            if options.token is not None and self.hello.auth_required:
                self.call(protocol.auth(options.token))
        except BaseException:
            self.close()
            raise
        self.sock.settimeout(options.timeout)

    def _handshake(self) -> ServerHello:
        self._send(protocol.client_hello())
        first = self._read_exact(4)
        if first == protocol.MAGIC:
            return protocol.parse_server_hello(first + self._read_exact(12))
        # Not the magic: the length of an error frame replacing the hello (§5).
        self.broken = True
        try:
            rest = self._read_some(min(struct.unpack(">I", first)[0], 65536))
        except errors.ConnectionError:
            rest = b""
        raise hello_error(first, rest)

    # -- I/O ------------------------------------------------------------------

    def _fail(self, exc: BaseException, what: str) -> errors.ClientError:
        self.broken = True
        self.close()
        if isinstance(exc, socket.timeout):
            return errors.TimeoutError(f"{what} {self.options.host}:{self.options.port} timed out")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return errors.ConnectionError(f"TLS verification of {self.options.host} failed: {exc}")
        return errors.ConnectionError(f"{what} {self.options.host}:{self.options.port} failed: {exc}")

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise self._fail(exc, "writing to") from exc

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(262144)
        except OSError as exc:
            raise self._fail(exc, "reading from") from exc
        if not chunk:
            self.broken = True
            self.close()
            raise errors.ConnectionError(
                f"the server {self.options.host}:{self.options.port} closed the connection"
            )
        self._buf += chunk

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes, fewer if the server closes first."""
        try:
            while len(self._buf) < n:
                self._fill()
        except errors.ConnectionError:
            pass
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_body(self) -> bytes:
        (length,) = struct.unpack(">I", self._read_exact(4))
        if length == 0 or length > protocol.MAX_RESPONSE:
            self.broken = True
            self.close()
            raise errors.ProtocolError(f"response frame of {length} bytes")
        return self._read_exact(length)

    # -- requests -------------------------------------------------------------

    def _check_size(self, frame: bytes) -> None:
        # A frame above max frame would make the server close the connection;
        # refusing it here keeps the connection (and the caller gets the same
        # exception class the server would send).
        if len(frame) - 4 > self.hello.max_frame:
            raise errors.FrameTooLarge(
                f"request of {len(frame) - 4} bytes; the server's limit is {self.hello.max_frame}",
                {"max": self.hello.max_frame},
            )

    def call(self, call: Call[T]) -> T:
        """Send one request and return its reply's value (or raise its error).

        A call the server may hold (``call.wait``) gets that much longer
        than the reply timeout."""
        self._check_size(call.frame)
        self._send(call.frame)
        if not call.wait or self.options.timeout is None:
            return self._finish(call, self.read_body())
        self.sock.settimeout(self.options.timeout + call.wait)
        try:
            body = self.read_body()
        finally:
            if not self.broken:
                self.sock.settimeout(self.options.timeout)
        return self._finish(call, body)

    def _finish(self, call: Call[T], body: bytes) -> T:
        try:
            return call.parse(body)
        except errors.ServerError as exc:
            if exc.code in errors.CLOSING_CODES:
                self.broken = True
                self.close()
            raise
        except errors.ProtocolError:
            self.broken = True
            self.close()
            raise

    def call_many(self, calls: Sequence[Call[object]], raise_first: bool = True) -> List[object]:
        """Pipeline: all frames in one write, then the replies in order.

        Every reply is read even when one is an error, so the connection stays
        usable; errors are returned in place of values (or the first raised).
        """
        for c in calls:
            self._check_size(c.frame)
        self._send(b"".join(c.frame for c in calls))
        results: List[object] = []
        for c in calls:
            body = self.read_body()
            try:
                results.append(self._finish(c, body))
            except errors.ServerError as exc:
                results.append(exc)
        if raise_first:
            for item in results:
                if isinstance(item, errors.ServerError):
                    raise item
        return results

    def send_raw(self, body: bytes) -> bytes:
        """Send a hand-made request body and return the raw response body.

        For tests and diagnostics (e.g. provoking MALFORMED); bypasses the size check.
        """
        self._send(struct.pack(">I", len(body)) + body)
        return self.read_body()

    def is_stale(self) -> bool:
        """Whether an idle connection was closed by the server.

        A server never sends anything unasked (§6), so an idle connection that
        is readable has been closed (idle timeout, restart); it must not be
        handed out again.
        """
        if self.broken:
            return True
        if self._buf:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def build_options(
    url: Optional[str] = None,
    *,
    host: Optional[str] = None,
    port: Optional[int] = None,
    token: Optional[Union[str, bytes]] = None,
    tls: Optional[bool] = None,
    ssl_context: Optional[ssl.SSLContext] = None,
    ca_file: Optional[str] = None,
    server_hostname: Optional[str] = None,
    connect_timeout: Optional[float] = 5.0,
    timeout: Optional[float] = 10.0,
) -> Options:
    """Options from a URL and keyword arguments (keywords win).

    URLs: ``sessiond://host:port`` (plain TCP) or ``sessiondtls://host:port`` /
    ``sessiond+tls://host:port`` (TLS); a password part is taken as the token
    (``sessiond://:TOKEN@host``), but passing ``token=`` keeps it out of URLs
    that end up in logs.
    """
    url_host, url_port, url_token, url_tls = "127.0.0.1", 7878, None, False
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("sessiond", "sessiondtls", "sessiond+tls"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r} (use sessiond:// or sessiond+tls://)")
        url_tls = parts.scheme != "sessiond"
        url_host = parts.hostname or url_host
        url_port = parts.port or url_port
        url_token = unquote(parts.password) if parts.password else None
    use_tls = url_tls if tls is None else tls
    return Options(
        host=host or url_host,
        port=port or url_port,
        token=token if token is not None else url_token,
        ssl_context=make_ssl_context(use_tls, ca_file, ssl_context),
        server_hostname=server_hostname,
        connect_timeout=connect_timeout,
        timeout=timeout,
    )
