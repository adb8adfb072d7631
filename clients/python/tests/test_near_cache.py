"""The near cache (docs/events.md, "Near cache"; ``sessiond.near_cache``).

First without a server: the LRU and its bounds, the epoch and lease rules
of :class:`Entries`, and the invalidator's loop over a scripted connection
(registration, events, a gap, a lost connection). Then live, against a
daemon with CACHE_REGISTER: hits with no round trip, invalidation by
another client's delete, update, rotation and kick, relaxed mode, the
bounds, coalesced touches that keep a session alive, a process stopped with
SIGSTOP that never serves a revoked session, four strict caches that never
serve a deleted one, a restarted server, and the Django engine.
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import sessiond
from sessiond import NearCache, errors, events, protocol
from sessiond.near_cache import TOUCH_INTERVAL, Entries, Maintainer
from sessiond.protocol import Call
from sessiond.types import CacheGrant, Event, Session, SessionInfo

from conftest import Daemon

CHILD = Path(__file__).with_name("near_cache_child.py")


# --- without a server ---------------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sid(n: int) -> str:
    return protocol.id_to_text(n.to_bytes(16, "big"))


def session(n: int, data: bytes = b"d", owner: bytes = b"o", expires_at: Optional[int] = None) -> Session:
    expires = int(time.time()) + 3600 if expires_at is None else expires_at
    return Session(owner, data, SessionInfo(sid(n), 1, 1, 1800, None, expires, 1, {"ua": "x"}))


def ended(seq: int, n: int) -> Event:
    return Event(seq, 0, "ended", sid(n), b"o", {}, "deleted")


def registered(config: NearCache, clock: Optional[Clock] = None, bound_ms: int = 1000) -> Tuple[Entries, Clock]:
    clock = clock or Clock()
    entries = Entries(config, clock)
    entries.registered(clock.now, CacheGrant(0, bound_ms))
    return entries, clock


def cached(entries: Entries, s: Session) -> bool:
    """Look up, then keep the answer as a miss does."""
    hit, epoch = entries.lookup(s.id, True)
    return hit is not None or entries.insert(s, epoch)


def test_the_least_recently_used_entry_goes_first_by_count() -> None:
    entries, _ = registered(NearCache(max_entries=2))
    for n in (1, 2):
        assert cached(entries, session(n))
    assert entries.lookup(sid(1), True)[0] is not None  # 1 is now the most recent
    assert cached(entries, session(3))
    assert entries.lookup(sid(2), True)[0] is None
    assert entries.lookup(sid(1), True)[0] is not None and entries.lookup(sid(3), True)[0] is not None
    stats = entries.stats()
    assert (stats.entries, stats.evictions) == (2, 1)


def test_bytes_count_data_owner_and_labels() -> None:
    # Each entry: 100 data + 5 owner + 2 + 1 of labels = 108 bytes.
    entries, _ = registered(NearCache(max_bytes=300))
    for n in range(1, 5):
        assert cached(entries, session(n, b"x" * 100, b"owner"))
    stats = entries.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (2, 216, 2)
    # One bigger than the whole cache is not kept (and evicts nothing).
    hit, epoch = entries.lookup(sid(9), True)
    assert hit is None and not entries.insert(session(9, b"x" * 400), epoch)
    assert entries.stats().entries == 2


def test_an_answer_fetched_across_an_invalidation_is_not_kept() -> None:
    entries, clock = registered(NearCache())
    _, epoch = entries.lookup(sid(1), True)
    entries.apply(clock.now, [ended(1, 1)])  # overtook the GET's answer
    assert not entries.insert(session(1), epoch)
    # A creation changes no entry: it does not move the epoch.
    _, epoch = entries.lookup(sid(1), True)
    entries.apply(clock.now, [Event(2, 0, "created", sid(5), b"o")])
    assert entries.insert(session(1), epoch)
    # A write through this client moves it too.
    entries.forget(sid(1))
    _, epoch = entries.lookup(sid(1), True)
    entries.forget(sid(7))
    assert not entries.insert(session(1), epoch)


def test_events_drop_their_ids_and_a_rotations_new_one() -> None:
    entries, clock = registered(NearCache())
    for n in (1, 2, 3):
        assert cached(entries, session(n))
    rotated = Event(1, 0, "rotated", sid(1), b"o", {}, None, sid(2))
    entries.apply(clock.now, [rotated, Event(2, 0, "updated", sid(3), b"o")])
    assert all(entries.lookup(sid(n), True)[0] is None for n in (1, 2, 3))
    assert entries.stats().invalidations == 3


def test_an_owners_entries_go_with_delete_owner_but_the_kept_one() -> None:
    entries, _ = registered(NearCache())
    for n in (1, 2, 3):
        assert cached(entries, session(n, owner=b"alice"))
    assert cached(entries, session(4, owner=b"bob"))
    entries.forget_owner(b"alice", keep=sid(3))
    assert [entries.lookup(sid(n), False)[0] is not None for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_nothing_is_served_past_the_lease_or_its_sessions_expiry() -> None:
    entries, clock = registered(NearCache(), bound_ms=1000)
    assert cached(entries, session(1))
    clock.now += 0.999
    assert entries.lookup(sid(1), True)[0] is not None
    clock.now += 0.001  # now == sent + bound: the lease has run out
    assert entries.lookup(sid(1), True)[0] is None
    entries.apply(clock.now, [])  # a read answered: renewed from when it was sent
    assert entries.lookup(sid(1), True)[0] is not None
    # An entry whose session has passed its expires_at is never served.
    past = int(time.time())
    hit, epoch = entries.lookup(sid(2), True)
    assert not entries.insert(session(2, expires_at=past), epoch)
    assert cached(entries, session(3, expires_at=past + 3600))
    entries.touched(sid(3), past + 7200)
    assert entries.lookup(sid(3), False)[0].info.expires_at == past + 7200  # type: ignore[union-attr]


def test_without_a_registered_connection_nothing_is_kept_or_served() -> None:
    clock = Clock()
    entries = Entries(NearCache(), clock)
    hit, epoch = entries.lookup(sid(1), True)
    assert hit is None and not entries.insert(session(1), epoch)
    entries.registered(clock.now, CacheGrant(0, 1000))
    # An answer fetched before the registration may predate events the
    # new connection will never read.
    assert not entries.insert(session(1), epoch)
    assert cached(entries, session(1))
    entries.lost()
    stats = entries.stats()
    assert (stats.entries, stats.resets, stats.registered) == (0, 1, False)
    assert entries.lookup(sid(1), True)[0] is None


class FakeServer:
    """Answers the invalidator's requests from a script, through the codec:
    the test sees each request the thread sends and says what comes back
    (on the connection opened last)."""

    def __init__(self) -> None:
        self.requests: "queue.Queue[Tuple[str, Dict[str, Any]]]" = queue.Queue()
        self.connections: List[FakeConnection] = []

    @property
    def connects(self) -> int:
        return len(self.connections)

    def connect(self) -> FakeConnection:
        self.connections.append(FakeConnection(self))
        return self.connections[-1]

    def expect(self, name: str) -> Dict[str, Any]:
        got, fields = self.requests.get(timeout=5)
        assert got == name
        return fields

    def _answer(self, answer: object) -> None:
        self.connections[-1].answers.put(answer)

    def grant(self, head: int, bound_ms: int = 1000) -> None:
        self._answer(protocol.encode_ok(protocol.TAG_CACHE, lambda w: w.u64(head).u32(bound_ms))[4:])

    def events(self, batch: List[Event]) -> None:
        def build(w: protocol.Writer) -> None:
            w.u32(len(batch))
            for e in batch:
                events.write_event(w, e)

        self._answer(protocol.encode_ok(protocol.TAG_EVENTS, build)[4:])

    def fail(self, exc: BaseException) -> None:
        self._answer(exc)


class FakeConnection:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.answers: "queue.Queue[object]" = queue.Queue()

    def call(self, call: Call[Any]) -> Any:
        self.server.requests.put(protocol.decode_request(call.frame[4:]))
        answer = self.answers.get(timeout=10)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, bytes)
        return call.parse(answer)

    def close(self) -> None:
        self.answers.put(errors.ConnectionError("closed"))  # wakes a waiting call


@pytest.fixture
def fake() -> Iterator[Tuple[FakeServer, Maintainer, Clock]]:
    server, clock = FakeServer(), Clock()
    m = Maintainer(NearCache("relaxed"), server.connect, lambda ids: [], clock=clock)
    m.start()
    yield server, m, clock
    m.close()


def test_the_invalidator_registers_reads_after_head_and_acknowledges(fake: Tuple[FakeServer, Maintainer, Clock]) -> None:
    server, m, clock = fake
    assert server.expect("cache_register") == {"mode": 2}
    server.grant(head=41, bound_ms=300)
    first = server.expect("events_read")
    assert (first["after"], first["max"], first["timeout_ms"]) == (41, 1000, 75)  # bound / 4
    assert m.entries.wait_registered(5)
    assert cached(m.entries, session(1)) and cached(m.entries, session(2))
    server.events([ended(42, 1), Event(43, 0, "created", sid(9), b"o")])
    # The next read acknowledges 43: by then entry 1 is gone.
    assert server.expect("events_read")["after"] == 43
    assert m.entries.lookup(sid(1), True)[0] is None
    assert m.entries.lookup(sid(2), True)[0] is not None


def test_a_gap_drops_everything_and_resumes_at_the_oldest_kept(fake: Tuple[FakeServer, Maintainer, Clock]) -> None:
    server, m, clock = fake
    server.expect("cache_register")
    server.grant(head=5)
    server.expect("events_read")
    assert m.entries.wait_registered(5)
    assert cached(m.entries, session(1))
    server.fail(errors.EventsGap("gap", {"after": 5, "oldest_kept": 20}))
    assert server.expect("events_read")["after"] == 19
    stats = m.entries.stats()
    assert (stats.entries, stats.resets, stats.registered) == (0, 1, True)


def test_a_lost_connection_drops_everything_and_registers_again(fake: Tuple[FakeServer, Maintainer, Clock]) -> None:
    server, m, clock = fake
    server.expect("cache_register")
    server.grant(head=5)
    server.expect("events_read")
    assert m.entries.wait_registered(5)
    assert cached(m.entries, session(1))
    server.fail(errors.ConnectionError("the server closed the connection"))
    assert server.expect("cache_register") == {"mode": 2}  # after a back-off
    stats = m.entries.stats()
    assert (stats.entries, stats.resets, stats.registered) == (0, 1, False)
    assert m.entries.lookup(sid(1), True)[0] is None
    server.grant(head=9)
    assert server.expect("events_read")["after"] == 9
    assert server.connects == 2 and m.entries.stats().registered


def test_the_toucher_refreshes_expiry_and_drops_what_the_server_lost() -> None:
    clock = Clock()
    answers: Dict[str, object] = {}
    sent: List[List[str]] = []

    def touch_many(ids: List[str]) -> List[object]:
        sent.append(ids)
        return [answers[i] for i in ids]

    m = Maintainer(NearCache(), FakeServer().connect, touch_many, clock=clock)  # not started
    m.entries.registered(clock.now, CacheGrant(0, 1000))
    for n in (1, 2, 3):
        assert cached(m.entries, session(n))
    for _ in range(50):
        m.entries.lookup(sid(1), True)
        m.entries.lookup(sid(2), True)
    m.entries.lookup(sid(3), False)  # a peek slides nothing: no touch
    far = int(time.time()) + 9999
    answers.update({sid(1): far, sid(2): errors.NotFound("gone")})
    m.flush()
    assert [sorted(ids) for ids in sent] == [sorted([sid(1), sid(2)])]  # once each, 100 hits
    assert m.entries.lookup(sid(1), False)[0].info.expires_at == far  # type: ignore[union-attr]
    assert m.entries.lookup(sid(2), False)[0] is None
    m.flush()
    assert len(sent) == 1, "nothing hit since: nothing sent"


# --- live ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def nc_daemon() -> Iterator[Daemon]:
    d = Daemon()
    yield d
    d.stop()


def cache_client(url: str, **kw: Any) -> sessiond.Client:
    c = sessiond.Client(url, near_cache=NearCache(**kw))
    assert c.wait_near_cache(10), "the near cache registered"
    return c


def test_a_hit_makes_no_round_trip(nc_daemon: Daemon) -> None:
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        sid_ = plain.create("user:hit", b"hello", labels={"ua": "pytest"})
        assert cached_c.get(sid_).data == b"hello"  # a miss: read and kept
        before = plain.stats()["ops_get"]
        for _ in range(200):
            s = cached_c.get(sid_)
            assert (s.data, s.owner, s.info.labels) == (b"hello", b"user:hit", {"ua": "pytest"})
        assert cached_c.get(sid_, touch=False).data == b"hello"  # a peek is served too
        assert plain.stats()["ops_get"] == before
        stats = cached_c.near_cache_stats()
        assert (stats.hits, stats.misses, stats.entries) == (201, 1, 1)
        assert stats.bytes == len(b"hello") + len(b"user:hit") + len("ua") + len("pytest")
        assert cached_c.get(protocol.id_from_text(sid_)).data == b"hello"  # the binary form: the same entry
        assert cached_c.near_cache_stats().hits == 202
        cached_c.get(sid_).info.labels["ua"] = "changed"  # the caller's own copy
        assert cached_c.get(sid_).info.labels == {"ua": "pytest"}
        with pytest.raises(ValueError):
            cached_c.get("not-a-session-id")


def test_close_stops_the_threads_and_ends_the_registration(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()
    with sessiond.Client(d.url) as plain:
        c = cache_client(d.url, mode="relaxed")
        assert plain.stats()["near_caches_relaxed"] == 1
        start = time.monotonic()
        c.close()
        assert time.monotonic() - start < 1.0, "the waiting read is cut short, not waited out"
        names = {t.name for t in threading.enumerate()}
        assert not names & {"sessiond-near-cache", "sessiond-near-cache-touch"}
        deadline = time.monotonic() + 5
        while plain.stats()["near_caches_relaxed"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert plain.stats()["near_caches_relaxed"] == 0
        assert c.near_cache_stats().resets == 0, "closing is no reset"


def test_another_clients_delete_and_update_invalidate_at_once(nc_daemon: Daemon) -> None:
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        a, b = plain.create("user:inv", b"v1"), plain.create("user:inv", b"v1")
        assert cached_c.get(a).data == b"v1" and cached_c.get(b).data == b"v1"
        assert plain.delete(a)
        with pytest.raises(sessiond.NotFound):
            cached_c.get(a)  # no sleep: strict
        plain.update(b, b"v2")
        assert cached_c.get(b).data == b"v2"
        assert cached_c.near_cache_stats().invalidations == 2


def test_rotation_invalidates_the_old_id(nc_daemon: Daemon) -> None:
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        old = plain.create("user:rot", b"r")
        cached_c.get(old)
        new = plain.rotate(old)
        with pytest.raises(sessiond.NotFound):
            cached_c.get(old)
        assert cached_c.get(new).data == b"r"


def test_a_kick_invalidates_every_session_of_the_owner_but_the_kept_one(nc_daemon: Daemon) -> None:
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        ids = [plain.create("user:kick", b"k") for _ in range(4)]
        for i in ids:
            cached_c.get(i)
        assert plain.delete_owner_with_note("user:kick", keep=ids[0], note="kick") == 3
        for i in ids[1:]:
            with pytest.raises(sessiond.NotFound):
                cached_c.get(i)
        hits = cached_c.near_cache_stats().hits
        assert cached_c.get(ids[0]).data == b"k"
        assert cached_c.near_cache_stats().hits == hits + 1, "the kept one is still served from memory"
        assert plain.delete_owner("user:kick") == 1
        with pytest.raises(sessiond.NotFound):
            cached_c.get(ids[0])


def test_writes_through_the_cached_client_drop_its_entries_first(nc_daemon: Daemon) -> None:
    # Relaxed: the server waits for nothing, so only the client's own drop
    # makes its next read see its write.
    with cache_client(nc_daemon.url, mode="relaxed") as c:
        a = c.create("user:own", b"v1")
        c.get(a)
        c.update(a, b"v2")
        assert c.get(a).data == b"v2"
        others = [c.create("user:own", b"x") for _ in range(2)]
        for i in others:
            c.get(i)
        c.delete_owner("user:own", keep=a)
        for i in others:
            with pytest.raises(sessiond.NotFound):
                c.get(i)
        b = c.create("user:own2", b"b1")
        c.get(b)
        with c.pipeline() as p:
            p.update(b, b"b2")
        assert c.get(b).data == b"b2"
        with c.pipeline() as p:
            p.delete_owner("user:own2")
        with c.pipeline() as p:
            p.delete(a)
        for gone in (a, b):
            with pytest.raises(sessiond.NotFound):
                c.get(gone)


def test_threads_sharing_a_strict_cache_never_read_an_update_older_than_one_returned(nc_daemon: Daemon) -> None:
    # Readers miss, fetch and insert while updates invalidate: an answer
    # fetched across an invalidation must never be kept (the epoch rule).
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        ids = [plain.create("user:threads", b"0") for _ in range(4)]
        committed = {i: 1 for i in ids}  # the version each update returned
        stale: List[Tuple[str, int, int]] = []
        failures: List[BaseException] = []
        stop = time.monotonic() + 3

        def read() -> None:
            try:
                while time.monotonic() < stop:
                    for i in ids:
                        floor = committed[i]
                        got = cached_c.get(i).version
                        if got < floor:
                            stale.append((i, got, floor))
            except BaseException as exc:  # reported below, not lost in the thread
                failures.append(exc)

        readers = [threading.Thread(target=read) for _ in range(4)]
        for t in readers:
            t.start()
        updates = 0
        while time.monotonic() < stop:
            for i in ids:
                committed[i] = plain.update(i, str(updates).encode())
                updates += 1
        for t in readers:
            t.join()
        stats = cached_c.near_cache_stats()
        print(f"\n{updates} updates under 4 reading threads: {stats.hits} hits, {stats.misses} misses, {len(stale)} stale")
        assert not failures and not stale
        assert stats.hits > 0 and stats.invalidations > 0


def test_relaxed_mode_invalidates_within_the_bound(nc_daemon: Daemon) -> None:
    with cache_client(nc_daemon.url, mode="relaxed") as cached_c, sessiond.Client(nc_daemon.url) as plain:
        waits = []
        for _ in range(20):
            s = plain.create("user:relaxed", b"x")
            cached_c.get(s)
            plain.delete(s)
            start = time.monotonic()  # from the delete's answer
            while True:
                try:
                    cached_c.get(s)
                except sessiond.NotFound:
                    break
                assert time.monotonic() - start < 1.0 + 0.5, "served past the bound"
                time.sleep(0.0005)
            waits.append(time.monotonic() - start)
        waits.sort()
        print(f"\nrelaxed: served after the delete returned for p50 {waits[10] * 1000:.2f} ms, max {waits[-1] * 1000:.2f} ms")
        assert cached_c.near_cache_stats().invalidations >= 1


def test_entries_and_bytes_are_bounded(nc_daemon: Daemon) -> None:
    with sessiond.Client(nc_daemon.url) as plain:
        ids = [plain.create("user:b", b"x" * 300) for _ in range(10)]
        with cache_client(nc_daemon.url, max_entries=5) as by_count:
            for i in ids:
                by_count.get(i)
            stats = by_count.near_cache_stats()
            assert (stats.entries, stats.evictions) == (5, 5)
            hits = stats.hits
            for i in ids[5:]:
                by_count.get(i)
            assert by_count.near_cache_stats().hits == hits + 5  # the newest five stayed
        # 300 data + 6 owner = 306 bytes an entry: three fit in 1 000.
        with cache_client(nc_daemon.url, max_bytes=1000) as by_bytes:
            for i in ids:
                by_bytes.get(i)
            stats = by_bytes.near_cache_stats()
            assert (stats.entries, stats.bytes, stats.evictions) == (3, 918, 7)


def test_hits_are_touched_coalesced_and_keep_the_session_alive(nc_daemon: Daemon) -> None:
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        # Idle 3 s: the cache stops serving at the second expires_at names
        # (the server keeps it alive through that second), so a session
        # touched once a second has at least one second to spare.
        s = plain.create("user:touch", b"t", idle_timeout=3)
        cached_c.get(s)
        before = plain.stats()
        end = time.monotonic() + 7
        hits = 0
        while time.monotonic() < end:
            cached_c.get(s)
            hits += 1
            time.sleep(0.005)
        # The last hits' TOUCH (its flush may be a second away), then no more.
        time.sleep(2 * TOUCH_INTERVAL + 0.5)
        after = plain.stats()
        touches = after["ops_touch"] - before["ops_touch"]
        print(f"\n{hits} hits in 7 s sent {touches} TOUCHes")
        assert after["ops_get"] == before["ops_get"], "every get was a hit"
        assert 6 <= touches <= 10, "one TOUCH a second"
        assert cached_c.near_cache_stats().touches == touches
        # Alive well past its 3 s idle timeout, kept so by the hits' touches alone.
        assert plain.get(s, touch=False).data == b"t"


def test_a_restarted_server_resets_the_cache_which_registers_again(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()
    with cache_client(d.url) as cached_c:
        s = cached_c.create("user:restart", b"r")
        cached_c.get(s)
        d.kill()
        d.start()  # in memory: the session is gone with the old process
        deadline = time.monotonic() + 10
        while cached_c.near_cache_stats().resets == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = cached_c.near_cache_stats()
        assert (stats.resets, stats.entries) == (1, 0)
        assert cached_c.wait_near_cache(10)
        with pytest.raises(sessiond.NotFound):
            cached_c.get(s)
        t = cached_c.create("user:restart", b"again")
        cached_c.get(t)
        assert cached_c.get(t).data == b"again" and cached_c.near_cache_stats().hits == 1


def test_a_forked_child_starts_its_cache_over(nc_daemon: Daemon) -> None:
    # A client made before a fork (a preloading app server): the child must
    # not serve what the parent kept, since no thread of its own followed
    # the log, and must get a cache that works.
    with cache_client(nc_daemon.url) as cached_c, sessiond.Client(nc_daemon.url) as plain:
        s = plain.create("user:fork", b"f")
        cached_c.get(s)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, never return into pytest
            report: object
            try:
                near = cached_c._near
                assert near is not None
                # Straight at the entries: the parent's pooled sockets are
                # the parent's (its new invalidator may register at once).
                served = near.entries.lookup(s, False)[0] is not None
                entries = cached_c.near_cache_stats().entries
                ready = cached_c.wait_near_cache(10)
                with sessiond.Client(nc_daemon.url) as own:
                    own.delete(s)
                report = {"served": served, "entries": entries, "ready": ready}
            except BaseException as exc:
                report = repr(exc)
            finally:
                os.write(write_end, (json.dumps(report) + "\n").encode())
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            report = json.loads(pipe.readline() or "null")
        os.waitpid(pid, 0)
        assert report == {"served": False, "entries": 0, "ready": True}
        # The parent's cache heard of the child's delete like any other.
        with pytest.raises(sessiond.NotFound):
            cached_c.get(s)
        assert cached_c.near_cache_stats().registered


class Child:
    """A process holding a near cache (near_cache_child.py), one command a line."""

    def __init__(self, url: str, mode: str = "strict") -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), url, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._buf = b""
        assert self.recv(20) == "ready"

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 10.0) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([fd], [], [], max(0.0, left))
            if not readable:
                raise AssertionError(f"the child did not answer within {timeout} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the child exited ({self.proc.poll()})")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def ask(self, line: str, timeout: float = 10.0) -> str:
        self.send(line)
        return self.recv(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def children() -> Iterator[List[Child]]:
    made: List[Child] = []
    yield made
    for c in made:
        os.kill(c.proc.pid, signal.SIGCONT)  # in case a test stopped it
        c.close()


def test_a_stopped_process_never_serves_a_revoked_session(make_daemon: "type[Daemon]", children: List[Child]) -> None:
    bound = 0.3
    d = make_daemon(args=["--near-cache-bound", "300"])
    child = Child(d.url)
    children.append(child)
    with sessiond.Client(d.url) as plain:
        s = plain.create("user:stopped", b"secret")
        assert child.ask(f"get2 {s}") == "cached"
        os.kill(child.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(0.05)
            start = time.monotonic()
            assert plain.delete_with_note(s, "revoke")
            took = time.monotonic() - start
            print(f"\nrevoke with a stopped strict cache took {took * 1000:.0f} ms (bound 300 ms)")
            assert took < bound + 1.0
            assert plain.stats()["near_cache_closed"] == 1, "the server cut the stopped cache off"
        finally:
            os.kill(child.proc.pid, signal.SIGCONT)
        # Its very next get, before its invalidator has even seen the close.
        assert child.ask(f"get {s}") == "notfound"
        stats = json.loads(child.ask("stats"))
        assert stats["entries"] == 0


def percentile(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def test_four_strict_caches_never_serve_a_deleted_session(nc_daemon: Daemon, children: List[Child]) -> None:
    rounds = 1000
    for _ in range(4):
        children.append(Child(nc_daemon.url))
    violations = uncached = 0
    latencies: List[float] = []
    start = time.monotonic()
    with sessiond.Client(nc_daemon.url) as parent:
        for r in range(rounds):
            s = parent.create("user:four", b"x")
            for c in children:
                c.send(f"get2 {s}")
            answers = [c.recv() for c in children]
            assert all(a in ("cached", "uncached") for a in answers), answers
            uncached += answers.count("uncached")
            deleted = children[r % 4].ask(f"delete {s}").split()
            assert deleted[0] == "deleted", deleted
            latencies.append(float(deleted[1]))
            for c in children:
                c.send(f"get {s}")
            after = [c.recv() for c in children]
            assert all(a == "notfound" or a.startswith("found") for a in after), after
            violations += sum(a != "notfound" for a in after)
    elapsed = time.monotonic() - start
    print(
        f"\n4 strict caches, {rounds} rounds in {elapsed:.1f} s: {violations} violations, "
        f"{uncached} of {4 * rounds} gets not served from memory; delete (revoke) latency "
        f"p50 {percentile(latencies, 0.5) * 1000:.2f} ms, p99 {percentile(latencies, 0.99) * 1000:.2f} ms, "
        f"max {max(latencies) * 1000:.2f} ms"
    )
    assert violations == 0
    assert uncached <= 4 * rounds // 100, "nearly every get was a hit"


# --- Django -------------------------------------------------------------------


@pytest.fixture
def dj_cached(nc_daemon: Daemon) -> Iterator[Any]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            SECRET_KEY="near-cache-test",
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            SESSION_ENGINE="sessiond.contrib.django",
            USE_TZ=True,
        )
        django.setup()
    from django.test import override_settings

    from sessiond.contrib import django as engine

    with override_settings(SESSIOND_URL=nc_daemon.url, SESSIOND_NEAR_CACHE={"mode": "strict", "max_entries": 100}):
        engine.reset_client()
        try:
            yield engine
        finally:
            engine.reset_client()


def test_the_django_engine_with_the_near_cache(dj_cached: Any, nc_daemon: Daemon) -> None:
    engine = dj_cached
    client = engine.get_client()
    assert client.wait_near_cache(10)
    s = engine.SessionStore()
    s["cart"] = ["apple"]
    s.save()
    key = s.session_key
    assert engine.SessionStore(key)["cart"] == ["apple"]  # a miss, kept
    hits = client.near_cache_stats().hits
    assert engine.SessionStore(key)["cart"] == ["apple"]
    assert client.near_cache_stats().hits == hits + 1, "the second load came from memory"

    loaded = engine.SessionStore(key)
    loaded["cart"] = ["apple", "pear"]
    loaded.save()
    assert engine.SessionStore(key)["cart"] == ["apple", "pear"]

    # Another app server (its own client) revokes it: gone at once here.
    with sessiond.Client(nc_daemon.url) as other:
        engine.SessionStore(key).load()
        assert other.delete(key)
    assert engine.SessionStore(key).load() == {}

    # Another engine instance deletes: gone for every instance.
    t = engine.SessionStore()
    t["a"] = 1
    t.save()
    assert engine.SessionStore(t.session_key)["a"] == 1
    engine.SessionStore(t.session_key).delete()
    assert engine.SessionStore(t.session_key).load() == {}
    assert not t.exists(t.session_key)
    assert engine.near_cache_setting(None) is None
    assert engine.near_cache_setting("relaxed") == NearCache("relaxed")
    with pytest.raises(ValueError):
        engine.near_cache_setting("sometimes")
