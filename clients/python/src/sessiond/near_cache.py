"""The near cache: sessions read recently, answered from this process's memory.

``Client(url, near_cache=NearCache("strict"))``. Every client keeps the same
rules (docs/events.md, "Near cache"; SPEC.md §8, CACHE_REGISTER); here they
are split so that each can be tested alone:

- :class:`Entries` holds the entries, the **epoch**, the **lease** and the
  counters under one lock, and decides what may be served and kept. It does
  no I/O and takes its clocks as arguments, so the LRU, the bounds and the
  epoch rule are tested without a server.
- :class:`Maintainer` runs the two daemon threads: the invalidator, which
  owns a connection of its own (never one of the pool's: a waiting
  EVENTS_READ holds its connection), registers it, reads the event log and
  drops what the events touch; and the toucher, which sends the TOUCHes the
  hits stand for, at most one per session a second.
- :class:`OwnTouches` gives the toucher a blocking connection of its own,
  for a client whose connections it cannot use from a thread (the asyncio
  client's belong to its event loop).

Both clients share all of it: the asyncio client's cache is these same
threads beside its event loop, so invalidation never waits for the loop
(a strict write another task awaits is acknowledged by a thread while the
loop is busy, or blocked).

A client made before ``os.fork`` starts its cache over in the child (empty,
unregistered, with threads of its own): the child never serves what the
parent kept.

Why the lease, and why it runs from when a read was *sent*: the server
closes a strict cache that has not acknowledged within ``bound`` of its
latest EVENTS_READ reaching the server, and only then answers the write it
held. A read reaches the server no earlier than it was sent, so a lease of
``sent + bound`` has always run out by the time the server gives up on the
cache, even if this process was stopped (SIGSTOP) or cut off and has not
noticed yet: it stops serving by itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol, Sequence, Set, Tuple, TypeVar

from . import errors, events, protocol
from .protocol import Call
from .protocol import IdLike
from .types import CacheGrant, Event, Session, SessionInfo

__all__ = ["NearCache", "NearCacheStats", "Entries", "Maintainer", "OwnTouches"]

log = logging.getLogger("sessiond.near_cache")

T = TypeVar("T")

#: A hit's TOUCH goes out at most this often per session (seconds).
TOUCH_INTERVAL = 1.0
#: TOUCHes sent in one pipelined write by the toucher.
TOUCH_BATCH = 256
#: Events asked for per EVENTS_READ (the server's cap).
READ_MAX = 1000
#: An EVENTS_READ's timeout as a share of the bound (see ``_session``).
READ_WAIT_SHARE = 0.25
#: Waits between registration attempts: from the first, doubling up to the last.
BACKOFF_MIN, BACKOFF_MAX = 0.05, 2.0


@dataclass(frozen=True)
class NearCache:
    """How a client's near cache behaves.

    ``mode``: "strict" (a delete, revoke, kick, rotation or update returns to
    its caller only once this cache has dropped the session, or the server
    has cut it off and it has stopped serving) or "relaxed" (the server
    waits for nothing; the cache drops an entry when its event arrives and
    never serves more than the server's bound after it last heard from
    it). ``max_entries`` and ``max_bytes`` (data, owner and labels) bound
    it; the least recently used entry goes first.
    """

    mode: str = "strict"
    max_entries: int = 10_000
    max_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.mode not in protocol.CACHE_MODES:
            raise ValueError(f"a near cache's mode is one of {protocol.CACHE_MODES}, not {self.mode!r}")
        if self.max_entries < 1 or self.max_bytes < 1:
            raise ValueError("a near cache holds at least one entry and one byte")


@dataclass(frozen=True)
class NearCacheStats:
    """The counters of a near cache (``Client.near_cache_stats()``).

    ``hits``: lookups answered from memory; ``misses``: lookups that went to
    the server; ``invalidations``: entries dropped because an event said so;
    ``evictions``: entries dropped to stay within the bounds; ``resets``:
    times everything was dropped (the invalidation connection ended, or the
    log had dropped events the cache had not read); ``touches``: TOUCHes
    the toucher sent for hits; ``entries`` and ``bytes`` now;
    ``registered``: whether the invalidation connection is registered now.
    """

    hits: int
    misses: int
    invalidations: int
    evictions: int
    resets: int
    touches: int
    entries: int
    bytes: int
    registered: bool


def text_id(session_id: IdLike) -> str:
    """An id in its one text form (the near cache's key), checked."""
    raw = protocol.id_bytes(session_id)
    return session_id if isinstance(session_id, str) else protocol.id_to_text(raw)


def entry_size(session: Session) -> int:
    """What an entry counts against ``max_bytes``: data, owner and labels."""
    labels = sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in session.info.labels.items())
    return len(session.data) + len(session.owner) + labels


class _Entry:
    __slots__ = ("session", "size", "expires_at")

    def __init__(self, session: Session, size: int) -> None:
        self.session = session
        self.size = size
        #: Unix seconds, as last heard from the server (the GET, or a TOUCH since).
        self.expires_at = session.info.expires_at


class Entries:
    """The entries, epoch, lease and counters of one near cache, under one lock.

    ``clock`` (monotonic seconds) times the lease; ``wall`` (Unix seconds)
    is compared with the sessions' ``expires_at``.
    """

    def __init__(
        self,
        config: NearCache,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._registered_cond = threading.Condition(self._lock)
        self._entries: "OrderedDict[str, _Entry]" = OrderedDict()
        self._by_owner: Dict[bytes, Set[str]] = {}
        self._bytes = 0
        #: Moves whenever an entry may have become wrong (an event that
        #: changes a session, a local write, a reset, a registration): an
        #: answer fetched across a move is not kept.
        self._epoch = 0
        #: Monotonic time until which entries may be served (0: none).
        self._lease = 0.0
        self._bound = 0.0
        self._registered = False
        self._marked: Set[str] = set()
        self._hits = self._misses = self._invalidations = 0
        self._evictions = self._resets = self._touches = 0

    # -- the request path -------------------------------------------------------

    def lookup(self, session_id: str, touch: bool) -> Tuple[Optional[Session], int]:
        """``(session, epoch)``: the session if it may be served now, else
        None and the epoch to hand to :meth:`insert` with the server's answer.

        A hit needs the lease (``now < lease``) and a session that has not
        passed its ``expires_at``; a touching hit marks the session for the
        toucher (the server's idle deadline slides only by the TOUCH it sends).
        """
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is not None and self._wall() >= entry.expires_at:
                self._drop(session_id)  # ended by now, whatever the server says later
                entry = None
            if entry is None or self._clock() >= self._lease:
                self._misses += 1
                return None, self._epoch
            self._entries.move_to_end(session_id)
            self._hits += 1
            if touch:
                self._marked.add(session_id)
            session, epoch = entry.session, self._epoch
        info = session.info
        if info.labels:
            # The labels are the one mutable part: the caller gets its own
            # (built directly: dataclasses.replace costs twice as much).
            labels = dict(info.labels)
            info = SessionInfo(
                info.id, info.created, info.last_seen, info.idle_secs, info.absolute_deadline,
                info.expires_at, info.version, labels,
            )
            session = Session(session.owner, session.data, info)
        return session, epoch

    def insert(self, session: Session, epoch: int) -> bool:
        """Keep a GET's answer, unless the epoch moved since the lookup that
        gave ``epoch`` (an invalidation that overtook the answer must not be
        undone by it) or no registered connection stands behind it."""
        size = entry_size(session)
        with self._lock:
            if not self._registered or epoch != self._epoch:
                return False
            if size > self.config.max_bytes or self._wall() >= session.info.expires_at:
                return False
            sid = session.info.id
            held = self._entries.get(sid)
            if held is not None:
                if held.session.info.version > session.info.version:
                    return False  # another thread's newer answer is in already
                self._drop(sid)
            self._entries[sid] = _Entry(session, size)
            self._by_owner.setdefault(session.owner, set()).add(sid)
            self._bytes += size
            while len(self._entries) > self.config.max_entries or self._bytes > self.config.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)
                self._evictions += 1
            return True

    def forget(self, session_id: str) -> None:
        """A write through this client: its entry goes, and the epoch moves
        (an answer fetched meanwhile may be from before the write)."""
        with self._lock:
            self._epoch += 1
            self._drop(session_id)

    def forget_owner(self, owner: bytes, keep: Optional[str] = None) -> None:
        """DELETE_OWNER through this client: the owner's entries go (``keep`` stays)."""
        with self._lock:
            self._epoch += 1
            for sid in list(self._by_owner.get(owner, ())):
                if sid != keep:
                    self._drop(sid)

    # -- the invalidator ----------------------------------------------------

    def registered(self, sent: float, grant: CacheGrant) -> None:
        """CACHE_REGISTER answered: serve under ``sent + bound`` from now on.
        The epoch moves: an answer fetched while no connection was
        registered may predate events this one will never read."""
        with self._lock:
            self._bound = grant.bound_ms / 1000.0
            self._registered = True
            self._epoch += 1
            self._lease = sent + self._bound
            self._registered_cond.notify_all()

    def apply(self, sent: float, batch: Sequence[Event]) -> None:
        """An EVENTS_READ answered: drop what its events touch, then renew
        the lease from when that read was sent. A creation changes no entry
        (no GET answer is cached for a session that did not exist), so it
        does not move the epoch; every other event does."""
        with self._lock:
            for event in batch:
                if event.kind == "created":
                    continue
                self._epoch += 1
                for sid in (event.id, event.new_id):
                    if sid is not None and sid in self._entries:
                        self._drop(sid)
                        self._invalidations += 1
            self._lease = sent + self._bound

    def gap(self, sent: float) -> None:
        """EVENTS_GAP: the log dropped events this cache never read, so
        every entry may be wrong: drop them all. The answer still came on
        the registered connection, so the lease is renewed."""
        with self._lock:
            self._clear()
            self._resets += 1
            self._lease = sent + self._bound

    def lost(self, count: bool = True) -> None:
        """The invalidation connection ended or failed: drop everything and
        serve nothing until a new registration. ``count``: a reset for the
        counters (not when the client is closing)."""
        with self._lock:
            if self._registered and count:
                self._resets += 1
            self._clear()
            self._registered = False
            self._lease = 0.0

    def wait_registered(self, timeout: float) -> bool:
        """Whether a connection is registered, waiting up to ``timeout`` s."""
        with self._registered_cond:
            return self._registered_cond.wait_for(lambda: self._registered, timeout)

    # -- the toucher ----------------------------------------------------------

    def take_marked(self) -> List[str]:
        """The sessions hit with touch since the last call (each once)."""
        with self._lock:
            # Evicted or dropped since, the session was still in use when hit.
            marked = list(self._marked)
            self._marked.clear()
            return marked

    def touched(self, session_id: str, expires_at: int) -> None:
        """A TOUCH answered: the entry's session lives until ``expires_at``."""
        with self._lock:
            self._touches += 1
            entry = self._entries.get(session_id)
            if entry is not None and expires_at > entry.expires_at:
                entry.expires_at = expires_at
                info = dataclasses.replace(entry.session.info, expires_at=expires_at)
                entry.session = dataclasses.replace(entry.session, info=info)

    def touch_missed(self, session_id: str) -> None:
        """A TOUCH answered NOT_FOUND: the session is gone."""
        with self._lock:
            self._touches += 1
            self._epoch += 1
            self._drop(session_id)

    def after_fork(self) -> None:
        """In a child process: a lock another thread of the parent held is
        held for ever here, and nothing the parent kept may be served (no
        thread of this process follows the log yet)."""
        self._lock = threading.Lock()
        self._registered_cond = threading.Condition(self._lock)
        self._clear()
        self._marked.clear()  # the parent's hits: the parent touches them
        self._registered = False
        self._lease = 0.0

    # -- the rest ---------------------------------------------------------

    @property
    def epoch(self) -> int:
        with self._lock:
            return self._epoch

    def stats(self) -> NearCacheStats:
        with self._lock:
            return NearCacheStats(
                hits=self._hits,
                misses=self._misses,
                invalidations=self._invalidations,
                evictions=self._evictions,
                resets=self._resets,
                touches=self._touches,
                entries=len(self._entries),
                bytes=self._bytes,
                registered=self._registered,
            )

    def _drop(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is None:
            return
        self._bytes -= entry.size
        owned = self._by_owner.get(entry.session.owner)
        if owned is not None:
            owned.discard(session_id)
            if not owned:
                del self._by_owner[entry.session.owner]

    def _clear(self) -> None:
        self._entries.clear()
        self._by_owner.clear()
        self._bytes = 0
        self._epoch += 1


#: The writes whose sessions a cached client drops from memory itself.
_ONE_SESSION_WRITES = frozenset({protocol.OP_UPDATE, protocol.OP_DELETE, protocol.OP_DELETE_NOTED, protocol.OP_ROTATE})
_OWNER_WRITES = frozenset({protocol.OP_DELETE_OWNER, protocol.OP_DELETE_OWNER_NOTED})


def forget_writes(entries: Entries, calls: Sequence[Call[object]]) -> None:
    """A pipeline's writes, as a client's single writes drop theirs (before
    and after). Its gets are not served from memory (a batch goes to the
    server whole)."""
    for call in calls:
        op = call.frame[4]
        if op in _ONE_SESSION_WRITES:
            entries.forget(protocol.id_to_text(call.frame[5:21]))  # the id comes first
        elif op in _OWNER_WRITES:
            _, fields = protocol.decode_request(call.frame[4:])
            entries.forget_owner(fields["owner"], fields["keep"])


class CacheConnection(Protocol):
    """What the invalidator needs of a connection (:class:`sessiond.connection.Connection`)."""

    def call(self, call: Call[T]) -> T: ...

    def close(self) -> None: ...


#: Answers of a pipelined batch of TOUCHes: the new expires-at, or the error.
TouchResults = Sequence[object]


class Maintainer:
    """The near cache's two daemon threads over an :class:`Entries`.

    ``connect`` opens the invalidation connection (the client's options for
    the node in use); ``touch_many`` sends TOUCHes for a list of ids through
    the request pool and returns their answers in order.
    """

    def __init__(
        self,
        config: NearCache,
        connect: Callable[[], CacheConnection],
        touch_many: Callable[[List[str]], TouchResults],
        entries: Optional[Entries] = None,
        clock: Callable[[], float] = time.monotonic,
        touch_interval: float = TOUCH_INTERVAL,
    ) -> None:
        self.config = config
        self.entries = entries or Entries(config, clock)
        self._connect = connect
        self._touch_many = touch_many
        self._clock = clock
        self._touch_interval = touch_interval
        self._stop = threading.Event()
        self._conn_lock = threading.Lock()
        self._conn: Optional[CacheConnection] = None
        self._was_registered = False
        self._last_failure: Optional[str] = None
        self._started = False
        self._threads = self._new_threads()
        _maintainers.add(self)

    def _new_threads(self) -> List[threading.Thread]:
        return [
            threading.Thread(target=self._invalidate, name="sessiond-near-cache", daemon=True),
            threading.Thread(target=self._touch, name="sessiond-near-cache-touch", daemon=True),
        ]

    def start(self) -> None:
        self._started = True
        for t in self._threads:
            t.start()

    def after_fork(self) -> None:
        """In a child process: its threads did not come along, so the
        cache starts over (empty, unregistered) with threads of its own.
        The parent's invalidation connection is left to the parent."""
        self.entries.after_fork()
        self._conn_lock = threading.Lock()
        self._conn = None
        if not self._started or self._stop.is_set():
            return
        self._stop = threading.Event()
        self._threads = self._new_threads()
        self.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop both threads: the invalidation connection is shut down so
        that a waiting read ends now, not at its timeout."""
        self._stop.set()
        with self._conn_lock:
            conn = self._conn
        if conn is not None:
            _interrupt(conn)
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join(timeout)
        self.entries.lost(count=False)

    # -- the invalidator (steps 1, 2, 5) ---------------------------------------

    def _invalidate(self) -> None:
        backoff = BACKOFF_MIN
        while not self._stop.is_set():
            self._was_registered = False
            try:
                self._session()
            except errors.SessiondError as exc:
                if not self._stop.is_set():
                    # Once per kind of failure, not once per attempt (a
                    # replication group refuses every registration).
                    level = logging.DEBUG if str(exc) == self._last_failure else logging.WARNING
                    log.log(level, "near cache: invalidation connection failed: %s", exc)
                    self._last_failure = str(exc)
            except Exception:  # never let the thread die: the cache would stop serving for good
                log.exception("near cache: invalidator failed")
            finally:
                self.entries.lost(count=not self._stop.is_set())
                with self._conn_lock:
                    conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()
            if self._was_registered:
                backoff = BACKOFF_MIN  # it worked until now: try again soon
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _session(self) -> None:
        """One registered connection, from CACHE_REGISTER to its end."""
        conn = self._connect()
        with self._conn_lock:
            self._conn = conn
        if self._stop.is_set():
            return
        sent = self._clock()
        grant = conn.call(protocol.cache_register(self.config.mode))
        self.entries.registered(sent, grant)
        self._was_registered = True
        self._last_failure = None
        after = grant.head
        # At most bound / 2 (SPEC.md §8), and less: when two reads in a row
        # both wait out their timeout, the second is answered ``2 * wait``
        # plus two round trips after the first was sent, and the first's
        # lease lasts ``bound`` from then. At bound / 2 the lease would
        # lapse for those round trips every cycle; at bound / 4 half the
        # bound is left over.
        wait = grant.bound_ms / 1000.0 * READ_WAIT_SHARE
        while not self._stop.is_set():
            # The next read acknowledges every event applied so far: the
            # entries they touch are gone before it is written.
            sent = self._clock()
            try:
                batch = conn.call(events.events_read(after, READ_MAX, wait))
            except errors.EventsGap as gap:
                self.entries.gap(sent)
                after = gap.oldest_kept - 1
                continue
            self.entries.apply(sent, batch)
            if batch:
                after = batch[-1].seq

    # -- the toucher (step 6) ---------------------------------------------------

    def _touch(self) -> None:
        while not self._stop.wait(self._touch_interval):
            try:
                self.flush()
            except Exception:
                log.exception("near cache: toucher failed")

    def flush(self) -> None:
        """Send one TOUCH per session hit since the last flush."""
        marked = self.entries.take_marked()
        for start in range(0, len(marked), TOUCH_BATCH):
            chunk = marked[start : start + TOUCH_BATCH]
            try:
                answers = self._touch_many(chunk)
            except errors.SessiondError as exc:
                # The hits will mark them again; the server's idle deadline
                # has at least the time since the last touch left.
                log.warning("near cache: touching %d sessions failed: %s", len(chunk), exc)
                return
            for sid, answer in zip(chunk, answers):
                if isinstance(answer, int):
                    self.entries.touched(sid, answer)
                elif isinstance(answer, errors.NotFound):
                    self.entries.touch_missed(sid)


class TouchConnection(Protocol):
    """What :class:`OwnTouches` needs of a connection (:class:`sessiond.connection.Connection`)."""

    broken: bool

    def call_many(self, calls: Sequence[Call[object]], raise_first: bool = True) -> List[object]: ...

    def is_stale(self) -> bool: ...

    def close(self) -> None: ...


class OwnTouches:
    """A :class:`Maintainer`'s ``touch_many`` over a blocking connection of
    its own, opened at the first flush and again after one broke or the
    server closed it while idle (its idle timeout).

    Used by the toucher thread alone, so it takes no lock (a lock another
    thread held at ``os.fork`` would be held for ever in the child); a
    forked child opens its own rather than write to the parent's socket.
    """

    def __init__(self, connect: Callable[[], TouchConnection]) -> None:
        self._connect = connect
        self._conn: Optional[TouchConnection] = None
        self._pid = os.getpid()

    def __call__(self, ids: List[str]) -> TouchResults:
        conn = self._conn
        if conn is not None and self._pid != os.getpid():
            conn = self._conn = None  # the parent's: left to the parent
        if conn is not None and conn.is_stale():
            conn.close()
            conn = self._conn = None
        if conn is None:
            conn = self._conn = self._connect()
            self._pid = os.getpid()
        try:
            return conn.call_many([protocol.touch(i) for i in ids], raise_first=False)
        finally:
            if conn.broken:
                conn.close()
                self._conn = None

    def close(self) -> None:
        """Close the connection (after the toucher has stopped)."""
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            conn.close()


#: Every maintainer of this process, restarted in a forked child.
_maintainers: "weakref.WeakSet[Maintainer]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for maintainer in list(_maintainers):
        maintainer.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _interrupt(conn: CacheConnection) -> None:
    """Wake a thread blocked reading ``conn``: shutting a socket down does,
    closing it from another thread may not."""
    sock: Optional[socket.socket] = getattr(conn, "sock", None)
    if sock is None:
        conn.close()
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass

