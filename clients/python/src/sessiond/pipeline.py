"""Request batches: queue calls with the client's method names, send them at once.

The queueing half is shared by the blocking and asyncio pipelines (only
``execute`` differs), so the list of operations is written once here and once
per client, never a third time.
"""

from __future__ import annotations

from typing import List, Mapping, Optional, TypeVar

from . import protocol
from .protocol import BytesLike, Call, IdLike
from .types import OwnerLimit

P = TypeVar("P", bound="PipelineBase")


class PipelineBase:
    """Collects :class:`~sessiond.protocol.Call` objects; each method returns
    the pipeline so calls chain. ``execute`` returns the values in order."""

    def __init__(self) -> None:
        self.calls: List[Call[object]] = []

    def add(self: P, call: Call[object]) -> P:
        self.calls.append(call)
        return self

    def __len__(self) -> int:
        return len(self.calls)

    def ping(self: P) -> P:
        return self.add(protocol.ping())

    def stats(self: P) -> P:
        return self.add(protocol.stats())

    def create(
        self: P,
        owner: BytesLike,
        data: BytesLike = b"",
        *,
        labels: Optional[Mapping[str, str]] = None,
        idle_timeout: Optional[float] = None,
        lifetime: Optional[float] = None,
        limit: Optional[OwnerLimit] = None,
        session_id: Optional[IdLike] = None,
    ) -> P:
        return self.add(
            protocol.create(
                owner,
                data,
                labels=labels,
                idle_timeout=idle_timeout,
                lifetime=lifetime,
                limit=limit,
                session_id=session_id,
            )
        )

    def get(self: P, session_id: IdLike, touch: bool = True) -> P:
        return self.add(protocol.get(session_id, touch))

    def update(self: P, session_id: IdLike, data: BytesLike, expected_version: Optional[int] = None) -> P:
        return self.add(protocol.update(session_id, data, expected_version))

    def touch(self: P, session_id: IdLike) -> P:
        return self.add(protocol.touch(session_id))

    def delete(self: P, session_id: IdLike) -> P:
        return self.add(protocol.delete(session_id))

    def rotate(self: P, session_id: IdLike) -> P:
        return self.add(protocol.rotate(session_id))

    def list(self: P, owner: BytesLike) -> P:
        return self.add(protocol.list_sessions(owner))

    def count(self: P, owner: BytesLike) -> P:
        return self.add(protocol.count(owner))

    def delete_owner(self: P, owner: BytesLike, keep: Optional[IdLike] = None) -> P:
        return self.add(protocol.delete_owner(owner, keep))

    def set_key(self: P, key: BytesLike, value: BytesLike, ttl: Optional[float] = None) -> P:
        return self.add(protocol.key_set(key, value, ttl))

    def get_key(self: P, key: BytesLike) -> P:
        return self.add(protocol.key_get(key))

    def delete_key(self: P, key: BytesLike) -> P:
        return self.add(protocol.key_delete(key))

    def expire_key(self: P, key: BytesLike, ttl: Optional[float]) -> P:
        return self.add(protocol.key_expire(key, ttl))

    def ttl(self: P, key: BytesLike) -> P:
        return self.add(protocol.key_ttl(key))

    def incr(self: P, key: BytesLike, delta: int = 1) -> P:
        return self.add(protocol.key_incr(key, delta))

    def scan(
        self: P, cursor: int = 0, pattern: Optional[BytesLike] = None, count: int = protocol.DEFAULT_SCAN_COUNT
    ) -> P:
        return self.add(protocol.key_scan(cursor, count, pattern))
