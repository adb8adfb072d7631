"""redis-py, unchanged, against the daemon's Redis-protocol listener.

The login, read, touch, logout cycle of a session library written for
Redis (plain keys with a TTL, and an owner index in a set), and the same
cycle with the first-class SESSION.* commands, over RESP2 and RESP3.
"""

from __future__ import annotations

import time
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


def test_default_pipeline_is_a_transaction(client: "redis.Redis[bytes]") -> None:
    client.delete("tx:n", "tx:s")
    # redis-py's default pipeline: MULTI, the commands, EXEC.
    with client.pipeline() as pipe:
        pipe.set("tx:n", 1).incr("tx:n").sadd("tx:s", "a").get("tx:n")
        assert pipe.execute() == [True, 2, 1, b"2"]
    # A run-time error is that command's answer; the others run.
    with client.pipeline() as pipe:
        pipe.incr("tx:n").sadd("tx:n", "x").incr("tx:n")
        replies = pipe.execute(raise_on_error=False)
    assert replies[0] == 3 and replies[2] == 4
    assert isinstance(replies[1], redis.ResponseError) and "WRONGTYPE" in str(replies[1])
    # A queue-time error aborts the whole transaction.
    with client.pipeline() as pipe:
        pipe.incr("tx:n").execute_command("NOSUCHCOMMAND")
        with pytest.raises(redis.ResponseError):
            pipe.execute()
    assert client.get("tx:n") == b"4"


def test_transaction_retries_when_a_watched_key_changes(
    client: "redis.Redis[bytes]", resp_daemon: RespDaemon
) -> None:
    other = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    client.set("tx:balance", 10)
    calls = []

    def spend(pipe: "redis.client.Pipeline[bytes]") -> None:
        balance = int(pipe.get("tx:balance") or 0)
        calls.append(balance)
        if len(calls) == 1:
            other.incrby("tx:balance", 5)  # another client changes the watched key
        pipe.multi()
        pipe.set("tx:balance", balance - 3)

    client.transaction(spend, "tx:balance")
    # The first EXEC found the key changed (WatchError) and redis-py retried.
    assert calls == [10, 15]
    assert client.get("tx:balance") == b"12"
    other.close()
def text(value: Any) -> Any:
    """Bytes as text, in dicts and lists too (redis-py decodes some replies and not others)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {text(k): text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [text(v) for v in value]
    return value


def test_config_get_and_set(client: "redis.Redis[bytes]") -> None:
    assert text(client.config_get("maxmemory")) == {"maxmemory": "0"}
    assert client.config_set("maxmemory", "100mb") is True
    try:
        assert text(client.config_get("maxmemory")) == {"maxmemory": str(100 << 20)}
        assert client.info("memory")["maxmemory"] == 100 << 20
    finally:
        client.config_set("maxmemory", 0)
    got = text(client.config_get("slowlog-*"))
    assert got == {"slowlog-log-slower-than": "10000", "slowlog-max-len": "128"}
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'nosuch'"):
        client.config_set("nosuch", 1)
    with pytest.raises(redis.ResponseError, match="argument must be a memory value"):
        client.config_set("maxmemory", "lots")


def test_info_all_has_every_section(client: "redis.Redis[bytes]") -> None:
    client.set("py:info", "1", ex=100)
    assert client.get("py:info") == b"1"
    with pytest.raises(redis.ResponseError):
        client.sadd("py:info", "m")
    info = client.info("all")
    for key in ["redis_version", "run_id", "tcp_port", "uptime_in_seconds", "connected_clients", "maxclients",
                "used_memory", "maxmemory_policy", "total_commands_processed", "keyspace_hits",
                "used_cpu_sys", "used_cpu_user", "cluster_enabled", "role"]:
        assert key in info, key
    assert info["cmdstat_get"]["calls"] >= 1 and "usec_per_call" in info["cmdstat_get"]
    assert info["errorstat_WRONGTYPE"]["count"] >= 1
    assert info["db0"]["keys"] >= 1 and info["db0"]["expires"] >= 1
    client.delete("py:info")


def test_client_list_kill_and_slowlog(client: "redis.Redis[bytes]", resp_daemon: RespDaemon) -> None:
    protocol = client.connection_pool.connection_kwargs.get("protocol", 2)
    other: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port, protocol=protocol)
    try:
        client.client_setname("py-me")
        other.client_setname("py-other")
        listed = {text(c["name"]): text(c["id"]) for c in client.client_list()}
        assert listed.get("py-me") == str(client.client_id())
        other_id = other.client_id()
        assert listed.get("py-other") == str(other_id)
        assert client.client_kill_filter(_id=other_id) == 1
        assert str(other_id) not in [text(c["id"]) for c in client.client_list()]
    finally:
        other.close()
    assert client.config_set("slowlog-log-slower-than", 0) is True
    try:
        client.set("py:slow", "1")
        entries = client.slowlog_get(10)
        commands = [text(e["command"]) for e in entries]
        assert "SET py:slow 1" in commands, commands
        assert text(entries[0]["client_name"]) == "py-me"
    finally:
        client.config_set("slowlog-log-slower-than", 10000)
        client.slowlog_reset()
        client.delete("py:slow")
def test_hashes_spring_session_shape(client: "redis.Redis[bytes]") -> None:
    """A hash per session, as Spring Session keeps it: HSET with a mapping,
    HGETALL, HINCRBYFLOAT, HSCAN to the end, HRANDFIELD."""
    key = "spring:session:py1"
    client.delete(key)
    assert client.hset(key, mapping={"creationTime": 1, "maxInactiveInterval": 1800}) == 2
    assert client.hset(key, "sessionAttr:cart", "[]") == 1
    assert as_dict(client.hgetall(key)) == {
        b"creationTime": b"1",
        b"maxInactiveInterval": b"1800",
        b"sessionAttr:cart": b"[]",
    }
    assert client.hincrby(key, "hits", 3) == 3
    assert client.hincrbyfloat(key, "score", 10.5) == 10.5
    assert client.hincrbyfloat(key, "score", 0.1) == 10.6
    assert dict(client.hscan_iter(key, match="sessionAttr:*")) == {b"sessionAttr:cart": b"[]"}
    assert len(dict(client.hscan_iter(key, count=2))) == 5
    assert client.hrandfield(key) in as_dict(client.hgetall(key))
    assert len(client.hrandfield(key, -7)) == 7
    assert client.hdel(key, "hits", "nope") == 1
    assert client.hlen(key) == 4
    assert client.type(key) == b"hash"
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        client.get(key)


def test_hash_field_ttls_redis_8_shape(client: "redis.Redis[bytes]") -> None:
    """One hash per user, a field per device with its own TTL: HSETEX,
    HEXPIRE, HTTL, HGETEX, HPERSIST, HGETDEL; HLEN exact after expiry."""
    key = "user:py:devices"
    client.delete(key)
    assert client.hsetex(key, mapping={"laptop": "s1", "phone": "s2"}, px=1000) == 1
    assert client.hset(key, "tv", "s3") == 1
    assert client.hexpire(key, 100, "tv", "nope", nx=True) == [1, -2]
    assert client.hexpire(key, 50, "tv", gt=True) == [0]  # sooner is not greater
    assert client.httl(key, "tv", "nope") == [100, -2]
    assert client.hpersist(key, "tv") == [1]
    assert client.httl(key, "tv") == [-1]
    assert client.hgetex(key, "phone", "nope") == [b"s2", None]
    assert client.hlen(key) == 3
    time.sleep(1.2)
    # Nothing read the hash since the two fields' deadline.
    assert client.hlen(key) == 1
    assert as_dict(client.hgetall(key)) == {b"tv": b"s3"}
    assert client.hgetdel(key, "tv") == [b"s3"]
    assert client.exists(key) == 0


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


def test_scripts_with_register_script_and_eval(client: "redis.Redis[bytes]") -> None:
    """redis-py's Script (EVALSHA, falling back to EVAL on NOSCRIPT) and
    plain EVAL, EVAL_RO and SCRIPT as redis-py sends them."""
    client.script_flush()
    bump = client.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    first = bump(keys=["py:hits"], args=[3])
    assert bump(keys=["py:hits"], args=[4]) == first + 4
    assert client.script_exists(bump.sha) == [True]
    sha = client.script_load("return ARGV[1] .. '!'")
    assert client.evalsha(sha, 0, "hi") == b"hi!"
    assert client.eval("return {1, 'two', {ok='fine'}}", 0) == [1, b"two", b"fine"]
    assert client.eval_ro("return redis.call('get', KEYS[1])", 1, "py:hits") == str(first + 4).encode()
    with pytest.raises(redis.exceptions.ResponseError, match="Write commands are not allowed"):
        client.eval_ro("return redis.call('set', 'x', 'y')", 0)
    with pytest.raises(redis.exceptions.NoScriptError):
        client.evalsha("0" * 40, 0)
    client.script_flush()
    assert client.script_exists(sha) == [False]
