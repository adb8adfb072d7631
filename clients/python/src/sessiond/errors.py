"""Exceptions: one class per protocol error code (SPEC.md §10), plus client errors.

Callers catch a specific condition (``except sessiond.NotFound``) rather than
comparing codes, and the detail fields the server sends become attributes, so
that e.g. a lost conditional update tells the caller the version it lost to.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar, Dict, Optional, Tuple, Type

__all__ = [
    "SessiondError",
    "ServerError",
    "NotFound",
    "IdTaken",
    "BadOwner",
    "TooLarge",
    "BadKey",
    "BadLabels",
    "BadTimeout",
    "SessionLimit",
    "VersionMismatch",
    "OutOfMemory",
    "NotAnInteger",
    "Overflow",
    "WrongType",
    "Persistence",
    "EventsGap",
    "AuthRequired",
    "AuthFailed",
    "UnknownOp",
    "Malformed",
    "FrameTooLarge",
    "UnsupportedVersion",
    "BadHandshake",
    "ShuttingDown",
    "Busy",
    "NotLeader",
    "Unavailable",
    "UnknownError",
    "ClientError",
    "ConnectionError",
    "TimeoutError",
    "ProtocolError",
    "GaveUp",
    "ERROR_CLASSES",
]


class SessiondError(Exception):
    """Base of every exception this package raises."""


class ServerError(SessiondError):
    """An error response from the server.

    ``code`` is the wire code, ``message`` the server's text (for BAD_LABELS,
    BAD_TIMEOUT, MALFORMED and BAD_HANDSHAKE the only place the reason is
    given, so it is kept verbatim), ``details`` the code's detail fields.
    """

    code: ClassVar[int] = 0
    name: ClassVar[str] = ""
    #: The code's detail fields in wire order: (attribute name, wire type).
    fields: ClassVar[Tuple[Tuple[str, str], ...]] = ()

    def __init__(self, message: str, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Dict[str, Any] = dict(details or {})

    def __getattr__(self, item: str) -> Any:
        # Detail fields read as attributes: err.expected, err.max, err.leader...
        details = self.__dict__.get("details", {})
        if item in details:
            return details[item]
        raise AttributeError(item)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.details!r})"


class NotFound(ServerError):
    """No such session: unknown, deleted, rotated away or expired."""

    code, name = 1, "NOT_FOUND"


class IdTaken(ServerError):
    """A caller-chosen id (or its 8-byte prefix) is in use."""

    code, name = 2, "ID_TAKEN"


class BadOwner(ServerError):
    """Owner empty or too long (``length``, ``max``)."""

    code, name = 3, "BAD_OWNER"
    fields = (("length", "u32"), ("max", "u32"))


class TooLarge(ServerError):
    """Data or value too large (``length``, ``max``)."""

    code, name = 4, "TOO_LARGE"
    fields = (("length", "u32"), ("max", "u32"))


class BadKey(ServerError):
    """Key empty or too long (``length``, ``max``)."""

    code, name = 5, "BAD_KEY"
    fields = (("length", "u32"), ("max", "u32"))


class BadLabels(ServerError):
    """Labels break their limits; the message says which."""

    code, name = 6, "BAD_LABELS"


class BadTimeout(ServerError):
    """A session that never expires, or a timeout out of range."""

    code, name = 7, "BAD_TIMEOUT"


class SessionLimit(ServerError):
    """The owner is at its ``limit`` and the policy is to refuse."""

    code, name = 8, "SESSION_LIMIT"
    fields = (("limit", "u32"),)


class VersionMismatch(ServerError):
    """A conditional update lost: ``expected`` was asked, ``actual`` is stored."""

    code, name = 9, "VERSION_MISMATCH"
    fields = (("expected", "u32"), ("actual", "u32"))


class OutOfMemory(ServerError):
    """The memory limit is reached (``used``, ``limit``, ``needed`` bytes)."""

    code, name = 10, "OUT_OF_MEMORY"
    fields = (("used", "u64"), ("limit", "u64"), ("needed", "u64"))


class NotAnInteger(ServerError):
    """INCR on a value that is not a decimal 64-bit integer."""

    code, name = 11, "NOT_AN_INTEGER"


class Overflow(ServerError):
    """INCR would overflow a signed 64-bit integer."""

    code, name = 12, "OVERFLOW"


class WrongType(ServerError):
    """A string operation on a set-valued key, or a set operation on a string."""

    code, name = 13, "WRONG_TYPE"


class Persistence(ServerError):
    """The server's data directory refuses writes (a full disk); reads go on.

    Writes resume by themselves once the disk takes them again.
    """

    code, name = 14, "PERSISTENCE"


class EventsGap(ServerError):
    """EVENTS_READ asked for events after ``after`` that retention dropped:
    the reader missed some. ``oldest_kept`` is the oldest seq still kept
    (resume after ``oldest_kept - 1`` once the loss is dealt with)."""

    code, name = 15, "EVENTS_GAP"
    fields = (("after", "u64"), ("oldest_kept", "u64"))


class AuthRequired(ServerError):
    """The server has a token and this connection has not authenticated."""

    code, name = 32, "AUTH_REQUIRED"


class AuthFailed(ServerError):
    """Wrong token."""

    code, name = 33, "AUTH_FAILED"


class UnknownOp(ServerError):
    """The server does not know the ``opcode`` (an older server)."""

    code, name = 34, "UNKNOWN_OP"
    fields = (("opcode", "u8"),)


class Malformed(ServerError):
    """The request body did not decode; the message says why."""

    code, name = 35, "MALFORMED"


class FrameTooLarge(ServerError):
    """A request longer than the server's ``max`` frame; the connection closes."""

    code, name = 36, "FRAME_TOO_LARGE"
    fields = (("max", "u32"),)


class UnsupportedVersion(ServerError):
    """No common protocol version (server speaks ``lowest``..``highest``)."""

    code, name = 37, "UNSUPPORTED_VERSION"
    fields = (("lowest", "u16"), ("highest", "u16"))


class BadHandshake(ServerError):
    """The server did not take us for a sessiond client."""

    code, name = 38, "BAD_HANDSHAKE"


class ShuttingDown(ServerError):
    """The server is stopping; the connection closes."""

    code, name = 39, "SHUTTING_DOWN"


class Busy(ServerError):
    """The server is at its connection limit; the connection closes."""

    code, name = 40, "BUSY"


class NotLeader(ServerError):
    """This node of a replication group is not its leader; the request was
    not executed. ``leader`` is the leader's ``host:port``, or "" while no
    leader is known (an election)."""

    code, name = 41, "NOT_LEADER"
    fields = (("leader", "str16"),)


class Unavailable(ServerError):
    """The replication group could not confirm the request in time; a write
    may or may not have been applied."""

    code, name = 42, "UNAVAILABLE"


class UnknownError(ServerError):
    """An error code this client does not know (SPEC.md §12: still an error).

    Its detail fields cannot be decoded, so only ``code`` and ``message`` are
    meaningful; ``code`` is set per instance.
    """

    name = "UNKNOWN"

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]


ERROR_CLASSES: Dict[int, Type[ServerError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        IdTaken,
        BadOwner,
        TooLarge,
        BadKey,
        BadLabels,
        BadTimeout,
        SessionLimit,
        VersionMismatch,
        OutOfMemory,
        NotAnInteger,
        Overflow,
        WrongType,
        Persistence,
        EventsGap,
        AuthRequired,
        AuthFailed,
        UnknownOp,
        Malformed,
        FrameTooLarge,
        UnsupportedVersion,
        BadHandshake,
        ShuttingDown,
        Busy,
        NotLeader,
        Unavailable,
    )
}

#: Codes after which the server closes the connection (SPEC.md §5, §6, §10).
CLOSING_CODES = frozenset({36, 37, 38, 39, 40})


class ClientError(SessiondError):
    """A failure on our side of the wire, not an error response."""


class ConnectionError(ClientError, builtins.ConnectionError):  # noqa: A001
    """The connection could not be made or was lost (possibly mid-request).

    A request in flight when this is raised may or may not have been applied.
    """


class TimeoutError(ClientError, builtins.TimeoutError):  # noqa: A001
    """Connecting or waiting for a reply took longer than the timeout."""


class ProtocolError(ClientError):
    """The server sent bytes that do not follow the protocol."""


class GaveUp(ClientError):
    """A call was retried up to its bounds (:class:`sessiond.Retry`) without
    an answer it could return: the server or replication group stayed
    unreachable, leaderless or unavailable.

    ``attempts`` and ``elapsed`` (seconds) say how hard it tried, ``last``
    is the last attempt's error, and ``outcome_unknown`` whether some attempt
    may have been applied (its connection broke after sending, or the group
    answered UNAVAILABLE).
    """

    def __init__(self, attempts: int, elapsed: float, outcome_unknown: bool, last: BaseException) -> None:
        maybe = " (the request may or may not have been executed)" if outcome_unknown else ""
        super().__init__(f"gave up after {attempts} attempts in {elapsed * 1000:.0f} ms{maybe}: {last}")
        self.attempts = attempts
        self.elapsed = elapsed
        self.outcome_unknown = outcome_unknown
        self.last = last
