"""Values the API hands back: plain, immutable dataclasses.

They carry what the wire carries (SPEC.md §6 ``info``, §9) with Python names,
so that code written against the Rust engine reads the same here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

__all__ = ["SessionInfo", "Session", "KeyTtl", "OwnerLimit", "ServerHello", "Event", "CacheGrant"]


@dataclass(frozen=True)
class SessionInfo:
    """A session's metadata, as LIST returns it and GET returns it with data.

    Times are Unix seconds. ``absolute_deadline`` is None when the session has
    none (0 on the wire); ``idle_secs`` 0 means no idle timeout.
    """

    id: str
    created: int
    last_seen: int
    idle_secs: int
    absolute_deadline: Optional[int]
    expires_at: int
    version: int
    labels: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    """A session's owner and data with its metadata (GET)."""

    owner: bytes
    data: bytes
    info: SessionInfo

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def version(self) -> int:
        return self.info.version


@dataclass(frozen=True)
class KeyTtl:
    """What KEY_TTL says: ``kind`` is "missing", "persistent" or "expires"."""

    kind: str
    ms: int = 0

    @property
    def exists(self) -> bool:
        return self.kind != "missing"


@dataclass(frozen=True)
class OwnerLimit:
    """A per-request cap on the owner's sessions (CREATE flag bit 3).

    ``policy`` is "none" (no cap; ``max_sessions`` ignored), "reject" or
    "evict_oldest".
    """

    max_sessions: int
    policy: str = "reject"


@dataclass(frozen=True)
class Event:
    """One session lifecycle event (EVENTS_READ, docs/events.md).

    ``kind`` is "created", "rotated", "updated" or "ended"; ``reason`` is
    None unless ended, else "deleted", "owner_deleted", "limit_evicted",
    "memory_evicted", "idle_expired" or "absolute_expired". ``id`` is the
    session's id (a rotation's old one), ``new_id`` a rotation's new one;
    ``note`` the deleter's note, if any. ``at_ms`` is Unix milliseconds.
    """

    seq: int
    at_ms: int
    kind: str
    id: str
    owner: bytes
    labels: Dict[str, str] = field(default_factory=dict)
    reason: Optional[str] = None
    new_id: Optional[str] = None
    note: Optional[bytes] = None


@dataclass(frozen=True)
class ServerHello:
    """The server's side of the handshake (SPEC.md §5)."""

    version: int
    auth_required: bool
    max_frame: int


@dataclass(frozen=True)
class CacheGrant:
    """CACHE_REGISTER's answer (SPEC.md §9, CACHE): ``head``, the newest seq
    logged (the cache reads the events after it), and ``bound_ms``, how long
    after it sent a read the cache may go on serving on its answer."""

    head: int
    bound_ms: int
