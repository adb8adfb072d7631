"""What apps do with redis-py, blocking and asyncio, against the daemon's
Redis-protocol listener: a WATCH retry loop that really retries, a
subscription that hears keyspace `expired` events with nobody reading the
key, and (asyncio) a default pipeline and a hash with field TTLs."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, Optional

import redis
import redis.asyncio

from conftest import RespDaemon


def test_a_watch_retry_loop_retries_when_another_client_writes(resp_daemon: RespDaemon) -> None:
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    other: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    r.set("balance", 100)
    attempts = []

    def spend(pipe: Any) -> None:
        balance = int(pipe.get("balance"))
        attempts.append(balance)
        if len(attempts) == 1:
            # Another client changes the watched key before EXEC.
            other.incrby("balance", 50)
        pipe.multi()
        pipe.set("balance", balance - 30)

    r.transaction(spend, "balance")
    assert attempts == [100, 150], "the first EXEC was aborted, the retry saw the new value"
    assert int(r.get("balance")) == 120
    r.close()
    other.close()


def test_a_subscription_hears_expired_with_no_read(resp_daemon: RespDaemon) -> None:
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    assert r.config_set("notify-keyspace-events", "Ex")
    pubsub = r.pubsub()
    pubsub.psubscribe("__keyevent@0__:expired")
    r.set("otp:42", "123456", px=200)
    deadline = time.monotonic() + 3
    heard: Optional[Dict[str, Any]] = None
    while heard is None:
        assert time.monotonic() < deadline, "no expired event within 3 s"
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "pmessage":
            heard = message
    assert heard["channel"] == b"__keyevent@0__:expired"
    assert heard["data"] == b"otp:42"
    pubsub.close()
    assert r.config_set("notify-keyspace-events", "")
    r.close()


def test_asyncio_pipeline_watch_retry_field_ttls_and_expired(resp_daemon: RespDaemon) -> None:
    async def main() -> None:
        r = redis.asyncio.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
        other = redis.asyncio.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
        # The default pipeline is a MULTI/EXEC transaction.
        async with r.pipeline() as pipe:
            replies = await pipe.set("a", 1).incr("a").get("a").execute()
        assert replies == [True, 2, b"2"]

        # A WATCH retry loop, written out as asyncio apps write it.
        await r.set("stock", 10)
        attempts = 0
        while True:
            attempts += 1
            async with r.pipeline() as pipe:
                await pipe.watch("stock")
                stock = int(await pipe.get("stock"))
                if attempts == 1:
                    await other.decr("stock")
                pipe.multi()
                pipe.set("stock", stock - 1)
                try:
                    await pipe.execute()
                    break
                except redis.WatchError:
                    assert attempts < 5, "retried without end"
        assert attempts == 2
        assert int(await r.get("stock")) == 8

        # A hash with a field TTL: HLEN counts it until its deadline only.
        await r.hset("user:7:sessions", mapping={"phone": "{}", "laptop": "{}"})
        assert await r.hpexpire("user:7:sessions", 1000, "laptop") == [1]
        ttl = (await r.hpttl("user:7:sessions", "laptop", "phone"))
        assert 0 < ttl[0] <= 1000 and ttl[1] == -1
        assert await r.hlen("user:7:sessions") == 2

        # The expired event of a key nobody reads.
        assert await r.config_set("notify-keyspace-events", "Ex")
        pubsub = r.pubsub()
        await pubsub.psubscribe("__keyevent@0__:expired")
        # Its deadline comes after the field's: when it is heard, the
        # field is past its own.
        await r.set("session:tmp", "x", px=1000)
        deadline = time.monotonic() + 5
        heard = None
        while heard is None:
            assert time.monotonic() < deadline, "no expired event within 5 s"
            message = await pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                heard = message
        assert heard["data"] == b"session:tmp"
        assert await r.hlen("user:7:sessions") == 1, "the laptop's field has passed its deadline"
        await pubsub.aclose()
        assert await r.config_set("notify-keyspace-events", "")
        await r.aclose()
        await other.aclose()

    asyncio.run(main())


def test_monitor_as_redis_py_reads_it(resp_daemon: RespDaemon) -> None:
    """redis-py's `Monitor` parses each line with its own pattern: the
    time, the client's address, the command and its quoted arguments."""
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    other: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    other.ping()  # connected (its HELLO and CLIENT SETINFO) before the monitor starts
    with r.monitor() as m:
        other.set("greeting", 'say "hi"\n')
        other.config_get("maxmemory")  # an administrator's command: not shown
        other.eval("return redis.call('get', KEYS[1])", 1, "greeting")
        other.auth("secret", username="default")  # shown redacted
        seen = [m.next_command() for _ in range(4)]
    started = time.time()
    assert [s["command"] for s in seen] == [
        'SET greeting say "hi"\\n',
        "EVAL return redis.call('get', KEYS[1]) 1 greeting",
        "get greeting",
        "AUTH (redacted) (redacted)",
    ]
    assert [s["client_type"] for s in seen] == ["tcp", "tcp", "lua", "tcp"]
    assert seen[0]["client_address"] == "127.0.0.1"
    assert int(seen[0]["client_port"]) > 0
    assert all(abs(started - s["time"]) < 60 for s in seen)
    other.close()
    r.close()
