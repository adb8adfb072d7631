"""Every operation and error against a live daemon, plus pipelining, TLS,
auth, timeouts and recovery after the server dies."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Tuple

import pytest

import sessiond
from sessiond import OwnerLimit, errors, protocol
from sessiond.connection import Connection

from conftest import Daemon


def owner() -> str:
    return "user:" + uuid.uuid4().hex


@pytest.fixture
def client(daemon: Daemon) -> Any:
    with sessiond.Client(daemon.url) as c:
        yield c


def test_ping_and_stats(client: sessiond.Client) -> None:
    client.ping()
    stats = client.stats()
    assert "sessions" in stats and all(isinstance(v, int) for v in stats.values())


def test_session_lifecycle(client: sessiond.Client) -> None:
    o = owner()
    sid = client.create(o, b"hello", labels={"ua": "Firefox", "place": "Zürich"}, idle_timeout=60, lifetime=3600)
    assert len(sid) == 22
    s = client.get(sid)
    assert (s.owner, s.data, s.version, s.id) == (o.encode(), b"hello", 1, sid)
    assert s.info.labels == {"ua": "Firefox", "place": "Zürich"}
    assert s.info.idle_secs == 60 and s.info.absolute_deadline == s.info.created + 3600
    peek = client.get(sid, touch=False)
    assert peek.data == b"hello"
    assert client.update(sid, b"v2") == 2
    assert client.update(sid, b"v3", expected_version=2) == 3
    with pytest.raises(sessiond.VersionMismatch) as vm:
        client.update(sid, b"lost", expected_version=2)
    assert (vm.value.expected, vm.value.actual) == (2, 3)
    assert client.touch(sid) >= s.info.expires_at
    new = client.rotate(sid)
    assert new != sid and client.get(new).data == b"v3"
    with pytest.raises(sessiond.NotFound):
        client.get(sid)
    assert client.delete(new) is True
    assert client.delete(new) is False
    for op in (client.touch, client.rotate, client.get):
        with pytest.raises(sessiond.NotFound):
            op(new)


def test_caller_chosen_id_and_id_taken(client: sessiond.Client) -> None:
    import os

    raw = os.urandom(16)
    sid = client.create(owner(), session_id=raw)
    assert sid == protocol.id_to_text(raw)
    with pytest.raises(sessiond.IdTaken):
        client.create(owner(), session_id=sid)


def test_list_count_delete_owner(client: sessiond.Client) -> None:
    o = owner()
    ids = [client.create(o, str(i)) for i in range(4)]
    assert client.count(o) == 4
    listed = client.list(o)
    assert {i.id for i in listed} == set(ids)
    assert client.delete_owner(o, keep=ids[0]) == 3
    assert [i.id for i in client.list(o)] == [ids[0]]
    assert client.delete_owner(o) == 1
    assert client.count(o) == 0 and client.list(o) == []


def test_owner_limits(client: sessiond.Client) -> None:
    o = owner()
    first = client.create(o, limit=OwnerLimit(2, "reject"))
    client.create(o, limit=OwnerLimit(2, "reject"))
    with pytest.raises(sessiond.SessionLimit) as e:
        client.create(o, limit=OwnerLimit(2, "reject"))
    assert e.value.limit == 2
    client.get(first)  # most recently seen now; the other is evicted
    client.create(o, limit=OwnerLimit(2, "evict_oldest"))
    assert client.count(o) == 2
    client.create(o, limit=OwnerLimit(0, "none"))
    assert client.count(o) == 3


def test_plain_keys(client: sessiond.Client) -> None:
    k = "rate:" + uuid.uuid4().hex
    assert client.get_key(k) is None
    assert client.ttl(k).kind == "missing"
    client.set_key(k, b"17")
    assert client.get_key(k) == b"17"
    assert client.ttl(k).kind == "persistent"
    assert client.incr(k, 3) == 20 and client.incr(k, -25) == -5
    assert client.expire_key(k, 60) is True
    t = client.ttl(k)
    assert t.kind == "expires" and 59000 < t.ms <= 60000
    assert client.expire_key(k, None) is True and client.ttl(k).kind == "persistent"
    client.set_key(k, "x", ttl=0.05)
    time.sleep(0.1)
    assert client.get_key(k) is None
    client.set_key(k, "1")
    assert client.expire_key(k, 0) is True and client.get_key(k) is None
    assert client.expire_key(k, 10) is False
    client.set_key(k, b"1")
    assert client.delete_key(k) is True and client.delete_key(k) is False


def test_scan_walks_every_key_once(client: sessiond.Client) -> None:
    prefix = "scan:" + uuid.uuid4().hex + ":"
    keys = {(prefix + str(i)).encode() for i in range(300)}
    with client.pipeline() as p:
        for k in keys:
            p.set_key(k, b"v")
    client.set_key(prefix.rstrip(":"), b"not matched")
    found = list(client.scan_iter(prefix + "*", count=7))
    assert len(found) == len(set(found)) and set(found) == keys
    # One step at a time: a cursor that ends at 0, each step's keys matching.
    cursor, steps, seen = 0, 0, []
    while steps < 1000:
        cursor, page = client.scan(cursor, prefix + "1*", count=50)
        seen += page
        steps += 1
        if cursor == 0:
            break
    assert cursor == 0 and sorted(seen) == sorted(k for k in keys if k.startswith((prefix + "1").encode()))
    assert client.scan(0, prefix + "nothing*", count=1000)[1] == []
    assert client.stats()["ops_key_scan"] >= steps


def test_store_errors(client: sessiond.Client) -> None:
    with pytest.raises(sessiond.BadOwner) as bo:
        client.create(b"")
    assert (bo.value.length, bo.value.max) == (0, 256)
    with pytest.raises(sessiond.BadOwner):
        client.create(b"x" * 300)
    with pytest.raises(sessiond.TooLarge) as tl:
        client.set_key("k", b"x" * (1024 * 1024 + 1))
    assert tl.value.max == 1024 * 1024
    with pytest.raises(sessiond.BadKey) as bk:
        client.set_key(b"", b"v")
    assert (bk.value.length, bk.value.max) == (0, 4096)
    with pytest.raises(sessiond.BadKey):
        client.set_key(b"k" * 4097, b"")
    with pytest.raises(sessiond.BadLabels) as bl:
        client.create(owner(), labels={f"l{i}": "v" for i in range(17)})
    assert "label" in bl.value.message
    with pytest.raises(sessiond.BadTimeout):
        client.create(owner(), idle_timeout=0, lifetime=0)
    k = "n:" + uuid.uuid4().hex
    client.set_key(k, b"abc")
    with pytest.raises(sessiond.NotAnInteger):
        client.incr(k)
    client.set_key(k, str(2**63 - 1))
    with pytest.raises(sessiond.Overflow):
        client.incr(k)
    # all of these are ServerErrors and the pool is still fine
    client.ping()


def test_protocol_errors_on_raw_connection(daemon: Daemon) -> None:
    conn = Connection(sessiond.Client(daemon.url).options)
    with pytest.raises(sessiond.UnknownOp) as uo:
        protocol.ping().parse(conn.send_raw(b"\x7f"))
    assert uo.value.opcode == 0x7F
    with pytest.raises(sessiond.Malformed) as mf:
        protocol.ping().parse(conn.send_raw(bytes.fromhex("1100010203040506070809")))
    assert "truncated" in mf.value.message
    # framing is kept after MALFORMED: the next request works
    conn.call(protocol.ping())
    # a frame above max frame: the server answers FRAME_TOO_LARGE and closes
    conn.sock.sendall(struct.pack(">I", conn.hello.max_frame + 1))
    with pytest.raises(sessiond.FrameTooLarge) as ft:
        protocol.ping().parse(conn.read_body())
    assert ft.value.max == conn.hello.max_frame
    conn.close()


def test_client_refuses_oversized_frame_without_losing_connection(daemon: Daemon) -> None:
    with sessiond.Client(daemon.url, pool_size=1) as c:
        c.ping()
        with pytest.raises(sessiond.FrameTooLarge):
            c.set_key("big", b"x" * (3 * 1024 * 1024))
        c.ping()


def raw_handshake(port: int, hello: bytes) -> Tuple[bytes, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(hello)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data[:4], data[4:]
            data += chunk


def test_handshake_errors(daemon: Daemon) -> None:
    from sessiond.connection import hello_error

    first, rest = raw_handshake(daemon.port, b"SSNX\x00\x01\x00\x00")
    err = hello_error(first, rest)
    assert isinstance(err, sessiond.BadHandshake) and "magic" in err.message
    first, rest = raw_handshake(daemon.port, b"SSND\x00\x00\x00\x00")
    err = hello_error(first, rest)
    assert isinstance(err, (sessiond.UnsupportedVersion, sessiond.BadHandshake))
    if isinstance(err, sessiond.UnsupportedVersion):
        assert (err.lowest, err.highest) == (1, 1)
    first, rest = raw_handshake(daemon.port, b"SSND\x00\x01\x00\x07")
    assert isinstance(hello_error(first, rest), sessiond.BadHandshake)


def test_busy(make_daemon: Any) -> None:
    d = make_daemon(["--max-connections", "1"])
    with sessiond.Client(d.url, pool_size=1) as a:
        # the fixture's readiness probe holds the only slot until the server
        # notices it closed
        for _ in range(100):
            try:
                a.ping()
                break
            except sessiond.Busy:
                time.sleep(0.02)
        with sessiond.Client(d.url) as b:
            with pytest.raises(sessiond.Busy):
                b.ping()
        a.ping()


def test_out_of_memory(make_daemon: Any) -> None:
    d = make_daemon(["--memory-limit", "200000", "--memory-policy", "reject"])
    with sessiond.Client(d.url) as c:
        with pytest.raises(sessiond.OutOfMemory) as oom:
            for i in range(100):
                c.set_key(f"k{i}", b"x" * 10000)
        assert oom.value.limit == 200000 and oom.value.needed > 0


def test_pipeline(client: sessiond.Client) -> None:
    o = owner()
    with client.pipeline() as p:
        for i in range(50):
            p.create(o, str(i).encode())
        p.count(o)
    ids = p.results[:50]
    assert p.results[50] == 50 and len(set(ids)) == 50
    p2 = client.pipeline()
    for sid in ids:
        p2.get(sid, touch=False)
    p2.get_key("missing:" + uuid.uuid4().hex).set_key("pk", "1").incr("pk", 2)
    res = p2.execute()
    assert [s.data for s in res[:50]] == [str(i).encode() for i in range(50)]  # type: ignore[attr-defined]
    assert res[50:] == [None, None, 3]
    # an error in the middle: every reply is still read; errors in place
    p3 = client.pipeline().ping().get(b"\0" * 16).ping()
    out = p3.execute(raise_errors=False)
    assert out[0] is None and isinstance(out[1], sessiond.NotFound) and out[2] is None
    with pytest.raises(sessiond.NotFound):
        client.pipeline().ping().get(b"\0" * 16).ping().execute()
    client.ping()


def test_pool_is_thread_safe(daemon: Daemon) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with sessiond.Client(daemon.url, pool_size=4) as c:
        k = "ctr:" + uuid.uuid4().hex

        def work(_: int) -> None:
            for _ in range(50):
                c.incr(k)

        with ThreadPoolExecutor(8) as ex:
            list(ex.map(work, range(8)))
        assert c.get_key(k) == b"400"
        assert c.pool._open <= 4


def test_auth(make_daemon: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-padded-to-the-32-byte-minimum")
    d = make_daemon(["--auth-token-file", str(token_file)])
    with sessiond.Client(d.url, token="s3cret-token-padded-to-the-32-byte-minimum") as good:
        good.ping()
        assert good.create(owner(), b"x")
    with sessiond.Client(d.url) as missing:
        missing.ping()  # PING is answered before AUTH
        with pytest.raises(sessiond.AuthRequired):
            missing.create(owner())
        with pytest.raises(sessiond.AuthRequired):
            missing.stats()
    with sessiond.Client(d.url, token="wrong") as bad:
        with pytest.raises(sessiond.AuthFailed):
            bad.ping()
    with sessiond.Client(f"sessiond://:s3cret-token-padded-to-the-32-byte-minimum@127.0.0.1:{d.port}") as via_url:
        via_url.stats()


def test_tls(make_daemon: Any, tmp_path: Path) -> None:
    assert shutil.which("openssl"), "the TLS test needs the openssl CLI"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )
    d = make_daemon(["--tls-cert", str(cert), "--tls-key", str(key)])
    with sessiond.Client(f"sessiond+tls://localhost:{d.port}", ca_file=str(cert)) as c:
        sid = c.create(owner(), b"secret")
        assert c.get(sid).data == b"secret"
    # verification is on by default: the self-signed cert is refused
    with sessiond.Client(f"sessiond+tls://localhost:{d.port}") as unverified:
        with pytest.raises(sessiond.ConnectionError):
            unverified.ping()
    # a plain-text client against a TLS server fails clearly, not by hanging
    with sessiond.Client(f"sessiond://localhost:{d.port}", timeout=2, connect_timeout=2) as plain:
        with pytest.raises(sessiond.ClientError):
            plain.ping()


def test_server_killed_mid_request_then_pool_recovers(make_daemon: Any) -> None:
    d = make_daemon()
    with sessiond.Client(d.url, pool_size=2, timeout=5) as c:
        c.ping()
        conn = c.pool._checkout()
        conn.sock.sendall(protocol.ping().frame[:3])  # half a request in flight
        d.kill()
        with pytest.raises(sessiond.ConnectionError):
            conn.call(protocol.ping())
        c.pool._checkin(conn)
        with pytest.raises(sessiond.ConnectionError):
            c.ping()  # nobody listening
        d.start()  # same port
        c.ping()
        sid = c.create(owner(), b"after restart")
        assert c.get(sid).data == b"after restart"


def test_timeout(daemon: Daemon) -> None:
    # A listener that accepts but never answers the hello.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        with sessiond.Client(f"sessiond://127.0.0.1:{port}", connect_timeout=0.3) as c:
            t = time.monotonic()
            with pytest.raises(sessiond.TimeoutError):
                c.ping()
            assert time.monotonic() - t < 3


def test_connection_refused() -> None:
    from conftest import free_port

    with sessiond.Client(f"sessiond://127.0.0.1:{free_port()}") as c:
        with pytest.raises(sessiond.ConnectionError):
            c.ping()
    assert issubclass(sessiond.ConnectionError, ConnectionError)
    assert issubclass(errors.TimeoutError, TimeoutError)
