"""The blocking client in front of a replication group of fake servers:
redirects, moving to another member, bounded retries, and CREATE keeping
its id across an unknown outcome. The fakes speak the real handshake and
frames through the package's own server-direction codec."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import sessiond
from sessiond import errors, protocol
from sessiond.failover import candidates, replayable, split_address
from sessiond.types import ServerHello

#: A handler's answer that closes the connection instead of replying.
CLOSE = b""

Handler = Callable[[str, Dict[str, Any]], bytes]


class FakeServer:
    """A sessiond look-alike on 127.0.0.1: one thread per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: List[Tuple[str, Dict[str, Any]]] = []
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self._open: List[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = conn.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._read(conn, 8)
            conn.sendall(protocol.server_hello(ServerHello(1, False, 2 * 1024 * 1024)))
            while True:
                (length,) = struct.unpack(">I", self._read(conn, 4))
                name, fields = protocol.decode_request(self._read(conn, length))
                self.requests.append((name, fields))
                answer = self.handler(name, fields)
                if answer == CLOSE:
                    conn.close()
                    return
                conn.sendall(answer)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def names(self) -> List[str]:
        return [name for name, _ in self.requests]

    def stop(self) -> None:
        self._stopped = True
        # shutdown wakes the thread blocked in accept (close alone does not,
        # and the socket would go on accepting).
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


def ok(tag: int, build: Optional[Callable[[protocol.Writer], Any]] = None) -> bytes:
    return protocol.encode_ok(tag, build)


def echo(name: str, f: Dict[str, Any]) -> bytes:
    """KEY_GET k answers k; PING, KEY_SET and the rest answer DONE."""
    if name == "key_get":
        return ok(protocol.TAG_VALUE, lambda w: w.u8(1).bytes32(f["key"]))
    return ok(protocol.TAG_DONE)


def not_leader(leader: str) -> Handler:
    return lambda name, f: protocol.encode_error(errors.NotLeader("not the leader", {"leader": leader}))


def unavailable() -> bytes:
    return protocol.encode_error(errors.Unavailable("unavailable: no quorum"))


def dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


QUICK = sessiond.Retry(attempts=20, total=5.0, backoff_min=0.01, backoff_max=0.04)


@pytest.fixture
def servers() -> Any:
    started: List[FakeServer] = []

    def start(handler: Handler) -> FakeServer:
        server = FakeServer(handler)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_a_redirect_is_followed_to_the_leader_it_names(servers: Any) -> None:
    leader = servers(echo)
    follower = servers(not_leader(leader.address))
    with sessiond.Client(f"sessiond://{follower.address}", retry=QUICK) as c:
        assert c.get_key(b"k") == b"k"
        assert c.current_address == leader.address
        c.set_key(b"k", b"v")
    assert follower.names() == ["key_get"]
    assert leader.names() == ["key_get", "key_set"]


def test_a_redirect_is_safe_even_for_incr(servers: Any) -> None:
    leader = servers(lambda name, f: ok(protocol.TAG_INTEGER, lambda w: w.i64(f["delta"])))
    follower = servers(not_leader(leader.address))
    with sessiond.Client([follower.address], retry=QUICK) as c:
        assert c.incr(b"n", 3) == 3
    assert leader.names() == ["key_incr"]


def test_no_leader_known_tries_the_next_address(servers: Any) -> None:
    electing = servers(not_leader(""))
    other = servers(echo)
    with sessiond.Client([electing.address, other.address], retry=QUICK) as c:
        assert c.get_key(b"k") == b"k"
        assert c.current_address == other.address


def test_an_unreachable_leader_or_member_is_skipped(servers: Any) -> None:
    follower = servers(not_leader(dead_address()))
    other = servers(echo)
    with sessiond.Client(addresses=[dead_address(), follower.address, other.address], retry=QUICK) as c:
        assert c.get_key(b"k") == b"k"
        assert c.current_address == other.address


def test_a_dead_node_is_left_for_another_member(servers: Any) -> None:
    first = servers(echo)
    second = servers(echo)
    with sessiond.Client([first.address, second.address], retry=QUICK) as c:
        assert c.get_key(b"a") == b"a"
        first.stop()
        assert c.get_key(b"b") == b"b"
        assert c.current_address == second.address


def test_unavailable_is_retried_for_a_read_and_raised_for_incr(servers: Any) -> None:
    seen = {"gets": 0}

    def handler(name: str, f: Dict[str, Any]) -> bytes:
        if name == "key_get":
            seen["gets"] += 1
            return unavailable() if seen["gets"] <= 2 else echo(name, f)
        return unavailable()

    server = servers(handler)
    with sessiond.Client(server.address, retry=QUICK) as c:
        assert c.get_key(b"k") == b"k"
        assert seen["gets"] == 3
        with pytest.raises(sessiond.Unavailable):
            c.incr(b"n")
    assert server.names().count("key_incr") == 1


def create_dropped_once() -> Tuple[Handler, List[Optional[str]]]:
    """Drops the connection on the first CREATE (as if it was applied), then
    answers ID_TAKEN, as a store that kept the first attempt's session."""
    ids: List[Optional[str]] = []

    def handler(name: str, f: Dict[str, Any]) -> bytes:
        if name != "create":
            return ok(protocol.TAG_DONE)
        ids.append(f["id"])
        if len(ids) == 1:
            return CLOSE
        return protocol.encode_error(errors.IdTaken("id taken"))

    return handler, ids


def test_a_create_retried_after_a_drop_keeps_its_id_and_takes_id_taken_as_success(servers: Any) -> None:
    handler, ids = create_dropped_once()
    server = servers(handler)
    with sessiond.Client(server.address, retry=QUICK) as c:
        sid = c.create("u")
    assert ids == [sid, sid]


def test_a_callers_own_id_is_kept_too(servers: Any) -> None:
    handler, ids = create_dropped_once()
    server = servers(handler)
    mine = protocol.id_to_text(bytes(range(16)))
    with sessiond.Client(server.address, retry=QUICK) as c:
        assert c.create("u", session_id=mine) == mine
    assert ids == [mine, mine]


def test_id_taken_without_an_unknown_outcome_draws_again(servers: Any) -> None:
    ids: List[str] = []

    def handler(name: str, f: Dict[str, Any]) -> bytes:
        ids.append(f["id"])
        if len(ids) == 1:
            return protocol.encode_error(errors.IdTaken("id taken"))
        return ok(protocol.TAG_ID, lambda w: w.raw(protocol.id_bytes(f["id"])))

    server = servers(handler)
    with sessiond.Client(server.address, retry=QUICK) as c:
        sid = c.create("u")
    assert len(ids) == 2 and ids[0] != ids[1] and sid == ids[1]


def test_a_lost_incr_is_not_sent_again(servers: Any) -> None:
    server = servers(lambda name, f: CLOSE)
    with sessiond.Client(server.address, retry=QUICK) as c:
        with pytest.raises(sessiond.ConnectionError):
            c.incr(b"n")
    assert server.names() == ["key_incr"]


def test_retries_give_up_after_their_attempts(servers: Any) -> None:
    server = servers(lambda name, f: unavailable())
    retry = sessiond.Retry(attempts=4, total=10.0, backoff_min=0.01, backoff_max=0.02)
    with sessiond.Client(server.address, retry=retry) as c:
        with pytest.raises(sessiond.GaveUp) as info:
            c.set_key(b"k", b"v")
    err = info.value
    assert err.attempts == 4 and err.outcome_unknown
    assert isinstance(err.last, sessiond.Unavailable)
    assert "gave up after 4 attempts" in str(err) and "no quorum" in str(err)
    assert len(server.requests) == 4


def test_retries_give_up_after_their_total_time(servers: Any) -> None:
    a, b = servers(not_leader("")), servers(not_leader(""))
    retry = sessiond.Retry(attempts=1000, total=0.4, backoff_min=0.01, backoff_max=0.04)
    with sessiond.Client([a.address, b.address], retry=retry) as c:
        start = time.monotonic()
        with pytest.raises(sessiond.GaveUp) as info:
            c.get_key(b"k")
        took = time.monotonic() - start
    assert 0.4 <= took < 3.0
    assert not info.value.outcome_unknown
    assert isinstance(info.value.last, sessiond.NotLeader)
    assert a.requests and b.requests


def test_retry_never_raises_the_redirect_as_it_came(servers: Any) -> None:
    leader = servers(echo)
    follower = servers(not_leader(leader.address))
    with sessiond.Client(follower.address, retry=sessiond.Retry.never()) as c:
        with pytest.raises(sessiond.NotLeader) as info:
            c.get_key(b"k")
    assert info.value.leader == leader.address


def test_many_threads_move_to_the_leader_once(servers: Any) -> None:
    leader = servers(echo)
    follower = servers(not_leader(leader.address))
    failures: List[BaseException] = []
    with sessiond.Client(follower.address, retry=QUICK, pool_size=4) as c:

        def work(i: int) -> None:
            try:
                for j in range(20):
                    key = f"k{i}-{j}".encode()
                    assert c.get_key(key) == key
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures
    assert len(leader.requests) == 160
    assert leader.connections <= 5  # the probe plus the pool's four


def test_membership_requests(servers: Any) -> None:
    def handler(name: str, f: Dict[str, Any]) -> bytes:
        if name == "node_remove":
            return protocol.encode_error(errors.Unavailable("unavailable: not in a replication group"))
        return ok(protocol.TAG_DONE)

    server = servers(handler)
    with sessiond.Client(server.address, retry=QUICK) as c:
        c.add_node(4, "192.0.2.14:7900")
        with pytest.raises(sessiond.Unavailable):
            c.remove_node(2)
    assert server.requests == [("node_add", {"id": 4, "raft_addr": "192.0.2.14:7900"}), ("node_remove", {"id": 2})]


def test_the_rules() -> None:
    incr = protocol.key_incr(b"k", 1).frame
    assert not replayable(incr)
    assert replayable(protocol.key_set(b"k", b"v").frame)
    assert replayable(protocol.update(bytes(16), b"d", 3).frame)
    assert not replayable(protocol.update(bytes(16), b"d").frame)
    assert not replayable(protocol.rotate(bytes(16)).frame)
    assert split_address("[::1]:9") == ("::1", 9)
    assert split_address("h") == ("h", 7878)
    group = ["a:1", "b:1", "c:1"]
    assert candidates(group, "b:1", None, False) == ["c:1", "a:1"]
    assert candidates(group, "b:1", None, True) == ["c:1", "a:1", "b:1"]
    assert candidates(group, "b:1", "x:1", False) == ["x:1", "c:1", "a:1"]
    # A single URL keeps its meaning; lists and addresses= name members.
    assert sessiond.Client("sessiond://h:1").addresses == ["h:1"]
    assert sessiond.Client(["h:1", "sessiond://g:2"]).addresses == ["h:1", "g:2"]
    assert sessiond.Client("sessiond://h:1", addresses=["g:2"]).addresses == ["h:1", "g:2"]
