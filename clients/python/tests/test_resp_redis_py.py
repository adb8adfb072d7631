"""redis-py, unchanged, against the daemon's Redis-protocol listener.

The login, read, touch, logout cycle of a session library written for
Redis (plain keys with a TTL, and an owner index in a set), and the same
cycle with the first-class SESSION.* commands, over RESP2 and RESP3.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest
import redis

from conftest import RespDaemon


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def client(request: pytest.FixtureRequest, resp_daemon: RespDaemon) -> Iterator["redis.Redis[bytes]"]:
    r: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port, protocol=request.param)
    assert r.ping()
    yield r
    r.close()


def as_dict(reply: Any) -> Dict[bytes, Any]:
    """A map reply: a dict in RESP3, a flat list of pairs in RESP2."""
    if isinstance(reply, dict):
        return reply
    assert isinstance(reply, list) and len(reply) % 2 == 0, reply
    return dict(zip(reply[::2], reply[1::2]))


def test_plain_key_session_cycle(client: "redis.Redis[bytes]") -> None:
    key, index = "sess:py123", "user:7:sessions"
    # Login.
    assert client.set(key, b'{"user":7}', ex=1800) is True
    assert client.sadd(index, "py123") == 1
    # Read.
    assert client.get(key) == b'{"user":7}'
    assert client.smembers(index) == {b"py123"}
    # Touch.
    assert client.expire(key, 3600) is True
    assert 3590 <= client.ttl(key) <= 3600
    # Logout.
    assert client.delete(key) == 1
    assert client.srem(index, "py123") == 1
    assert client.get(key) is None
    assert client.scard(index) == 0


def test_session_command_cycle(client: "redis.Redis[bytes]") -> None:
    # Login.
    sid = client.execute_command("SESSION.CREATE", "user:7", "DATA", b'{"cart":[]}', "IDLE", 1800, "LABEL", "ua", "curl")
    assert isinstance(sid, bytes) and len(sid) == 22
    # Read.
    session = as_dict(client.execute_command("SESSION.GET", sid))
    assert session[b"owner"] == b"user:7"
    assert session[b"data"] == b'{"cart":[]}'
    assert session[b"version"] == 1
    assert as_dict(session[b"labels"]) == {b"ua": b"curl"}
    assert client.execute_command("SESSION.COUNT", "user:7") == 1
    listed = [as_dict(s) for s in client.execute_command("SESSION.LIST", "user:7")]
    assert [s[b"id"] for s in listed] == [sid] and b"data" not in listed[0]
    # Write, with optimistic concurrency, and touch.
    assert client.execute_command("SESSION.SET", sid, b'{"cart":[1]}', "VERSION", 1) == 2
    with pytest.raises(redis.ResponseError, match="expected 1, session is at 2"):
        client.execute_command("SESSION.SET", sid, b"x", "VERSION", 1)
    assert isinstance(client.execute_command("SESSION.TOUCH", sid), int)
    # Rotate on privilege change, then logout.
    new = client.execute_command("SESSION.ROTATE", sid)
    assert new != sid and client.execute_command("SESSION.GET", sid) is None
    assert client.execute_command("SESSION.DEL", new) == 1
    assert client.execute_command("SESSION.GET", new) is None
    assert client.execute_command("SESSION.COUNT", "user:7") == 0
    with pytest.raises(redis.ResponseError, match="invalid session id"):
        client.execute_command("SESSION.GET", "not-an-id")


def test_info_reports_memory_and_clients(client: "redis.Redis[bytes]") -> None:
    info = client.info()
    assert info["used_memory"] >= 0 and info["used_memory_rss"] > 0
    assert info["connected_clients"] >= 1
    assert "used_memory" in client.info("memory")


def test_strings_keys_and_sets_as_redis_py_sends_them(client: "redis.Redis[bytes]") -> None:
    names = ["s", "f", "m1", "m2", "m3", "r", "c", "a", "b", "u", "p"]
    keys = [f"strs:{name}" for name in names]
    client.delete(*keys)
    s, f, m1, m2, m3, r, c, a, b, u, p = keys
    # Strings.
    assert client.append(s, "hello") == 5
    assert client.append(s, " world") == 11
    assert client.strlen(s) == 11
    assert client.getrange(s, 0, 4) == b"hello"
    assert client.getrange(s, -5, -1) == b"world"
    assert client.setrange(s, 0, "J") == 11
    assert client.get(s) == b"Jello world"
    assert client.incrbyfloat(f, 10.5) == 10.5
    assert client.incrbyfloat(f, 0.1) == pytest.approx(10.6)
    assert client.get(f) == b"10.6"
    with pytest.raises(redis.ResponseError, match="not a valid float"):
        client.incrbyfloat(s, 1)
    assert client.msetnx({m1: "1", m2: "2"}) is True
    assert client.msetnx({m2: "x", m3: "3"}) is False
    assert client.exists(m3) == 0
    # Keys.
    assert client.renamenx(m1, r) is True
    assert client.renamenx(m2, r) is False
    assert client.copy(r, c) is True
    assert client.copy(r, c) is False
    assert client.copy(s, c, replace=True) is True
    assert client.get(c) == b"Jello world"
    assert client.touch(r, c, "strs:nope") == 2
    assert client.expiretime(r) == -1
    assert client.expireat(r, 4_000_000_000) is True
    assert client.expiretime(r) == 4_000_000_000
    assert client.pexpiretime(r) == 4_000_000_000_000
    assert client.randomkey() is not None
    assert client.object("encoding", r) == b"int"
    assert client.object("encoding", s) == b"raw" or client.object("encoding", s) == b"embstr"
    usage = client.memory_usage(s)
    assert isinstance(usage, int) and usage > 11
    # Sets.
    assert client.sadd(a, "1", "2", "3", "x") == 4
    assert client.sadd(b, "2", "3", "y") == 3
    assert client.smismember(a, ["1", "z"]) == [True, False]
    assert client.sinter(a, b) == {b"2", b"3"}
    assert client.sunion(a, b) == {b"1", b"2", b"3", b"x", b"y"}
    assert client.sdiff(a, b) == {b"1", b"x"}
    assert client.sunionstore(u, [a, b]) == 5
    assert client.sintercard(2, [a, b]) == 2
    assert client.sintercard(2, [a, b], limit=1) == 1
    assert client.smove(a, b, "x") is True
    assert client.sismember(b, "x") == 1
    assert set(client.sscan_iter(u, count=2)) == {b"1", b"2", b"3", b"x", b"y"}
    assert set(client.sscan_iter(u, match="[xy]")) == {b"x", b"y"}
    assert len(client.srandmember(u, -8)) == 8
    assert len(set(client.srandmember(u, 3))) == 3
    assert client.sadd(p, "a", "b", "c") == 3
    popped = client.spop(p, 2)
    assert len(popped) == 2 and set(popped) <= {b"a", b"b", b"c"}
    assert client.spop(p) is not None
    assert client.exists(p) == 0
