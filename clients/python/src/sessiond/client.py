"""The blocking client: the engine's API over a pool of connections.

Each method builds a :class:`~sessiond.protocol.Call` with the shared codec and
runs it on a pooled connection, so this module holds no wire logic.
"""

from __future__ import annotations

import dataclasses
import secrets
import ssl
import threading
import time
from types import TracebackType
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union
from urllib.parse import urlsplit

from . import errors, events, protocol
from .connection import Connection, Options, build_options
from .failover import Retry, candidates, join_address, replayable, split_address
from .near_cache import Maintainer, NearCache, NearCacheStats, forget_writes, text_id
from .pipeline import PipelineBase
from .pool import Pool, PoolExhausted
from .protocol import BytesLike, Call, IdLike
from .types import Event, KeyTtl, OwnerLimit, Session, SessionInfo

T = TypeVar("T")


def parse_addresses(url: Union[str, Sequence[str], None], addresses: Optional[Sequence[str]]) -> List[str]:
    """The configured members as ``host:port``: from a URL, a list of URLs or
    ``host:port`` strings, and ``addresses=``."""
    given = ([url] if isinstance(url, str) else list(url or [])) + list(addresses or [])
    out: List[str] = []
    for item in given:
        if "://" in item:
            parts = urlsplit(item)
            host, port = parts.hostname or "127.0.0.1", parts.port or 7878
        else:
            host, port = split_address(item)
        address = join_address(host, port)
        if address not in out:
            out.append(address)
    return out


#: How a request is retried after an unknown outcome (SPEC.md §13).
_ALWAYS, _UNTIL_UNKNOWN, _CREATE = "always", "until_unknown", "create"


class Client:
    """A thread-safe blocking client.

    ``Client("sessiond://127.0.0.1:7878", token=..., ca_file=...)``. TLS is on
    for ``sessiond+tls://`` URLs or ``tls=True``, verifying the server against
    the system CAs, ``ca_file`` or your ``ssl_context``. ``timeout`` bounds
    each reply, ``connect_timeout`` each connect; ``pool_size`` bounds the
    connections (threads beyond it wait for one). Connections the server
    closed are replaced on the next call.

    A replication group: ``Client(["10.0.0.1:7878", "10.0.0.2:7878"], ...)``
    (URLs or ``host:port``, or ``addresses=``); the first is tried first.
    The client follows NOT_LEADER to the leader, moves to another member
    when a node is unreachable or knows no leader, and retries within
    ``retry`` (:class:`sessiond.Retry`: 20 attempts, 10 s). After an unknown
    outcome only reads and writes safe to apply twice are sent again; see
    the README.

    ``near_cache=NearCache("strict")`` (or "relaxed") keeps the sessions
    :meth:`get` read in this process's memory and answers from there;
    docs/events.md ("Near cache") says what each mode promises. It needs a
    standalone server that supports CACHE_REGISTER; until its connection is
    registered every get goes to the server.
    """

    def __init__(
        self,
        url: Union[str, Sequence[str], None] = None,
        *,
        addresses: Optional[Sequence[str]] = None,
        retry: Optional[Retry] = None,
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
        near_cache: Optional[NearCache] = None,
    ) -> None:
        if isinstance(url, str) and "://" not in url:
            url = [url]  # a bare host:port
        # The first URL among those given sets the scheme (TLS) and token
        # for every member; a lone URL keeps today's meaning exactly.
        urls = [url] if isinstance(url, str) else list(url or []) + list(addresses or [])
        first = next((u for u in urls if "://" in u), None)
        listed = not isinstance(url, str) or addresses is not None
        members = parse_addresses(url, addresses) if listed else []
        self.options = build_options(
            first,
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
        if not members:
            members = [join_address(self.options.host, self.options.port)]
        #: Every configured member, ``host:port``, the first tried first.
        self.addresses: List[str] = members
        self.retry = retry or Retry()
        self.pool_size = pool_size
        self._current = members[0]
        self._pool = Pool(self._options_for(members[0]), pool_size)
        self._moving = threading.Lock()
        self._moves_tried = 0
        self._near: Optional[Maintainer] = None
        if near_cache is not None:
            self._near = Maintainer(
                near_cache, lambda: Connection(self._options_for(self._current)), self._touch_many
            )
            self._near.start()

    @property
    def pool(self) -> Pool:
        """The pool of the node in use."""
        return self._pool

    @property
    def current_address(self) -> str:
        """``host:port`` of the node requests go to now."""
        return self._current

    def _options_for(self, address: str) -> Options:
        host, port = split_address(address)
        return dataclasses.replace(self.options, host=host, port=port)

    def execute(self, call: Call[T]) -> T:
        """Run one prepared call (any operation of :mod:`sessiond.protocol`),
        following redirects and retrying as ``retry`` says."""
        return self._run(call, _ALWAYS if replayable(call.frame) else _UNTIL_UNKNOWN)

    def _run(
        self,
        call: Call[T],
        kind: str,
        created: Optional[List[bytes]] = None,
        rebuild: Optional[Callable[[bytes], Call[T]]] = None,
    ) -> T:
        """The retry loop. For a CREATE, ``created`` holds the id every
        attempt sends and ``rebuild`` (only if the client drew the id) makes
        the call again with a new one."""
        retry = self.retry
        start = time.monotonic()
        deadline = start + retry.total
        attempts = waits = 0
        unknown = redirected = False
        while True:
            attempts += 1
            in_use, pool = self._current, self._pool
            wait = True
            last: BaseException
            try:
                conn = pool.checkout()
            except PoolExhausted:
                raise
            except (errors.ConnectionError, errors.TimeoutError) as exc:
                # Nothing was sent: safe whatever the request. Another
                # thread may have moved the client meanwhile, closing the
                # pool this one had picked up: go again on the new one.
                if self._current != in_use:
                    attempts -= 1
                    continue
                # With one address and no leader learnt there is nowhere
                # else to go, and the error is raised at once, as it always
                # was.
                if self.addresses == [in_use]:
                    raise
                last = exc
                redirected = False
                if retry.attempts > 1:
                    self._move(in_use, None, True, deadline)
            else:
                try:
                    try:
                        return conn.call(call)
                    except BaseException as exc:
                        if not isinstance(exc, errors.SessiondError):
                            conn.broken = True
                        raise
                    finally:
                        pool.checkin(conn)
                except errors.NotLeader as exc:
                    # Not executed: safe to send on, whatever it is.
                    if retry.attempts <= 1:
                        raise
                    leader = str(exc.details.get("leader") or "") or None
                    moved = self._move(in_use, leader, False, deadline)
                    wait = not moved or leader is None or redirected
                    redirected = True
                    last = exc
                except (errors.Unavailable, errors.ConnectionError) as exc:
                    if kind == _UNTIL_UNKNOWN:
                        raise
                    unknown, redirected, last = True, False, exc
                except errors.IdTaken as exc:
                    if kind != _CREATE or created is None:
                        raise
                    if unknown:
                        # An earlier attempt made this very session.
                        return protocol.id_to_text(created[0])  # type: ignore[return-value]
                    if rebuild is None:
                        raise
                    # A real collision on the 8-byte prefix (SPEC.md §1).
                    created[0] = secrets.token_bytes(16)
                    call = rebuild(created[0])
                    wait, redirected, last = False, False, exc
            now = time.monotonic()
            if attempts >= retry.attempts or now >= deadline:
                if attempts == 1:
                    raise last
                raise errors.GaveUp(attempts, now - start, unknown, last) from last
            if wait:
                time.sleep(min(retry.delay(waits), max(0.0, deadline - now)))
                waits += 1

    def _move(self, from_address: str, leader: Optional[str], away: bool, deadline: float) -> bool:
        """Moves from ``from_address`` to the leader named, else to another
        member (or, ``away``, to the same one reopened) that takes a
        connection; False if none did. Threads that failed on the same node
        move it once."""
        tried_before = self._moves_tried
        with self._moving:
            if self._current != from_address:
                return True
            if self._moves_tried != tried_before:
                return False  # another thread tried just now, and failed
            self._moves_tried += 1
            for address in candidates(self.addresses, from_address, leader, away):
                if time.monotonic() >= deadline:
                    break
                pool = Pool(self._options_for(address), self.pool_size)
                try:
                    pool.checkin(pool.checkout())
                except errors.SessiondError:
                    pool.close()
                    continue
                previous, self._pool, self._current = self._pool, pool, address
                previous.close()
                return True
            return False

    def pipeline(self) -> Pipeline:
        """A batch sent in one write: ``with client.pipeline() as p: p.get(a).get(b)``;
        ``p.results`` after the block (or ``p.execute()``) holds the values in order."""
        return Pipeline(self)

    def close(self) -> None:
        if self._near is not None:
            self._near.close()
        self._pool.close()

    # -- the near cache ---------------------------------------------------------

    def near_cache_stats(self) -> NearCacheStats:
        """The near cache's counters (hits, misses, invalidations, evictions,
        resets, touches, entries, bytes, registered). ValueError without one."""
        if self._near is None:
            raise ValueError("this client has no near cache")
        return self._near.entries.stats()

    def wait_near_cache(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` s until the near cache's connection is
        registered (gets before that all go to the server); whether it is."""
        if self._near is None:
            raise ValueError("this client has no near cache")
        return self._near.entries.wait_registered(timeout)

    def _touch_many(self, ids: List[str]) -> List[object]:
        """The near cache's TOUCHes, pipelined on one pooled connection."""
        with self._pool.connection() as conn:
            return conn.call_many([protocol.touch(i) for i in ids], raise_first=False)

    def _forgetting(self, session_id: IdLike, call: Call[T]) -> T:
        """A write of one session through a cached client: its entry goes
        before (so this thread never reads it again from memory) and after
        (an answer another thread fetched meanwhile may predate the write)."""
        near = self._near
        if near is None:
            return self.execute(call)
        sid = text_id(session_id)
        near.entries.forget(sid)
        try:
            return self.execute(call)
        finally:
            near.entries.forget(sid)

    def _forgetting_owner(self, owner: BytesLike, keep: Optional[IdLike], call: Call[T]) -> T:
        """DELETE_OWNER through a cached client: as :meth:`_forgetting`, for
        the owner's entries but ``keep``."""
        near = self._near
        if near is None:
            return self.execute(call)
        raw, kept = protocol._b(owner), None if keep is None else text_id(keep)
        near.entries.forget_owner(raw, kept)
        try:
            return self.execute(call)
        finally:
            near.entries.forget_owner(raw, kept)

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

        Timeouts are seconds (None: the server's default; 0: none). Without
        ``session_id`` the client draws the id (16 bytes from the OS CSPRNG)
        before the first attempt, so that every retry sends the same one and
        an ID_TAKEN after an unknown outcome is the first attempt's success.
        """
        drawn = session_id is None
        created = [secrets.token_bytes(16) if session_id is None else protocol.id_bytes(session_id)]

        def build(raw: bytes) -> Call[str]:
            return protocol.create(
                owner,
                data,
                labels=labels,
                idle_timeout=idle_timeout,
                lifetime=lifetime,
                limit=limit,
                session_id=raw,
            )

        return self._run(build(created[0]), _CREATE, created, build if drawn else None)

    def get(self, session_id: IdLike, touch: bool = True) -> Session:
        """The session; ``touch=False`` reads without sliding the idle deadline.

        With a near cache, both are answered from memory when they can be (a
        peek as well: it reads the same session), a touching hit having its
        TOUCH sent within a second; a miss reads from the server and keeps
        the answer. A session whose ``expires_at`` has passed is never
        served from memory."""
        near = self._near
        if near is None:
            return self.execute(protocol.get(session_id, touch))
        # A text id is looked up as given: only valid ones are ever kept,
        # and protocol.get checks it on a miss.
        sid = session_id if isinstance(session_id, str) else text_id(session_id)
        cached, epoch = near.entries.lookup(sid, touch)
        if cached is not None:
            return cached
        session = self.execute(protocol.get(sid, touch))
        near.entries.insert(session, epoch)
        return session

    def update(self, session_id: IdLike, data: BytesLike, expected_version: Optional[int] = None) -> int:
        """Replace the data; returns the new version. With ``expected_version``
        it raises VersionMismatch if someone else wrote first."""
        return self._forgetting(session_id, protocol.update(session_id, data, expected_version))

    def touch(self, session_id: IdLike) -> int:
        """Slide the idle deadline; returns the new expires-at (Unix seconds)."""
        return self.execute(protocol.touch(session_id))

    def delete(self, session_id: IdLike) -> bool:
        return self._forgetting(session_id, protocol.delete(session_id))

    def rotate(self, session_id: IdLike) -> str:
        """Give the session a new id (at login); the old one stops working."""
        return self._forgetting(session_id, protocol.rotate(session_id))

    def list(self, owner: BytesLike) -> List[SessionInfo]:
        return self.execute(protocol.list_sessions(owner))

    def count(self, owner: BytesLike) -> int:
        return self.execute(protocol.count(owner))

    def delete_owner(self, owner: BytesLike, keep: Optional[IdLike] = None) -> int:
        """End the owner's sessions except ``keep``; returns how many ended."""
        return self._forgetting_owner(owner, keep, protocol.delete_owner(owner, keep))

    def read_events(self, after: int = 0, max_events: int = 100, timeout: float = 0.0) -> List[Event]:
        """The session events after seq ``after`` (the last one handled; 0 at
        first), oldest first, at most ``max_events``; when there is none yet,
        the server waits up to ``timeout`` seconds (at most 60) for one and
        returns ``[]`` if none comes. Resuming after the last seq returned
        gets every event exactly once, in order. Raises
        :class:`sessiond.EventsGap` (with ``oldest_kept``) when retention has
        dropped events after ``after``."""
        return self.execute(events.events_read(after, max_events, timeout))

    def delete_with_note(self, session_id: IdLike, note: Optional[BytesLike]) -> bool:
        """:meth:`delete` whose ``ended`` event carries ``note`` ("logout",
        "revoke"; at most 256 bytes)."""
        return self._forgetting(session_id, events.delete_noted(session_id, note))

    def delete_owner_with_note(
        self, owner: BytesLike, keep: Optional[IdLike] = None, note: Optional[BytesLike] = None
    ) -> int:
        """:meth:`delete_owner` whose ``ended`` events carry ``note`` ("kick")."""
        return self._forgetting_owner(owner, keep, events.delete_owner_noted(owner, keep, note))

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

    def incr_with_ttl(self, key: BytesLike, delta: int, ttl: float) -> int:
        """INCRBY that gives a key without a TTL ``ttl`` seconds, in one
        change: a rate limiter's attempt counter. Not retried after an
        unknown outcome (it would count twice)."""
        return self.execute(protocol.key_incr_ttl(key, delta, ttl))

    def add_node(self, node_id: int, raft_addr: str) -> None:
        """NODE_ADD: make node ``node_id``, whose raft endpoint the group
        reaches at ``raft_addr``, a member. Sent to the leader; not sent
        again after an unknown outcome (check the membership first). A
        server in no replication group raises Unavailable."""
        self.execute(protocol.node_add(node_id, raft_addr))

    def remove_node(self, node_id: int) -> None:
        """NODE_REMOVE: take node ``node_id`` out of the group (as add_node)."""
        self.execute(protocol.node_remove(node_id))

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
        near = self.client._near
        if near is not None:
            forget_writes(near.entries, calls)
        conn: Connection
        try:
            with self.client.pool.connection() as conn:
                self.results = conn.call_many(calls, raise_errors)
        finally:
            if near is not None:
                forget_writes(near.entries, calls)
        return self.results

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self, et: Optional[Type[BaseException]], ev: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if et is None:
            self.execute()
