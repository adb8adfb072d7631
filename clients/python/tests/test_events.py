"""The session event log against a live daemon: every event once and in
order across reconnects, a blocking read woken by the next event, notes on
deletes, a gap past retention, and the asyncio client."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import List

import pytest

import sessiond
from sessiond import Event, errors

from conftest import Daemon


def drain(client: sessiond.Client, after: int, batch: int = 5) -> List[Event]:
    """Every event after ``after``, in batches, without waiting."""
    out: List[Event] = []
    for _ in range(10_000):
        got = client.read_events(after, batch)
        if not got:
            return out
        out.extend(got)
        after = got[-1].seq
    raise AssertionError("more than 10 000 batches")


def test_a_reader_that_reconnects_gets_every_event_once_in_order(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()
    seen: List[Event] = []
    with sessiond.Client(d.url) as writer:
        for round_ in range(3):
            with sessiond.Client(d.url) as reader:
                seen += drain(reader, seen[-1].seq if seen else 0)
            for i in range(6):
                sid = writer.create(f"user:{round_}", labels={"ua": "pytest"})
                if i % 2:
                    assert writer.delete_with_note(sid, "logout")
    with sessiond.Client(d.url) as reader:
        seen += drain(reader, seen[-1].seq)
    assert [e.seq for e in seen] == list(range(1, 3 * 9 + 1))
    ends = [e for e in seen if e.kind == "ended"]
    assert len(ends) == 9
    assert all(e.reason == "deleted" and e.note == b"logout" for e in ends)
    assert all(e.labels == {"ua": "pytest"} and e.owner.startswith(b"user:") for e in seen)


def test_a_blocking_read_wakes_on_the_next_event(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()
    got: List[List[Event]] = []
    with sessiond.Client(d.url) as client:

        def wait() -> None:
            # Far longer than the test waits: only an event ends it early.
            got.append(client.read_events(0, 10, timeout=60))

        reader = threading.Thread(target=wait)
        reader.start()
        time.sleep(0.2)
        assert not got, "nothing to read yet"
        with sessiond.Client(d.url) as writer:
            sid = writer.create("user:b")
        reader.join(timeout=20)
        assert not reader.is_alive(), "the read is woken by the event, not its 60 s timeout"
    assert [(e.seq, e.kind, e.id) for e in got[0]] == [(1, "created", sid)]


def test_rotation_and_owner_kick_carry_ids_and_notes(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()
    with sessiond.Client(d.url) as client:
        old = client.create("user:r")
        new = client.rotate(old)
        other = client.create("user:r")
        assert client.delete_owner_with_note("user:r", keep=new, note=b"kick") == 1
        with pytest.raises(ValueError):
            client.delete_with_note(new, b"x" * 257)
        events = drain(client, 0)
    assert [e.kind for e in events] == ["created", "rotated", "created", "ended"]
    assert (events[1].id, events[1].new_id) == (old, new)
    assert (events[3].id, events[3].reason, events[3].note) == (other, "owner_deleted", b"kick")
    assert events[0].at_ms <= events[3].at_ms


def test_a_reader_behind_retention_gets_a_gap(make_daemon: "type[Daemon]") -> None:
    d = make_daemon(args=["--events-max", "3"])
    with sessiond.Client(d.url) as client:
        for _ in range(6):
            client.create("user:g")
        with pytest.raises(errors.EventsGap) as info:
            client.read_events(0)
        assert (info.value.after, info.value.oldest_kept) == (0, 4)
        assert [e.seq for e in client.read_events(info.value.oldest_kept - 1)] == [4, 5, 6]


def test_the_asyncio_client_reads_and_waits(make_daemon: "type[Daemon]") -> None:
    d = make_daemon()

    async def run() -> List[Event]:
        # A waiting read holds its connection (answers stay in order): the
        # writes go through a client of their own.
        async with sessiond.AsyncClient(d.url) as reader, sessiond.AsyncClient(d.url) as writer:
            assert await reader.read_events(0, 10, timeout=0.2) == []
            waiting = asyncio.ensure_future(reader.read_events(0, 10, timeout=60))
            await asyncio.sleep(0.1)
            sid = await writer.create("user:a")
            assert await writer.delete_with_note(sid, "bye")
            first = await asyncio.wait_for(waiting, 20)
            return first + await reader.read_events(first[-1].seq)

    events = asyncio.run(run())
    assert [(e.kind, e.reason, e.note) for e in events] == [("created", None, None), ("ended", "deleted", b"bye")]
