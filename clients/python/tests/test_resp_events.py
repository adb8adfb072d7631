"""The session event stream `__sessiond:events` through redis-py's own
stream API, as an app server consumes it: a reader that goes away and
resumes from its last id gets every event exactly once and in order; a
blocked read wakes for an expiry nobody read; a reader left behind by
retention is told so."""

from __future__ import annotations

import time
from typing import Any, List, Tuple

import pytest
import redis

from conftest import RespDaemon

STREAM = "__sessiond:events"


def fields(entry: Tuple[bytes, Any]) -> Tuple[str, str, str]:
    """An entry's type, reason and session id."""
    _, f = entry
    return f[b"type"].decode(), f[b"reason"].decode(), f[b"id"].decode()


def test_a_reader_that_resumes_gets_every_event_once_in_order(resp_daemon: RespDaemon) -> None:
    app: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    reader: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    start = reader.xinfo_stream(STREAM)["last-generated-id"]
    expected: List[Tuple[str, str, str]] = []
    seen: List[Tuple[str, str, str]] = []
    last = start
    for round_ in range(3):
        # The app works while the reader is away.
        for n in range(20):
            sid = app.execute_command("SESSION.CREATE", f"user:{round_}", "IDLE", "600").decode()
            expected.append(("created", "", sid))
            if n % 2:
                app.execute_command("SESSION.DEL", sid)
                expected.append(("ended", "deleted", sid))
        reader.close()
        reader = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
        # Resume from the last id, a page at a time.
        while True:
            got = reader.xread({STREAM: last}, count=7)
            if not got:
                break
            [(name, entries)] = got
            assert name == STREAM.encode()
            seen.extend(fields(e) for e in entries)
            last = entries[-1][0]
    assert seen == expected
    ids = [e[0] for e in reader.xrange(STREAM, min=b"(" + start if start != b"0-0" else "-")]
    assert len(ids) == len(set(ids)) and ids == sorted(ids, key=lambda i: tuple(map(int, i.split(b"-"))))
    app.close()
    reader.close()


def test_a_blocked_read_hears_an_idle_expiry_nobody_read(resp_daemon: RespDaemon) -> None:
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    last = r.xinfo_stream(STREAM)["last-generated-id"]
    sid = r.execute_command("SESSION.CREATE", "user:idle", "IDLE", "1").decode()
    started = time.monotonic()
    ended = None
    while ended is None and time.monotonic() - started < 6:
        got = r.xread({STREAM: last}, block=3000)
        for _, entries in got:
            for entry in entries:
                last = entry[0]
                if fields(entry) == ("ended", "idle_expired", sid):
                    ended = time.monotonic() - started
    assert ended is not None, "no idle_expired event within 6 s"
    # Idle for 1 s, then swept on the next second's tick (a second more
    # for a loaded machine).
    assert ended < 4.0
    r.close()


def test_a_reader_behind_retention_is_told_of_the_gap() -> None:
    d = RespDaemon(args=["--events-max", "5"])
    try:
        r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=d.resp_port)
        for _ in range(3):
            r.execute_command("SESSION.CREATE", "user:g", "IDLE", "600")
        first = r.xrange(STREAM, count=1)[0][0]
        for _ in range(10):
            r.execute_command("SESSION.CREATE", "user:g", "IDLE", "600")
        assert r.xlen(STREAM) == 5
        with pytest.raises(redis.ResponseError, match="^GAP events after"):
            r.xread({STREAM: first})
        # From 0: what is kept, no error.
        [(_, entries)] = r.xread({STREAM: "0"})
        assert len(entries) == 5
        r.close()
    finally:
        d.stop()


def test_a_consumer_group_gives_each_event_to_one_member_and_redelivers_the_unacknowledged(
    resp_daemon: RespDaemon,
) -> None:
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    r.xgroup_create(STREAM, "mailer", id="$")
    created = [
        r.execute_command("SESSION.CREATE", f"user:m{i}", "IDLE", "600").decode() for i in range(12)
    ]
    # Two app servers share the group, a page at a time, in turns.
    got: dict = {"a": [], "b": []}
    while True:
        progressed = False
        for name in ("a", "b"):
            reply = r.xreadgroup("mailer", name, {STREAM: ">"}, count=2)
            for _, entries in reply:
                got[name].extend(entries)
                progressed = True
        if not progressed:
            break
    ids_of = lambda entries: [fields(e)[2] for e in entries]  # noqa: E731
    assert sorted(ids_of(got["a"]) + ids_of(got["b"])) == sorted(created), "each event to one member"
    assert got["a"] and got["b"]
    # a acknowledges what it handled; b dies with its events in hand.
    assert r.xack(STREAM, "mailer", *[e[0] for e in got["a"]]) == len(got["a"])
    pending = r.xpending(STREAM, "mailer")
    assert pending["pending"] == len(got["b"])
    assert pending["consumers"] == [{"name": b"b", "pending": len(got["b"])}]
    # c claims what b left (idle at least 0 ms here), and gets the events.
    time.sleep(0.05)
    _next, claimed, _deleted = r.xautoclaim(STREAM, "mailer", "c", min_idle_time=10, start_id="0-0", count=100)
    assert ids_of(claimed) == ids_of(got["b"])
    detail = r.xpending_range(STREAM, "mailer", min="-", max="+", count=100)
    assert {d["consumer"] for d in detail} == {b"c"}
    assert all(d["times_delivered"] == 2 for d in detail), "delivered to b, then to c"
    assert r.xack(STREAM, "mailer", *[e[0] for e in claimed]) == len(claimed)
    assert r.xpending(STREAM, "mailer")["pending"] == 0
    [group] = [g for g in r.xinfo_groups(STREAM) if g["name"] == b"mailer"]
    assert group["pending"] == 0 and group["lag"] == 0
    r.close()


def test_groups_and_events_survive_kill_9_with_every_acknowledged_change(tmp_path: Any) -> None:
    d = RespDaemon(args=["--data-dir", str(tmp_path), "--fsync", "always"])
    try:
        r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=d.resp_port)
        r.xgroup_create(STREAM, "audit", id="0")
        revoked = []
        for i in range(20):
            sid = r.execute_command("SESSION.CREATE", f"user:k{i % 4}", "IDLE", "600").decode()
            if i % 2:
                assert r.execute_command("SESSION.DEL", sid) == 1
                revoked.append(sid)
        delivered = r.xreadgroup("audit", "w", {STREAM: ">"}, count=25)[0][1]
        acked = [e[0] for e in delivered[:10]]
        assert r.xack(STREAM, "audit", *acked) == 10
        last_before = r.xinfo_stream(STREAM)["last-generated-id"]
        r.close()
        d.kill()  # SIGKILL: no shutdown, no final flush
        d.start()
        r = redis.Redis(host="127.0.0.1", port=d.resp_port)
        entries = r.xrange(STREAM)
        ended = [fields(e)[2] for e in entries if fields(e)[:2] == ("ended", "deleted")]
        assert ended == revoked, "every acknowledged delete's end is there, in order"
        assert r.xinfo_stream(STREAM)["last-generated-id"] == last_before
        pending = r.xpending_range(STREAM, "audit", min="-", max="+", count=100)
        assert [p["message_id"] for p in pending] == [e[0] for e in delivered[10:]]
        # The group goes on after the restart where it stopped.
        assert len(entries) == 30
        [(_, rest)] = r.xreadgroup("audit", "w", {STREAM: ">"}, count=25)
        assert rest == entries[25:]
        r.close()
    finally:
        d.stop()
