"""The asyncio client's near cache (``AsyncClient(near_cache=...)``).

The same :class:`sessiond.near_cache.Entries` and threads as the blocking
client's (``test_near_cache.py`` tests those alone), so these are live and
about what the asyncio client adds: a hit that awaits nothing and reaches
no server, strict invalidation by another client's writes with no sleep,
its own writes and pipelines dropping their entries, tasks that never keep
an answer fetched across an update, an invalidator that acknowledges while
the event loop is blocked, coalesced touches over the toucher's own
connection, and ``close`` ending the threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Coroutine, Dict, Iterator, List, Tuple, TypeVar

import pytest

import sessiond
from sessiond import NearCache, protocol
from sessiond.near_cache import TOUCH_INTERVAL

from conftest import Daemon

T = TypeVar("T")

THREADS = {"sessiond-near-cache", "sessiond-near-cache-touch"}


@pytest.fixture(scope="module")
def nc_daemon() -> Iterator[Daemon]:
    d = Daemon()
    yield d
    d.stop()


async def cache_client(url: str, **kw: Any) -> sessiond.AsyncClient:
    c = sessiond.AsyncClient(url, near_cache=NearCache(**kw))
    assert await c.wait_near_cache(10), "the near cache registered"
    return c


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


def test_a_hit_awaits_nothing_and_makes_no_server_get(nc_daemon: Daemon) -> None:
    async def main() -> None:
        async with await cache_client(nc_daemon.url) as cached, sessiond.AsyncClient(nc_daemon.url) as plain:
            sid = await plain.create("user:ahit", b"hello", labels={"ua": "pytest"})
            assert (await cached.get(sid)).data == b"hello"  # a miss: read and kept
            before = (await plain.stats())["ops_get"]
            for _ in range(200):
                s = await cached.get(sid)
                assert (s.data, s.owner, s.info.labels) == (b"hello", b"user:ahit", {"ua": "pytest"})
            assert (await cached.get(sid, touch=False)).data == b"hello"  # a peek is served too
            assert (await cached.get(protocol.id_from_text(sid))).data == b"hello"  # the binary form: the same entry
            assert (await plain.stats())["ops_get"] == before
            stats = cached.near_cache_stats()
            assert (stats.hits, stats.misses, stats.entries, stats.registered) == (202, 1, 1, True)
            # Awaits nothing: the coroutine finishes at its first step.
            step = cached.get(sid)
            with pytest.raises(StopIteration) as done:
                step.send(None)
            assert done.value.value.data == b"hello"
            (await cached.get(sid)).info.labels["ua"] = "changed"  # the caller's own copy
            assert (await cached.get(sid)).info.labels == {"ua": "pytest"}
            with pytest.raises(ValueError):
                await cached.get("not-a-session-id")
        with pytest.raises(ValueError):
            sessiond.AsyncClient(nc_daemon.url).near_cache_stats()

    run(main)


def test_another_clients_writes_invalidate_before_they_return(nc_daemon: Daemon) -> None:
    # Strict: no sleep between the other client's write returning and the read.
    async def main() -> None:
        async with await cache_client(nc_daemon.url) as cached, sessiond.AsyncClient(nc_daemon.url) as plain:
            ids = [await plain.create("user:ainv", b"v1") for _ in range(3)]
            deleted, updated, rotated = ids
            for i in ids:
                assert (await cached.get(i)).data == b"v1"
            assert await plain.delete(deleted)
            with pytest.raises(sessiond.NotFound):
                await cached.get(deleted)
            await plain.update(updated, b"v2")
            assert (await cached.get(updated)).data == b"v2"
            new = await plain.rotate(rotated)
            with pytest.raises(sessiond.NotFound):
                await cached.get(rotated)
            assert (await cached.get(new)).data == b"v1"

            kicked = [await plain.create("user:akick", b"k") for _ in range(4)]
            for i in kicked:
                await cached.get(i)
            assert await plain.delete_owner("user:akick", keep=kicked[0]) == 3
            for i in kicked[1:]:
                with pytest.raises(sessiond.NotFound):
                    await cached.get(i)
            hits = cached.near_cache_stats().hits
            assert (await cached.get(kicked[0])).data == b"k"
            assert cached.near_cache_stats().hits == hits + 1, "the kept one is still served from memory"
            assert cached.near_cache_stats().invalidations == 6  # deleted, updated, rotated, 3 kicked

    run(main)


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    # A daemon of the test's own: a strict cache that an earlier test
    # closed is waited for until its last lease has run out (up to the
    # bound, 1 s), which would stand in for the wait this test measures.
    d = Daemon()
    yield d
    d.stop()


def test_the_invalidator_acknowledges_while_the_event_loop_is_blocked(own_daemon: Daemon) -> None:
    nc_daemon = own_daemon
    # A blocking client's strict delete, called on the loop itself: it
    # returns only once the cache acknowledged, which the cache's thread
    # does without the loop. Were it a task, the loop could not run it and
    # the server would cut the cache off after the bound (1 s).
    async def main() -> None:
        async with await cache_client(nc_daemon.url) as cached:
            with sessiond.Client(nc_daemon.url) as blocking:
                s = blocking.create("user:ablock", b"b")
                await cached.get(s)
                start = time.monotonic()
                assert blocking.delete(s)  # blocks the loop until it returns
                took = time.monotonic() - start
            # A wait for the cache would take the bound, 1 s.
            assert took < 0.9, f"the delete waited {took:.3f} s for the cache"
            with pytest.raises(sessiond.NotFound):
                await cached.get(s)
            stats = cached.near_cache_stats()
            assert stats.registered and stats.resets == 0, "not cut off"

    run(main)


def test_writes_through_the_cached_client_drop_its_entries(nc_daemon: Daemon) -> None:
    # Relaxed: the server waits for nothing, so only the client's own drop
    # makes its next read see its write.
    async def main() -> None:
        async with await cache_client(nc_daemon.url, mode="relaxed") as c:
            a = await c.create("user:aown", b"v1")
            await c.get(a)
            await c.update(a, b"v2")
            assert (await c.get(a)).data == b"v2"
            others = [await c.create("user:aown", b"x") for _ in range(3)]
            for i in others:
                await c.get(i)
            assert await c.delete_owner("user:aown", keep=a) == 3
            for i in others:
                with pytest.raises(sessiond.NotFound):
                    await c.get(i)
            rotated = await c.create("user:aown", b"r")
            await c.get(rotated)
            new = await c.rotate(rotated)
            with pytest.raises(sessiond.NotFound):
                await c.get(rotated)
            assert (await c.get(new)).data == b"r"
            assert await c.delete_with_note(new, "logout")
            with pytest.raises(sessiond.NotFound):
                await c.get(new)
            noted = [await c.create("user:anoted", b"n") for _ in range(2)]
            for i in noted:
                await c.get(i)
            assert await c.delete_owner_with_note("user:anoted", note="kick") == 2
            for i in noted:
                with pytest.raises(sessiond.NotFound):
                    await c.get(i)
            b = await c.create("user:aown2", b"b1")
            await c.get(b)
            async with c.pipeline() as p:
                p.update(b, b"b2")
            assert (await c.get(b)).data == b"b2"
            async with c.pipeline() as p:
                p.delete_owner("user:aown2")
            async with c.pipeline() as p:
                p.delete(a)
            for gone in (a, b):
                with pytest.raises(sessiond.NotFound):
                    await c.get(gone)

    run(main)


def test_tasks_never_read_an_update_older_than_one_returned(nc_daemon: Daemon) -> None:
    # Tasks miss, fetch and keep while another process's updates (a thread
    # here) invalidate: an answer fetched across an invalidation must never
    # be kept (the epoch rule), or a task would read a version older than
    # one an update had already returned.
    with sessiond.Client(nc_daemon.url) as plain:
        ids = [plain.create("user:atasks", b"0") for _ in range(4)]
        committed: Dict[str, int] = {i: 1 for i in ids}
        stop = time.monotonic() + 2
        updates = [0]

        def write() -> None:
            while time.monotonic() < stop:
                for i in ids:
                    committed[i] = plain.update(i, str(updates[0]).encode())
                    updates[0] += 1
                # Any event moves the (one) epoch: without a pause, on a
                # slow loop (python -X dev) every miss is fetched across one
                # and nothing is ever kept, so no hit would be checked.
                time.sleep(0.005)

        async def main() -> Tuple[sessiond.NearCacheStats, List[Tuple[str, int, int]]]:
            stale: List[Tuple[str, int, int]] = []
            async with await cache_client(nc_daemon.url) as cached:

                async def read() -> None:
                    while time.monotonic() < stop:
                        for i in ids:
                            floor = committed[i]
                            got = (await cached.get(i)).version
                            if got < floor:
                                stale.append((i, got, floor))
                        await asyncio.sleep(0)

                writer = threading.Thread(target=write)
                writer.start()
                await asyncio.gather(*(read() for _ in range(4)))
                writer.join()
                return cached.near_cache_stats(), stale

        stats, stale = run(main)
    print(f"\n{updates[0]} updates under 4 reading tasks: {stats.hits} hits, {stats.misses} misses, {len(stale)} stale")
    assert not stale
    assert stats.hits > 0 and stats.invalidations > 0


def test_hits_are_touched_coalesced_and_keep_the_session_alive(nc_daemon: Daemon) -> None:
    async def main() -> None:
        async with await cache_client(nc_daemon.url) as cached, sessiond.AsyncClient(nc_daemon.url) as plain:
            # Idle 3 s, then 5 s of hits served from memory alone.
            s = await plain.create("user:atouch", b"t", idle_timeout=3)
            await cached.get(s)
            before = await plain.stats()
            end = time.monotonic() + 5
            hits = 0
            while time.monotonic() < end:
                await cached.get(s)
                hits += 1
                await asyncio.sleep(0.005)
            # The last hits' TOUCH (its flush may be a second away), then no more.
            await asyncio.sleep(2 * TOUCH_INTERVAL + 0.5)
            after = await plain.stats()
            touches = after["ops_touch"] - before["ops_touch"]
            print(f"\n{hits} hits in 5 s sent {touches} TOUCHes")
            assert after["ops_get"] == before["ops_get"], "every get was a hit"
            assert 4 <= touches <= 7, "one TOUCH a second"
            assert cached.near_cache_stats().touches == touches
            # Alive past its 3 s idle timeout, kept so by the hits' touches alone.
            assert (await plain.get(s, touch=False)).data == b"t"

    run(main)


def test_close_stops_the_threads_and_ends_the_registration(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()

    async def main() -> None:
        async with sessiond.AsyncClient(d.url) as plain:
            for close in ("close", "aclose"):
                c = await cache_client(d.url, mode="relaxed")
                s = await c.create("user:aclose", b"c")
                await c.get(s)
                await c.get(s)  # a hit: the toucher opens its connection
                # The toucher's next round, whenever its second comes up.
                deadline = time.monotonic() + 5
                while c.near_cache_stats().touches == 0 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert c.near_cache_stats().touches == 1
                assert (await plain.stats())["near_caches_relaxed"] == 1
                start = time.monotonic()
                await getattr(c, close)()
                assert time.monotonic() - start < 1.0, "the waiting read is cut short, not waited out"
                assert not {t.name for t in threading.enumerate()} & THREADS
                deadline = time.monotonic() + 5
                while (await plain.stats())["near_caches_relaxed"] and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                assert (await plain.stats())["near_caches_relaxed"] == 0
                assert c.near_cache_stats().resets == 0, "closing is no reset"
                assert c._touches is not None and c._touches._conn is None, "the toucher's connection is closed"

    run(main)
