"""The asyncio client: the same API as :class:`sessiond.Client`, awaitable.

Concurrent tasks share connections: each request's frame is written and a
future queued in one synchronous step, and one reader task per connection
resolves the futures in order. The protocol answers in request order (§6),
so FIFO matching is exact and many tasks pipeline on one socket for free.

The near cache (``near_cache=NearCache(...)``) is the blocking client's,
threads and all (:mod:`sessiond.near_cache`): its invalidator and toucher
run on threads with blocking connections of their own, never on the event
loop, so a strict write waits for no task of this loop to be scheduled.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections import deque
from types import TracebackType
from typing import AsyncIterator, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

from . import errors, events, protocol
from .connection import Connection, Options, build_options, hello_error
from .near_cache import Maintainer, NearCache, NearCacheStats, OwnTouches, forget_writes, text_id
from .pipeline import PipelineBase
from .protocol import BytesLike, Call, IdLike
from .types import Event, KeyTtl, OwnerLimit, ServerHello, Session, SessionInfo

T = TypeVar("T")


class AsyncConnection:
    """One multiplexed connection with a reader task."""

    def __init__(self, options: Options, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.options = options
        self.reader = reader
        self.writer = writer
        self.pending: Deque[asyncio.Future[bytes]] = deque()
        self.broken = False
        self.hello = ServerHello(0, False, 0)
        self._task: Optional[asyncio.Task[None]] = None

    @classmethod
    async def open(cls, options: Options) -> AsyncConnection:
        where = f"{options.host}:{options.port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    options.host,
                    options.port,
                    ssl=options.ssl_context,
                    server_hostname=(options.server_hostname or options.host) if options.ssl_context else None,
                ),
                options.connect_timeout,
            )
        except asyncio.TimeoutError as exc:
            raise errors.TimeoutError(f"connecting to {where} timed out") from exc
        except OSError as exc:
            raise errors.ConnectionError(f"cannot connect to {where}: {exc}") from exc
        conn = cls(options, reader, writer)
        try:
            conn.hello = await asyncio.wait_for(conn._handshake(), options.connect_timeout)
            conn._task = asyncio.get_running_loop().create_task(conn._read_loop())
            if options.token is not None and conn.hello.auth_required:
                await conn.call(protocol.auth(options.token))
        except asyncio.TimeoutError as exc:
            conn.close()
            raise errors.TimeoutError(f"handshake with {where} timed out") from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            raise errors.ConnectionError(f"handshake with {where} failed: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    async def _handshake(self) -> ServerHello:
        self.writer.write(protocol.client_hello())
        await self.writer.drain()
        first = await self.reader.readexactly(4)
        if first == protocol.MAGIC:
            return protocol.parse_server_hello(first + await self.reader.readexactly(12))
        self.broken = True
        (length,) = struct.unpack(">I", first)
        try:
            rest = await self.reader.readexactly(min(length, 65536))
        except asyncio.IncompleteReadError as exc:
            rest = exc.partial
        raise hello_error(first, rest)

    async def _read_loop(self) -> None:
        failure: errors.ClientError
        try:
            while True:
                head = await self.reader.readexactly(4)
                (length,) = struct.unpack(">I", head)
                if length == 0 or length > protocol.MAX_RESPONSE:
                    failure = errors.ProtocolError(f"response frame of {length} bytes")
                    break
                body = await self.reader.readexactly(length)
                if not self.pending:
                    failure = errors.ProtocolError("the server sent a frame nobody asked for")
                    break
                fut = self.pending.popleft()
                if not fut.done():  # a caller that timed out leaves its slot behind
                    fut.set_result(body)
        except (asyncio.IncompleteReadError, OSError) as exc:
            failure = errors.ConnectionError(
                f"the server {self.options.host}:{self.options.port} closed the connection ({exc})"
            )
        except asyncio.CancelledError:
            failure = errors.ConnectionError("the connection was closed")
        self._fail(failure)

    def _fail(self, failure: errors.ClientError) -> None:
        self.broken = True
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():
                fut.set_exception(failure)
        self.writer.close()

    def _check_size(self, frame: bytes) -> None:
        if len(frame) - 4 > self.hello.max_frame:
            raise errors.FrameTooLarge(
                f"request of {len(frame) - 4} bytes; the server's limit is {self.hello.max_frame}",
                {"max": self.hello.max_frame},
            )

    def submit(self, frames: bytes, n: int) -> List[asyncio.Future[bytes]]:
        """Write ``n`` requests and queue their futures in the same step (FIFO)."""
        if self.broken:
            raise errors.ConnectionError("the connection is closed")
        loop = asyncio.get_running_loop()
        futs: List[asyncio.Future[bytes]] = [loop.create_future() for _ in range(n)]
        self.writer.write(frames)
        self.pending.extend(futs)
        return futs

    async def _wait(self, fut: asyncio.Future[bytes], extra: float = 0.0) -> bytes:
        timeout = None if self.options.timeout is None else self.options.timeout + extra
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError as exc:
            raise errors.TimeoutError(
                f"no reply from {self.options.host}:{self.options.port} within {self.options.timeout} s"
            ) from exc

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except OSError as exc:
            self._fail(errors.ConnectionError(f"writing failed: {exc}"))

    def _finish(self, call: Call[T], body: bytes) -> T:
        try:
            return call.parse(body)
        except errors.ServerError as exc:
            if exc.code in errors.CLOSING_CODES:
                self._fail(errors.ConnectionError(f"the server closed the connection: {exc}"))
            raise

    async def call(self, call: Call[T]) -> T:
        self._check_size(call.frame)
        (fut,) = self.submit(call.frame, 1)
        await self._drain()
        return self._finish(call, await self._wait(fut, call.wait))

    async def call_many(self, calls: Sequence[Call[object]], raise_errors: bool = True) -> List[object]:
        for c in calls:
            self._check_size(c.frame)
        futs = self.submit(b"".join(c.frame for c in calls), len(calls))
        await self._drain()
        results: List[object] = []
        for c, fut in zip(calls, futs):
            try:
                results.append(self._finish(c, await self._wait(fut)))
            except errors.ServerError as exc:
                results.append(exc)
        if raise_errors:
            for item in results:
                if isinstance(item, errors.ServerError):
                    raise item
        return results

    async def send_raw(self, body: bytes) -> bytes:
        """A hand-made request body; returns the raw response body (tests)."""
        (fut,) = self.submit(struct.pack(">I", len(body)) + body, 1)
        await self._drain()
        return await self._wait(fut)

    def close(self) -> None:
        self.broken = True
        if self._task is not None:
            self._task.cancel()
        self.writer.close()


class AsyncClient:
    """An asyncio client; options as for :class:`sessiond.Client`.

    Up to ``pool_size`` connections, each shared by any number of concurrent
    tasks. Broken connections are replaced on the next call.

    ``near_cache=NearCache("strict")`` (or "relaxed") keeps the sessions
    :meth:`get` read in this process's memory, as :class:`sessiond.Client`
    does: a hit is answered without awaiting anything. Its two threads
    each open a blocking connection of their own (the invalidation one and
    one for the hits' TOUCHes); :meth:`close` stops them.
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
        pool_size: int = 1,
        near_cache: Optional[NearCache] = None,
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
        self.pool_size = max(1, pool_size)
        self._conns: List[AsyncConnection] = []
        self._connecting: Optional[asyncio.Lock] = None
        self._near: Optional[Maintainer] = None
        self._touches: Optional[OwnTouches] = None
        if near_cache is not None:
            self._touches = OwnTouches(lambda: Connection(self.options))
            self._near = Maintainer(near_cache, lambda: Connection(self.options), self._touches)
            self._near.start()

    async def connection(self) -> AsyncConnection:
        """A live connection: an idle one, a new one, or the least busy."""
        self._conns = [c for c in self._conns if not c.broken]
        for c in self._conns:
            if not c.pending:
                return c
        if len(self._conns) < self.pool_size:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                self._conns = [c for c in self._conns if not c.broken]
                if len(self._conns) < self.pool_size:
                    conn = await AsyncConnection.open(self.options)
                    self._conns.append(conn)
                    return conn
        return min(self._conns, key=lambda c: len(c.pending))

    async def execute(self, call: Call[T]) -> T:
        conn = await self.connection()
        return await conn.call(call)

    def pipeline(self) -> AsyncPipeline:
        return AsyncPipeline(self)

    async def close(self) -> None:
        """Close the connections and stop the near cache's threads (joined
        on an executor thread: the loop goes on meanwhile)."""
        for c in self._conns:
            c.close()
        self._conns = []
        if self._near is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._stop_near_cache)
        await asyncio.sleep(0)

    async def aclose(self) -> None:
        """:meth:`close`, by the name ``contextlib.aclosing`` calls."""
        await self.close()

    def _stop_near_cache(self) -> None:
        if self._near is not None:
            self._near.close()
        if self._touches is not None:
            self._touches.close()

    # -- the near cache -----------------------------------------------------

    def near_cache_stats(self) -> NearCacheStats:
        """As :meth:`sessiond.Client.near_cache_stats` (no I/O: not awaited)."""
        if self._near is None:
            raise ValueError("this client has no near cache")
        return self._near.entries.stats()

    async def wait_near_cache(self, timeout: float = 5.0) -> bool:
        """As :meth:`sessiond.Client.wait_near_cache`; waits on an executor thread."""
        if self._near is None:
            raise ValueError("this client has no near cache")
        wait = self._near.entries.wait_registered
        return await asyncio.get_running_loop().run_in_executor(None, wait, timeout)

    async def _forgetting(self, session_id: IdLike, call: Call[T]) -> T:
        """As :meth:`sessiond.Client._forgetting`: the entry goes before the
        write (this task never reads it again from memory) and after (another
        task's answer fetched meanwhile may predate the write)."""
        near = self._near
        if near is None:
            return await self.execute(call)
        sid = text_id(session_id)
        near.entries.forget(sid)
        try:
            return await self.execute(call)
        finally:
            near.entries.forget(sid)

    async def _forgetting_owner(self, owner: BytesLike, keep: Optional[IdLike], call: Call[T]) -> T:
        """DELETE_OWNER through a cached client: the owner's entries but ``keep``."""
        near = self._near
        if near is None:
            return await self.execute(call)
        raw, kept = protocol._b(owner), None if keep is None else text_id(keep)
        near.entries.forget_owner(raw, kept)
        try:
            return await self.execute(call)
        finally:
            near.entries.forget_owner(raw, kept)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, et: Optional[Type[BaseException]], ev: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()

    # -- operations (SPEC.md §8); see Client for their meaning ----------------

    async def ping(self) -> None:
        await self.execute(protocol.ping())

    async def stats(self) -> Dict[str, int]:
        return await self.execute(protocol.stats())

    async def create(
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
        return await self.execute(
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

    async def get(self, session_id: IdLike, touch: bool = True) -> Session:
        """As :meth:`sessiond.Client.get`: with a near cache, a hit returns
        without awaiting anything; a miss is kept unless an invalidation
        (or a write of this client) came while it was in flight."""
        near = self._near
        if near is None:
            return await self.execute(protocol.get(session_id, touch))
        sid = session_id if isinstance(session_id, str) else text_id(session_id)
        cached, epoch = near.entries.lookup(sid, touch)
        if cached is not None:
            return cached
        session = await self.execute(protocol.get(sid, touch))
        near.entries.insert(session, epoch)
        return session

    async def update(self, session_id: IdLike, data: BytesLike, expected_version: Optional[int] = None) -> int:
        return await self._forgetting(session_id, protocol.update(session_id, data, expected_version))

    async def touch(self, session_id: IdLike) -> int:
        return await self.execute(protocol.touch(session_id))

    async def delete(self, session_id: IdLike) -> bool:
        return await self._forgetting(session_id, protocol.delete(session_id))

    async def rotate(self, session_id: IdLike) -> str:
        return await self._forgetting(session_id, protocol.rotate(session_id))

    async def list(self, owner: BytesLike) -> List[SessionInfo]:
        return await self.execute(protocol.list_sessions(owner))

    async def count(self, owner: BytesLike) -> int:
        return await self.execute(protocol.count(owner))

    async def delete_owner(self, owner: BytesLike, keep: Optional[IdLike] = None) -> int:
        return await self._forgetting_owner(owner, keep, protocol.delete_owner(owner, keep))

    async def read_events(self, after: int = 0, max_events: int = 100, timeout: float = 0.0) -> List[Event]:
        """As :meth:`sessiond.Client.read_events`."""
        return await self.execute(events.events_read(after, max_events, timeout))

    async def delete_with_note(self, session_id: IdLike, note: Optional[BytesLike]) -> bool:
        """As :meth:`sessiond.Client.delete_with_note`."""
        return await self._forgetting(session_id, events.delete_noted(session_id, note))

    async def delete_owner_with_note(
        self, owner: BytesLike, keep: Optional[IdLike] = None, note: Optional[BytesLike] = None
    ) -> int:
        """As :meth:`sessiond.Client.delete_owner_with_note`."""
        return await self._forgetting_owner(owner, keep, events.delete_owner_noted(owner, keep, note))

    async def set_key(self, key: BytesLike, value: BytesLike, ttl: Optional[float] = None) -> None:
        await self.execute(protocol.key_set(key, value, ttl))

    async def get_key(self, key: BytesLike) -> Optional[bytes]:
        return await self.execute(protocol.key_get(key))

    async def delete_key(self, key: BytesLike) -> bool:
        return await self.execute(protocol.key_delete(key))

    async def expire_key(self, key: BytesLike, ttl: Optional[float]) -> bool:
        return await self.execute(protocol.key_expire(key, ttl))

    async def ttl(self, key: BytesLike) -> KeyTtl:
        return await self.execute(protocol.key_ttl(key))

    async def incr(self, key: BytesLike, delta: int = 1) -> int:
        return await self.execute(protocol.key_incr(key, delta))

    async def incr_with_ttl(self, key: BytesLike, delta: int, ttl: float) -> int:
        """As :meth:`sessiond.Client.incr_with_ttl`."""
        return await self.execute(protocol.key_incr_ttl(key, delta, ttl))

    async def scan(
        self, cursor: int = 0, pattern: Optional[BytesLike] = None, count: int = protocol.DEFAULT_SCAN_COUNT
    ) -> Tuple[int, List[bytes]]:
        return await self.execute(protocol.key_scan(cursor, count, pattern))

    async def scan_iter(
        self, pattern: Optional[BytesLike] = None, count: int = protocol.DEFAULT_SCAN_COUNT
    ) -> AsyncIterator[bytes]:
        cursor = 0
        while True:
            cursor, keys = await self.scan(cursor, pattern, count)
            for key in keys:
                yield key
            if cursor == 0:
                return


class AsyncPipeline(PipelineBase):
    """``async with client.pipeline() as p: p.get(a).get(b)`` then ``p.results``."""

    def __init__(self, client: AsyncClient) -> None:
        super().__init__()
        self.client = client
        self.results: List[object] = []

    async def execute(self, raise_errors: bool = True) -> List[object]:
        calls, self.calls = self.calls, []
        if not calls:
            self.results = []
            return self.results
        near = self.client._near
        if near is not None:
            forget_writes(near.entries, calls)
        try:
            conn = await self.client.connection()
            self.results = await conn.call_many(calls, raise_errors)
        finally:
            if near is not None:
                forget_writes(near.entries, calls)
        return self.results

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(
        self, et: Optional[Type[BaseException]], ev: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if et is None:
            await self.execute()
