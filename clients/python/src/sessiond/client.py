"""The blocking client: the engine's API over a pool of connections.

Each method builds a :class:`~sessiond.protocol.Call` with the shared codec and
runs it on a pooled connection, so this module holds no wire logic.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Dict, Iterator, List, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import protocol
from .connection import Connection, build_options
from .pipeline import PipelineBase
from .pool import Pool
from .protocol import BytesLike, Call, IdLike
from .types import KeyTtl, OwnerLimit, Session, SessionInfo

T = TypeVar("T")


class Client:
    """A thread-safe blocking client.

    ``Client("sessiond://127.0.0.1:7878", token=..., ca_file=...)``. TLS is on
    for ``sessiond+tls://`` URLs or ``tls=True``, verifying the server against
    the system CAs, ``ca_file`` or your ``ssl_context``. ``timeout`` bounds
    each reply, ``connect_timeout`` each connect; ``pool_size`` bounds the
    connections (threads beyond it wait for one). Connections the server
    closed are replaced on the next call.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        token: Optional[Union[str, bytes]] = None,
        tls: Optional[bool] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        ca_file: Optional[str] = None,
        server_hostname: Optional[str] = None,
        timeout: Optional[float] = 10.0,
        connect_timeout: Optional[float] = 5.0,
        pool_size: int = 10,
    ) -> None:
        self.options = build_options(
            url,
            host=host,
            port=port,
            token=token,
            tls=tls,
            ssl_context=ssl_context,
            ca_file=ca_file,
            server_hostname=server_hostname,
            connect_timeout=connect_timeout,
            timeout=timeout,
        )
        self.pool = Pool(self.options, pool_size)

    def execute(self, call: Call[T]) -> T:
        """Run one prepared call (any operation of :mod:`sessiond.protocol`)."""
        with self.pool.connection() as conn:
            return conn.call(call)

    def pipeline(self) -> Pipeline:
        """A batch sent in one write: ``with client.pipeline() as p: p.get(a).get(b)``;
        ``p.results`` after the block (or ``p.execute()``) holds the values in order."""
        return Pipeline(self)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: Optional[Type[BaseException]], ev: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    # -- operations (SPEC.md §8) ----------------------------------------------

    def ping(self) -> None:
        self.execute(protocol.ping())

    def stats(self) -> Dict[str, int]:
        return self.execute(protocol.stats())

    def create(
        self,
        owner: BytesLike,
        data: BytesLike = b"",
        *,
        labels: Optional[Mapping[str, str]] = None,
        idle_timeout: Optional[float] = None,
        lifetime: Optional[float] = None,
        limit: Optional[OwnerLimit] = None,
        session_id: Optional[IdLike] = None,
    ) -> str:
        """Create a session; returns its 22-character id.

        Timeouts are seconds (None: the server's default; 0: none).
        """
        return self.execute(
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

    def get(self, session_id: IdLike, touch: bool = True) -> Session:
        """The session; ``touch=False`` reads without sliding the idle deadline."""
        return self.execute(protocol.get(session_id, touch))

    def update(self, session_id: IdLike, data: BytesLike, expected_version: Optional[int] = None) -> int:
        """Replace the data; returns the new version. With ``expected_version``
        it raises VersionMismatch if someone else wrote first."""
        return self.execute(protocol.update(session_id, data, expected_version))

    def touch(self, session_id: IdLike) -> int:
        """Slide the idle deadline; returns the new expires-at (Unix seconds)."""
        return self.execute(protocol.touch(session_id))

    def delete(self, session_id: IdLike) -> bool:
        return self.execute(protocol.delete(session_id))

    def rotate(self, session_id: IdLike) -> str:
        """Give the session a new id (at login); the old one stops working."""
        return self.execute(protocol.rotate(session_id))

    def list(self, owner: BytesLike) -> List[SessionInfo]:
        return self.execute(protocol.list_sessions(owner))

    def count(self, owner: BytesLike) -> int:
        return self.execute(protocol.count(owner))

    def delete_owner(self, owner: BytesLike, keep: Optional[IdLike] = None) -> int:
        """End the owner's sessions except ``keep``; returns how many ended."""
        return self.execute(protocol.delete_owner(owner, keep))

    def set_key(self, key: BytesLike, value: BytesLike, ttl: Optional[float] = None) -> None:
        """Set a plain key; ``ttl`` in seconds (ms precision), None for none."""
        self.execute(protocol.key_set(key, value, ttl))

    def get_key(self, key: BytesLike) -> Optional[bytes]:
        return self.execute(protocol.key_get(key))

    def delete_key(self, key: BytesLike) -> bool:
        return self.execute(protocol.key_delete(key))

    def expire_key(self, key: BytesLike, ttl: Optional[float]) -> bool:
        """Set (seconds), remove (None) or zero (delete) a key's TTL; False if no key."""
        return self.execute(protocol.key_expire(key, ttl))

    def ttl(self, key: BytesLike) -> KeyTtl:
        return self.execute(protocol.key_ttl(key))

    def incr(self, key: BytesLike, delta: int = 1) -> int:
        return self.execute(protocol.key_incr(key, delta))

    def scan(
        self, cursor: int = 0, pattern: Optional[BytesLike] = None, count: int = protocol.DEFAULT_SCAN_COUNT
    ) -> Tuple[int, List[bytes]]:
        """One step of a walk over the plain keys: ``(next cursor, keys)``, as
        redis-py's ``scan``. Start at 0; the walk is over when the cursor is 0."""
        return self.execute(protocol.key_scan(cursor, count, pattern))

    def scan_iter(self, pattern: Optional[BytesLike] = None, count: int = protocol.DEFAULT_SCAN_COUNT) -> Iterator[bytes]:
        """Every key matching ``pattern``, each once, a step at a time."""
        cursor = 0
        while True:
            cursor, keys = self.scan(cursor, pattern, count)
            yield from keys
            if cursor == 0:
                return


class Pipeline(PipelineBase):
    """A blocking batch: one write, replies read in order on one connection.

    ``execute(raise_errors=True)`` raises the first error response after
    reading every reply (so the connection stays in sync); with False, errors
    are returned in place of values.
    """

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.results: List[object] = []

    def execute(self, raise_errors: bool = True) -> List[object]:
        calls, self.calls = self.calls, []
        if not calls:
            self.results = []
            return self.results
        conn: Connection
        with self.client.pool.connection() as conn:
            self.results = conn.call_many(calls, raise_errors)
        return self.results

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self, et: Optional[Type[BaseException]], ev: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if et is None:
            self.execute()
