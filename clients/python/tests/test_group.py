"""A replication group of three daemons, through what Python users run:
this package's client given every node, and redis-py's Sentinel support
given every node's RESP address as its sentinels.

The leader is killed (SIGKILL) in the middle of the writes; every login and
logout the client saw acknowledged must hold on the new leader.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Iterator, List, Optional, Tuple

import pytest
import redis
from redis.sentinel import Sentinel

import sessiond
from conftest import Daemon, free_port

ELECTION_S = 10.0


class Node(Daemon):
    """One member: native, RESP and raft ports of its own."""

    def __init__(self, node_id: int, raft: List[int], data_dir: str) -> None:
        self.node_id = node_id
        self.resp_port = free_port()
        peers: List[str] = []
        for other, port in enumerate(raft, start=1):
            if other != node_id:
                peers += ["--peer", f"{other}=127.0.0.1:{port}"]
        super().__init__(
            args=[
                "--node-id", str(node_id),
                "--raft-listen", f"127.0.0.1:{raft[node_id - 1]}",
                "--resp-listen", f"127.0.0.1:{self.resp_port}",
                "--data-dir", data_dir,
                *peers,
            ]
        )

    def role(self) -> Optional[str]:
        try:
            r: "redis.Redis[bytes]" = redis.Redis(port=self.resp_port, socket_timeout=1)
            role = r.execute_command("ROLE")[0]
            r.close()
            return role.decode() if isinstance(role, bytes) else str(role)
        except redis.RedisError:
            return None


@pytest.fixture
def group(tmp_path: "os.PathLike[str]") -> Iterator[List[Node]]:
    raft = [free_port() for _ in range(3)]
    nodes = [Node(i, raft, os.path.join(str(tmp_path), f"node-{i}")) for i in (1, 2, 3)]
    yield nodes
    for node in nodes:
        node.stop()


def leader_of(nodes: List[Node]) -> Node:
    deadline = time.monotonic() + ELECTION_S
    while time.monotonic() < deadline:
        for node in nodes:
            if node.proc is not None and node.role() == "master":
                return node
        time.sleep(0.05)
    raise AssertionError("no leader elected within 10 s")


def test_the_client_given_every_node_rides_out_a_leader_kill(group: List[Node]) -> None:
    leader = leader_of(group)
    # Listed follower first: the first request is redirected.
    addresses = [f"127.0.0.1:{n.port}" for n in sorted(group, key=lambda n: n is leader)]
    client = sessiond.Client(addresses)
    kept: List[Tuple[str, bytes]] = []
    revoked: List[str] = []
    for i in range(40):
        if i == 20:
            leader.kill()
        sid = client.create(f"user{i}", data=b"cart")
        if i % 4 == 0:
            assert client.delete(sid) is True
            revoked.append(sid)
        else:
            kept.append((sid, f"user{i}".encode()))
    for sid, owner in kept:
        assert client.get(sid, touch=False).owner == owner
    for sid in revoked:
        with pytest.raises(sessiond.NotFound):
            client.get(sid, touch=False)
    client.close()


def test_redis_py_sentinel_finds_the_leader_and_follows_a_failover(group: List[Node]) -> None:
    sentinels: List[Tuple[str, int]] = [("127.0.0.1", n.resp_port) for n in group]
    sentinel = Sentinel(sentinels, socket_timeout=2)
    leader = leader_of(group)
    deadline = time.monotonic() + ELECTION_S
    while sentinel.discover_master("sessiond") != ("127.0.0.1", leader.resp_port):
        assert time.monotonic() < deadline, "discover_master never named the leader"
        time.sleep(0.05)
    # Each node learns where its peers' clients connect within a moment.
    expected = sorted(n.resp_port for n in group if n is not leader)
    while sorted(port for _, port in sentinel.discover_slaves("sessiond")) != expected:
        assert time.monotonic() < deadline, "discover_slaves never named both replicas"
        time.sleep(0.05)
    master = sentinel.master_for("sessiond", socket_timeout=2)
    assert master.set("sess:a", b"alice", ex=600) is True
    leader.kill()
    # redis-py re-discovers the master after a connection error or a
    # READONLY reply; an application retries the failed command.
    deadline = time.monotonic() + ELECTION_S
    while True:
        try:
            assert master.set("sess:b", b"bob", ex=600) is True
            break
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, redis.ResponseError):
            assert time.monotonic() < deadline, "no write succeeded after the failover"
            time.sleep(0.1)
    assert master.get("sess:a") == b"alice", "the write before the kill survived"
    assert master.get("sess:b") == b"bob"
    new_leader = leader_of([n for n in group if n is not leader])
    assert sentinel.discover_master("sessiond") == ("127.0.0.1", new_leader.resp_port)
    master.close()
