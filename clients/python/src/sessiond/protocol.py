"""The wire codec of protocol version 1 (SPEC.md §1, §5, §6, §8–10).

Pure functions over bytes and no I/O, so that the blocking client, the
asyncio client and the pipeline share one implementation and the golden
vectors can test it without a server. A request is built as a :class:`Call`:
its complete frame plus the function that turns the reply body into the
value the API returns; transports only move frames and hand bodies back.
"""

from __future__ import annotations

import base64
import builtins
import binascii
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Tuple, TypeVar, Union

from . import errors
from .types import CacheGrant, KeyTtl, OwnerLimit, ServerHello, Session, SessionInfo

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

MAGIC = b"SSND"
VERSION = 1
#: Largest response body a client accepts (SPEC.md §6: at least 256 MiB).
MAX_RESPONSE = 256 * 1024 * 1024

BytesLike = Union[bytes, bytearray, memoryview, str]
IdLike = Union[str, bytes]

OP_PING, OP_AUTH, OP_STATS = 0x01, 0x02, 0x03
OP_CREATE, OP_GET, OP_UPDATE, OP_TOUCH, OP_DELETE, OP_ROTATE = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
OP_LIST, OP_COUNT, OP_DELETE_OWNER = 0x16, 0x17, 0x18
OP_KEY_SET, OP_KEY_GET, OP_KEY_DELETE, OP_KEY_EXPIRE, OP_KEY_TTL, OP_KEY_INCR = (
    0x20,
    0x21,
    0x22,
    0x23,
    0x24,
    0x25,
)
OP_KEY_SCAN = 0x26
OP_NODE_ADD, OP_NODE_REMOVE = 0x27, 0x28
OP_KEY_INCR_TTL = 0x29
OP_EVENTS_READ, OP_DELETE_NOTED, OP_DELETE_OWNER_NOTED = 0x2A, 0x2B, 0x2C
OP_CACHE_REGISTER = 0x2D

TAG_DONE, TAG_ID, TAG_SESSION, TAG_VERSION, TAG_TIME, TAG_BOOL = 0, 1, 2, 3, 4, 5
TAG_LIST, TAG_COUNT, TAG_VALUE, TAG_TTL, TAG_INTEGER, TAG_STATS = 6, 7, 8, 9, 10, 11
TAG_SCAN = 12
TAG_EVENTS = 13
TAG_CACHE = 14

#: Keys KEY_SCAN looks at per step unless told otherwise (Redis's SCAN: 10).
DEFAULT_SCAN_COUNT = 10

POLICIES = ("none", "reject", "evict_oldest")
#: CACHE_REGISTER's modes by their wire codes (1 on).
CACHE_MODES = ("strict", "relaxed")
TTL_KINDS = ("missing", "persistent", "expires")


# --- session ids (§1) -------------------------------------------------------


def id_to_text(raw: bytes) -> str:
    """The 22-character base64url text form of a 16-byte id."""
    if len(raw) != 16:
        raise ValueError(f"a session id is 16 bytes, got {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def id_from_text(text: str) -> bytes:
    """Parse the text form strictly: 22 chars, base64url, zero trailing bits.

    Strict so that each id has exactly one text form (a cookie cannot be
    varied into another spelling of the same session).
    """
    if len(text) != 22 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        raise ValueError(f"not a session id: {text!r}")
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a session id: {text!r}") from exc
    if id_to_text(raw) != text:
        raise ValueError(f"not a session id (non-zero trailing bits): {text!r}")
    return raw


def id_bytes(session_id: IdLike) -> bytes:
    """Accept either form of an id from callers; return the binary form."""
    if isinstance(session_id, str):
        return id_from_text(session_id)
    raw = bytes(session_id)
    if len(raw) != 16:
        raise ValueError(f"a session id is 16 bytes, got {len(raw)}")
    return raw


def _b(value: BytesLike) -> bytes:
    """Owners, keys, tokens and data may be given as str (UTF-8) or bytes."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


# --- writing ----------------------------------------------------------------


class Writer:
    """Appends big-endian fields to a buffer; checks the length prefixes fit."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, v: int) -> Writer:
        self.buf += struct.pack(">B", v)
        return self

    def u16(self, v: int) -> Writer:
        self.buf += struct.pack(">H", v)
        return self

    def u32(self, v: int) -> Writer:
        self.buf += struct.pack(">I", v)
        return self

    def u64(self, v: int) -> Writer:
        self.buf += struct.pack(">Q", v)
        return self

    def i64(self, v: int) -> Writer:
        self.buf += struct.pack(">q", v)
        return self

    def bool(self, v: bool) -> Writer:
        return self.u8(1 if v else 0)

    def raw(self, v: bytes) -> Writer:
        self.buf += v
        return self

    def bytes16(self, v: bytes) -> Writer:
        if len(v) > 0xFFFF:
            raise ValueError(f"{len(v)} bytes do not fit a 16-bit length")
        return self.u16(len(v)).raw(v)

    def bytes32(self, v: bytes) -> Writer:
        if len(v) > 0xFFFFFFFF:
            raise ValueError(f"{len(v)} bytes do not fit a 32-bit length")
        return self.u32(len(v)).raw(v)

    def str8(self, v: str) -> Writer:
        b = v.encode("utf-8")
        if len(b) > 0xFF:
            raise ValueError(f"{v[:20]!r}... is longer than 255 bytes")
        return self.u8(len(b)).raw(b)

    def str16(self, v: str) -> Writer:
        return self.bytes16(v.encode("utf-8"))

    def labels(self, labels: Mapping[str, str]) -> Writer:
        if len(labels) > 0xFF:
            raise ValueError("more than 255 labels")
        self.u8(len(labels))
        for key, value in labels.items():
            self.str8(key).str16(value)
        return self

    def info(self, info: SessionInfo) -> Writer:
        self.raw(id_bytes(info.id)).u64(info.created).u64(info.last_seen).u32(info.idle_secs)
        self.u64(info.absolute_deadline or 0).u64(info.expires_at).u32(info.version)
        return self.labels(info.labels)

    def frame(self) -> bytes:
        """The buffer as a frame: 4-byte length, then the body."""
        return struct.pack(">I", len(self.buf)) + bytes(self.buf)


# --- reading ----------------------------------------------------------------


class DecodeError(ValueError):
    """Bytes that do not decode; the server's MALFORMED, the client's ProtocolError."""


class Reader:
    """Reads big-endian fields off a body; every short read is a DecodeError."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int, what: str = "field") -> bytes:
        if len(self.data) - self.pos < n:
            raise DecodeError(f"truncated {what}: needs {n} bytes, {len(self.data) - self.pos} left")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def _unpack(self, fmt: str, n: int, what: str) -> int:
        value: int = struct.unpack(fmt, self.take(n, what))[0]
        return value

    def u8(self, what: str = "u8") -> int:
        return self._unpack(">B", 1, what)

    def u16(self, what: str = "u16") -> int:
        return self._unpack(">H", 2, what)

    def u32(self, what: str = "u32") -> int:
        return self._unpack(">I", 4, what)

    def u64(self, what: str = "u64") -> int:
        return self._unpack(">Q", 8, what)

    def i64(self, what: str = "i64") -> int:
        return self._unpack(">q", 8, what)

    def bool(self, what: str = "bool") -> bool:
        v = self.u8(what)
        if v > 1:
            raise DecodeError(f"{what} is {v}, not 0 or 1")
        return v == 1

    def present(self, what: str = "option") -> builtins.bool:
        return self.bool(what + " presence")

    def id(self) -> str:
        return id_to_text(self.take(16, "id"))

    def bytes16(self, what: str = "bytes") -> bytes:
        return self.take(self.u16(what + " length"), what)

    def bytes32(self, what: str = "bytes") -> bytes:
        return self.take(self.u32(what + " length"), what)

    def _utf8(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what} is not UTF-8") from exc

    def str8(self, what: str = "string") -> str:
        return self._utf8(self.take(self.u8(what + " length"), what), what)

    def str16(self, what: str = "string") -> str:
        return self._utf8(self.bytes16(what), what)

    def labels(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for _ in range(self.u8("label count")):
            key = self.str8("label key")
            value = self.str16("label value")
            if key in out:
                raise DecodeError(f"label key {key!r} appears twice")
            out[key] = value
        return out

    def info(self) -> SessionInfo:
        sid = self.id()
        created, last_seen, idle = self.u64(), self.u64(), self.u32()
        deadline, expires, version = self.u64(), self.u64(), self.u32()
        return SessionInfo(sid, created, last_seen, idle, deadline or None, expires, version, self.labels())

    def end(self) -> None:
        """Bodies are consumed exactly (§6): surplus bytes are an error."""
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} surplus bytes")


# --- handshake (§5) ---------------------------------------------------------


def client_hello(version: int = VERSION) -> bytes:
    return MAGIC + struct.pack(">HH", version, 0)


def parse_server_hello(data: bytes) -> ServerHello:
    """Decode the 16-byte server hello; refuse what a v1 client must refuse."""
    if len(data) != 16 or data[:4] != MAGIC:
        raise errors.ProtocolError("the server did not answer with a sessiond hello")
    version, flags, max_frame, reserved = struct.unpack(">HHII", data[4:])
    if version != VERSION:
        raise errors.ProtocolError(f"the server chose protocol version {version}; this client speaks {VERSION}")
    if flags & ~1:
        raise errors.ProtocolError(f"unknown handshake flags {flags:#06x}")
    return ServerHello(version, bool(flags & 1), max_frame)


def server_hello(hello: ServerHello) -> bytes:
    return MAGIC + struct.pack(">HHII", hello.version, 1 if hello.auth_required else 0, hello.max_frame, 0)


# --- responses (§9, §10) ----------------------------------------------------


def parse_error(code: int, r: Reader) -> errors.ServerError:
    """The exception for an error body whose code byte has been read."""
    message = r.str16("message")
    cls = errors.ERROR_CLASSES.get(code)
    if cls is None:
        # Unknown code: its detail fields are unknowable, so stop here (§10).
        return errors.UnknownError(code, message)
    details = {name: getattr(r, kind)(name) for name, kind in cls.fields}
    r.end()
    return cls(message, details)


def open_response(body: bytes, tag: int) -> Reader:
    """Check a response is success with the expected reply tag; raise its error otherwise.

    Returns a reader positioned after the tag. A mismatched tag or a body that
    does not decode is a ProtocolError: the server broke the protocol.
    """
    r = Reader(body)
    try:
        status = r.u8("status")
        if status != 0:
            raise parse_error(status, r)
        got = r.u8("reply tag")
    except DecodeError as exc:
        raise errors.ProtocolError(f"undecodable response: {exc}") from exc
    if got != tag:
        raise errors.ProtocolError(f"expected reply tag {tag:#04x}, got {got:#04x}")
    return r


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """One request: its frame and how to read its reply."""

    frame: bytes
    tag: int
    read: Callable[[Reader], T_co]
    #: Seconds the server may hold the request before it answers (an
    #: EVENTS_READ's wait), beyond the client's reply timeout.
    wait: float = 0.0

    def parse(self, body: bytes) -> T_co:
        """The reply's value, or raise the server's error for this request."""
        r = open_response(body, self.tag)
        try:
            value = self.read(r)
            r.end()
        except DecodeError as exc:
            raise errors.ProtocolError(f"undecodable reply: {exc}") from exc
        return value


def _done(r: Reader) -> None:
    return None


def _read_stats(r: Reader) -> Dict[str, int]:
    return {r.str8("name"): r.u64("value") for _ in range(r.u16("count"))}


def _read_session(r: Reader) -> Session:
    owner = r.bytes16("owner")
    data = r.bytes32("data")
    return Session(owner, data, r.info())


def _read_list(r: Reader) -> List[SessionInfo]:
    return [r.info() for _ in range(r.u32("count"))]


def _read_value(r: Reader) -> Optional[bytes]:
    return r.bytes32("value") if r.present("value") else None


def _read_ttl(r: Reader) -> KeyTtl:
    kind = r.u8("ttl kind")
    ms = r.u64("ms")
    if kind >= len(TTL_KINDS):
        raise DecodeError(f"unknown TTL kind {kind}")
    return KeyTtl(TTL_KINDS[kind], ms)


def _read_scan(r: Reader) -> Tuple[int, List[bytes]]:
    cursor = r.u64("cursor")
    return cursor, [r.bytes16("key") for _ in range(r.u32("key count"))]


def _read_cache(r: Reader) -> CacheGrant:
    head = r.u64("head")
    return CacheGrant(head, r.u32("bound"))


def _call(op: int, tag: int, read: Callable[[Reader], T], build: Optional[Callable[[Writer], Any]] = None) -> Call[T]:
    w = Writer().u8(op)
    if build is not None:
        build(w)
    return Call(w.frame(), tag, read)


def _opt_u32(w: Writer, v: Optional[int]) -> None:
    if v is None:
        w.u8(0)
    else:
        w.u8(1).u32(v)


def _opt_u64(w: Writer, v: Optional[int]) -> None:
    if v is None:
        w.u8(0)
    else:
        w.u8(1).u64(v)


def _secs(v: Optional[float]) -> Optional[int]:
    """Timeouts are whole seconds, rounded up (§2)."""
    if v is None:
        return None
    whole = int(v)
    return whole + 1 if v > whole else whole


def _ms(v: Optional[float]) -> Optional[int]:
    """TTLs are given in seconds (float) by the API and sent as whole ms, rounded up."""
    if v is None:
        return None
    ms = v * 1000
    whole = int(ms)
    return whole + 1 if ms > whole else whole


# --- requests (§8) ----------------------------------------------------------
# Each returns a Call. TTLs and timeouts are seconds (float allowed) in the API.


def ping() -> Call[None]:
    return _call(OP_PING, TAG_DONE, _done)


def auth(token: BytesLike) -> Call[None]:
    return _call(OP_AUTH, TAG_DONE, _done, lambda w: w.bytes16(_b(token)))


def stats() -> Call[Dict[str, int]]:
    return _call(OP_STATS, TAG_STATS, _read_stats)


def create(
    owner: BytesLike,
    data: BytesLike = b"",
    *,
    labels: Optional[Mapping[str, str]] = None,
    idle_timeout: Optional[float] = None,
    lifetime: Optional[float] = None,
    limit: Optional[OwnerLimit] = None,
    session_id: Optional[IdLike] = None,
) -> Call[str]:
    """CREATE: None for a timeout means the server's default, 0 means none."""
    raw_id = None if session_id is None else id_bytes(session_id)
    idle, life = _secs(idle_timeout), _secs(lifetime)
    flags = (
        (1 if raw_id is not None else 0)
        | (2 if idle is not None else 0)
        | (4 if life is not None else 0)
        | (8 if limit is not None else 0)
    )

    def build(w: Writer) -> None:
        w.u8(flags)
        if raw_id is not None:
            w.raw(raw_id)
        if idle is not None:
            w.u32(idle)
        if life is not None:
            w.u32(life)
        if limit is not None:
            if limit.policy not in POLICIES:
                raise ValueError(f"limit policy must be one of {POLICIES}, not {limit.policy!r}")
            w.u32(limit.max_sessions).u8(POLICIES.index(limit.policy))
        w.bytes16(_b(owner)).labels(labels or {}).bytes32(_b(data))

    return _call(OP_CREATE, TAG_ID, Reader.id, build)


def get(session_id: IdLike, touch: bool = True) -> Call[Session]:
    raw = id_bytes(session_id)
    return _call(OP_GET, TAG_SESSION, _read_session, lambda w: w.raw(raw).bool(touch))


def update(session_id: IdLike, data: BytesLike, expected_version: Optional[int] = None) -> Call[int]:
    raw = id_bytes(session_id)

    def build(w: Writer) -> None:
        w.raw(raw)
        _opt_u32(w, expected_version)
        w.bytes32(_b(data))

    return _call(OP_UPDATE, TAG_VERSION, Reader.u32, build)


def touch(session_id: IdLike) -> Call[int]:
    raw = id_bytes(session_id)
    return _call(OP_TOUCH, TAG_TIME, Reader.u64, lambda w: w.raw(raw))


def delete(session_id: IdLike) -> Call[bool]:
    raw = id_bytes(session_id)
    return _call(OP_DELETE, TAG_BOOL, Reader.bool, lambda w: w.raw(raw))


def rotate(session_id: IdLike) -> Call[str]:
    raw = id_bytes(session_id)
    return _call(OP_ROTATE, TAG_ID, Reader.id, lambda w: w.raw(raw))


def list_sessions(owner: BytesLike) -> Call[List[SessionInfo]]:
    return _call(OP_LIST, TAG_LIST, _read_list, lambda w: w.bytes16(_b(owner)))


def count(owner: BytesLike) -> Call[int]:
    return _call(OP_COUNT, TAG_COUNT, Reader.u32, lambda w: w.bytes16(_b(owner)))


def owner_keep(w: Writer, owner: BytesLike, keep: Optional[IdLike]) -> Writer:
    """DELETE_OWNER's fields (and DELETE_OWNER_NOTED's first two): the
    owner, then the ``opt<id>`` session to keep."""
    w.bytes16(_b(owner))
    return w.u8(0) if keep is None else w.u8(1).raw(id_bytes(keep))


def delete_owner(owner: BytesLike, keep: Optional[IdLike] = None) -> Call[int]:
    return _call(OP_DELETE_OWNER, TAG_COUNT, Reader.u32, lambda w: owner_keep(w, owner, keep))


def key_set(key: BytesLike, value: BytesLike, ttl: Optional[float] = None) -> Call[None]:
    """KEY_SET; ``ttl`` in seconds (None: no TTL)."""
    ms = _ms(ttl)

    def build(w: Writer) -> None:
        w.bytes16(_b(key))
        _opt_u64(w, ms)
        w.bytes32(_b(value))

    return _call(OP_KEY_SET, TAG_DONE, _done, build)


def key_get(key: BytesLike) -> Call[Optional[bytes]]:
    return _call(OP_KEY_GET, TAG_VALUE, _read_value, lambda w: w.bytes16(_b(key)))


def key_delete(key: BytesLike) -> Call[bool]:
    return _call(OP_KEY_DELETE, TAG_BOOL, Reader.bool, lambda w: w.bytes16(_b(key)))


def key_expire(key: BytesLike, ttl: Optional[float]) -> Call[bool]:
    """KEY_EXPIRE; ``ttl`` in seconds, None removes the TTL, 0 deletes the key."""
    ms = _ms(ttl)

    def build(w: Writer) -> None:
        w.bytes16(_b(key))
        _opt_u64(w, ms)

    return _call(OP_KEY_EXPIRE, TAG_BOOL, Reader.bool, build)


def key_ttl(key: BytesLike) -> Call[KeyTtl]:
    return _call(OP_KEY_TTL, TAG_TTL, _read_ttl, lambda w: w.bytes16(_b(key)))


def key_incr(key: BytesLike, delta: int = 1) -> Call[int]:
    return _call(OP_KEY_INCR, TAG_INTEGER, Reader.i64, lambda w: w.bytes16(_b(key)).i64(delta))


def key_incr_ttl(key: BytesLike, delta: int, ttl: float) -> Call[int]:
    """KEY_INCR_TTL: add ``delta`` and give a key without a TTL (a new
    counter) ``ttl`` seconds, in one change (a rate limiter's counter is
    never left without its window)."""
    ms = _ms(ttl)
    if ms is None or ms <= 0:
        raise ValueError("a counter's TTL must be positive")
    return _call(OP_KEY_INCR_TTL, TAG_INTEGER, Reader.i64, lambda w: w.bytes16(_b(key)).i64(delta).u64(ms))


def key_scan(cursor: int = 0, count: int = DEFAULT_SCAN_COUNT, pattern: Optional[BytesLike] = None) -> Call[Tuple[int, List[bytes]]]:
    """KEY_SCAN, one step of a walk over every plain key: ``(next cursor, keys)``.

    Start at 0 and pass each returned cursor back until it is 0 again; a key
    present for the whole walk comes back exactly once. ``count`` is about
    how many keys the server looks at, ``pattern`` a Redis glob (None: all).
    """
    raw_pattern = None if pattern is None else _b(pattern)

    def build(w: Writer) -> None:
        w.u64(cursor).u32(count)
        if raw_pattern is None:
            w.u8(0)
        else:
            w.u8(1).bytes16(raw_pattern)

    return _call(OP_KEY_SCAN, TAG_SCAN, _read_scan, build)


def node_add(node_id: int, raft_addr: str) -> Call[None]:
    """NODE_ADD: make node ``node_id``, whose raft endpoint is ``raft_addr``
    (``host:port``), a member of the replication group."""
    return _call(OP_NODE_ADD, TAG_DONE, _done, lambda w: w.u64(node_id).str16(raft_addr))


def node_remove(node_id: int) -> Call[None]:
    """NODE_REMOVE: take node ``node_id`` out of the replication group."""
    return _call(OP_NODE_REMOVE, TAG_DONE, _done, lambda w: w.u64(node_id))


def cache_register(mode: str) -> Call[CacheGrant]:
    """CACHE_REGISTER: make this connection a near cache's invalidation
    connection, ``mode`` "strict" or "relaxed" (docs/events.md, "Near
    cache"). The reply gives the newest seq logged and the server's bound."""
    if mode not in CACHE_MODES:
        raise ValueError(f"a near cache's mode is one of {CACHE_MODES}, not {mode!r}")
    code = CACHE_MODES.index(mode) + 1
    return _call(OP_CACHE_REGISTER, TAG_CACHE, _read_cache, lambda w: w.u8(code))


# --- the server's direction (for tests, fakes and the golden vectors) -------


def decode_request(body: bytes) -> Tuple[str, Dict[str, Any]]:
    """Decode a request body as the server would; DecodeError for MALFORMED.

    Raises :class:`UnknownOpcode` for an opcode not in §8. Returned fields use
    the vector file's names (``owner``, ``ttl_ms``, ...), with bytes as bytes.
    """
    r = Reader(body)
    op = r.u8("opcode")
    f: Dict[str, Any] = {}
    if op == OP_PING:
        name = "ping"
    elif op == OP_AUTH:
        name, f["token"] = "auth", r.bytes16("token")
    elif op == OP_STATS:
        name = "stats"
    elif op == OP_CREATE:
        name = "create"
        flags = r.u8("flags")
        if flags & 0xF0:
            raise DecodeError(f"reserved CREATE flags {flags:#04x}")
        f["id"] = r.id() if flags & 1 else None
        f["idle_secs"] = r.u32() if flags & 2 else None
        f["absolute_secs"] = r.u32() if flags & 4 else None
        if flags & 8:
            max_sessions, policy = r.u32(), r.u8("policy")
            if policy >= len(POLICIES):
                raise DecodeError(f"unknown limit policy {policy}")
            f["limit"] = OwnerLimit(max_sessions, POLICIES[policy])
        else:
            f["limit"] = None
        f["owner"], f["labels"], f["data"] = r.bytes16("owner"), r.labels(), r.bytes32("data")
    elif op == OP_GET:
        name, f["id"], f["touch"] = "get", r.id(), r.bool("touch")
    elif op == OP_UPDATE:
        name, f["id"] = "update", r.id()
        f["expected_version"] = r.u32() if r.present() else None
        f["data"] = r.bytes32("data")
    elif op in (OP_TOUCH, OP_DELETE, OP_ROTATE):
        name, f["id"] = {OP_TOUCH: "touch", OP_DELETE: "delete", OP_ROTATE: "rotate"}[op], r.id()
    elif op in (OP_LIST, OP_COUNT):
        name, f["owner"] = ("list" if op == OP_LIST else "count"), r.bytes16("owner")
    elif op == OP_DELETE_OWNER:
        name, f["owner"] = "delete_owner", r.bytes16("owner")
        f["keep"] = r.id() if r.present() else None
    elif op in (OP_KEY_SET, OP_KEY_EXPIRE):
        name, f["key"] = ("key_set" if op == OP_KEY_SET else "key_expire"), r.bytes16("key")
        f["ttl_ms"] = r.u64() if r.present() else None
        if op == OP_KEY_SET:
            f["value"] = r.bytes32("value")
    elif op in (OP_KEY_GET, OP_KEY_DELETE, OP_KEY_TTL):
        name = {OP_KEY_GET: "key_get", OP_KEY_DELETE: "key_delete", OP_KEY_TTL: "key_ttl"}[op]
        f["key"] = r.bytes16("key")
    elif op == OP_KEY_INCR:
        name, f["key"], f["delta"] = "key_incr", r.bytes16("key"), r.i64()
    elif op == OP_KEY_SCAN:
        name, f["cursor"], f["count"] = "key_scan", r.u64("cursor"), r.u32("count")
        f["pattern"] = r.bytes16("pattern") if r.present("pattern") else None
    elif op == OP_NODE_ADD:
        name, f["id"], f["raft_addr"] = "node_add", r.u64("node id"), r.str16("raft address")
    elif op == OP_NODE_REMOVE:
        name, f["id"] = "node_remove", r.u64("node id")
    elif op == OP_KEY_INCR_TTL:
        name, f["key"], f["delta"] = "key_incr_ttl", r.bytes16("key"), r.i64()
        f["ttl_ms"] = r.u64()
    elif op == OP_EVENTS_READ:
        name, f["after"], f["max"], f["timeout_ms"] = "events_read", r.u64("after"), r.u32("max"), r.u32("timeout")
    elif op == OP_DELETE_NOTED:
        name, f["id"], f["note"] = "delete_noted", r.id(), r.bytes16("note")
    elif op == OP_DELETE_OWNER_NOTED:
        name, f["owner"] = "delete_owner_noted", r.bytes16("owner")
        f["keep"] = r.id() if r.present() else None
        f["note"] = r.bytes16("note")
    elif op == OP_CACHE_REGISTER:
        mode = r.u8("mode")
        if not 1 <= mode <= len(CACHE_MODES):
            raise DecodeError(f"unknown near cache mode {mode}")
        name, f["mode"] = "cache_register", mode
    else:
        raise UnknownOpcode(op)
    r.end()
    return name, f


class UnknownOpcode(ValueError):
    """An opcode this codec does not know; the server's UNKNOWN_OP."""

    def __init__(self, opcode: int) -> None:
        super().__init__(f"unknown operation {opcode:#04x}")
        self.opcode = opcode


def encode_ok(tag: int, build: Optional[Callable[[Writer], Any]] = None) -> bytes:
    """A success response frame: status 0, the tag, then what ``build`` writes."""
    w = Writer().u8(0).u8(tag)
    if build is not None:
        build(w)
    return w.frame()


def encode_error(err: errors.ServerError) -> bytes:
    """An error response frame for an exception (its code, message and details)."""
    w = Writer().u8(err.code).str16(err.message)
    for name, kind in type(err).fields:
        getattr(w, kind)(err.details[name])
    return w.frame()
