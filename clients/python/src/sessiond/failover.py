"""What the clients share to follow a replication group's leader: the retry
bounds, which requests may be sent again after an unknown outcome, and the
order in which members are tried (SPEC.md §13).

Kept free of I/O so that the blocking and asyncio clients apply one rule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from . import protocol


@dataclass(frozen=True)
class Retry:
    """How a call is retried when the server or group cannot answer it now.

    At most ``attempts`` attempts (the first included) within ``total``
    seconds, waiting from ``backoff_min`` seconds, doubling up to
    ``backoff_max``, between them (not before following a redirect to a
    named leader). ``Retry.never()`` makes one attempt and returns every
    error as it came.
    """

    attempts: int = 20
    total: float = 10.0
    backoff_min: float = 0.05
    backoff_max: float = 1.0

    @classmethod
    def never(cls) -> Retry:
        return cls(attempts=1)

    def delay(self, n: int) -> float:
        """The wait before retry ``n`` (0 first), spread over its upper half
        so that clients that lost the same node do not return in step."""
        full = min(self.backoff_max, self.backoff_min * float(1 << min(n, 30)))
        return full / 2 + random.random() * full / 2


#: Sent again after an unknown outcome: reads, and writes whose second
#: application changes nothing (UPDATE with an expected version is decided
#: by :func:`replayable`). CREATE has its own rule (the id it carries).
_SAFE_TWICE = frozenset(
    {
        protocol.OP_PING,
        protocol.OP_STATS,
        protocol.OP_GET,
        protocol.OP_LIST,
        protocol.OP_COUNT,
        protocol.OP_KEY_GET,
        protocol.OP_KEY_TTL,
        protocol.OP_KEY_SCAN,
        protocol.OP_EVENTS_READ,
        protocol.OP_DELETE_NOTED,
        protocol.OP_DELETE_OWNER_NOTED,
        protocol.OP_TOUCH,
        protocol.OP_DELETE,
        protocol.OP_DELETE_OWNER,
        protocol.OP_KEY_SET,
        protocol.OP_KEY_DELETE,
        protocol.OP_KEY_EXPIRE,
    }
)


def replayable(frame: bytes) -> bool:
    """Whether a request may be sent again after an attempt whose outcome is
    unknown. Not: KEY_INCR (would count twice), ROTATE (would end the id the
    first made), UPDATE without an expected version (could overwrite a write
    made in between), NODE_ADD / NODE_REMOVE (the operator checks)."""
    op = frame[4]
    if op == protocol.OP_UPDATE:
        # opcode, 16-byte id, then the opt<u32> presence byte.
        return frame[4 + 1 + 16] == 1
    return op in _SAFE_TWICE


def split_address(address: str) -> Tuple[str, int]:
    """``host:port``, ``[v6]:port`` or a bare host (port 7878)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if not host:
        raise ValueError(f"no host in address {address!r}")
    return host, int(port) if port else 7878


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def candidates(addresses: Sequence[str], in_use: str, leader: Optional[str], away: bool) -> List[str]:
    """The addresses a move tries, in order: a named leader first, then the
    configured members after the one in use (wrapping, so that successive
    moves go round the group), and the one in use last when it is the one
    that failed (it may be back)."""
    start = addresses.index(in_use) + 1 if in_use in addresses else 0
    others = [a for a in (addresses[(start + i) % len(addresses)] for i in range(len(addresses))) if a != in_use]
    if leader:
        return [leader] + [a for a in others if a != leader]
    if away:
        return others + [in_use]
    return others


__all__ = ["Retry", "replayable", "split_address", "join_address", "candidates"]
