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
    while ended is None and time.monotonic() - started < 5:
        got = r.xread({STREAM: last}, block=3000)
        for _, entries in got:
            for entry in entries:
                last = entry[0]
                if fields(entry) == ("ended", "idle_expired", sid):
                    ended = time.monotonic() - started
    assert ended is not None, "no idle_expired event within 5 s"
    # Idle for 1 s, then swept on the next second's tick.
    assert ended < 3.0
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
