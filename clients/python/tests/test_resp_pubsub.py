"""redis-py's publish/subscribe API, unchanged, against the daemon's
Redis-protocol listener, over RESP2 (subscriber mode) and RESP3 (pushes)."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional

import pytest
import redis

from conftest import RespDaemon


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def client(request: pytest.FixtureRequest, resp_daemon: RespDaemon) -> Iterator["redis.Redis[bytes]"]:
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port, protocol=request.param)
    assert r.ping()
    yield r
    r.close()


def messages(pubsub: Any, want: int, within: float = 5.0) -> List[Dict[str, Any]]:
    """The next `want` data messages (confirmations skipped), or fail."""
    got: List[Dict[str, Any]] = []
    deadline = time.monotonic() + within
    while len(got) < want:
        assert time.monotonic() < deadline, f"only {got} arrived"
        message: Optional[Dict[str, Any]] = pubsub.get_message(timeout=0.2)
        if message and message["type"] in ("message", "pmessage"):
            got.append(message)
    return got


def test_subscribe_publish_and_patterns(client: "redis.Redis[bytes]") -> None:
    pubsub = client.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("alerts:*")
    confirmations = [pubsub.get_message(timeout=1.0) for _ in range(2)]
    assert [c["type"] for c in confirmations if c] == ["subscribe", "psubscribe"]
    assert client.pubsub_numsub("news") == [(b"news", 1)]
    assert client.pubsub_numpat() == 1
    assert client.pubsub_channels() == [b"news"]

    assert client.publish("news", "hello") == 1
    assert client.publish("alerts:disk", "full") == 1
    assert client.publish("nobody", "x") == 0
    first, second = messages(pubsub, 2)
    assert (first["type"], first["channel"], first["data"]) == ("message", b"news", b"hello")
    assert (second["type"], second["pattern"], second["channel"], second["data"]) == (
        "pmessage",
        b"alerts:*",
        b"alerts:disk",
        b"full",
    )

    pubsub.unsubscribe("news")
    pubsub.punsubscribe("alerts:*")
    deadline = time.monotonic() + 5
    while client.pubsub_numsub("news") != [(b"news", 0)] or client.pubsub_numpat() != 0:
        pubsub.get_message(timeout=0.1)
        assert time.monotonic() < deadline
    assert client.publish("news", "late") == 0
    pubsub.close()


def test_a_message_handler_thread(client: "redis.Redis[bytes]") -> None:
    received: List[bytes] = []
    pubsub = client.pubsub()
    pubsub.subscribe(**{"revocations": lambda m: received.append(m["data"])})
    thread = pubsub.run_in_thread(sleep_time=0.05, daemon=True)
    try:
        deadline = time.monotonic() + 5
        while client.pubsub_numsub("revocations") != [(b"revocations", 1)]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        for n in range(50):
            assert client.publish("revocations", f"sid-{n}") == 1
        while len(received) < 50:
            assert time.monotonic() < deadline, received
            time.sleep(0.02)
        assert received == [f"sid-{n}".encode() for n in range(50)]
    finally:
        thread.stop()
        thread.join(timeout=5)
        pubsub.close()
