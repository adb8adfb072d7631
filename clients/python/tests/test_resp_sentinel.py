"""redis-py's Sentinel, unchanged, against a daemon without peers.

Every node answers SENTINEL for its group under the master name
``sessiond``; a node alone is that master. An application configured for
Redis Sentinel lists the nodes' RESP addresses as its sentinels and asks
for ``master_for("sessiond")``: this is that, over RESP2 and RESP3.
"""

from __future__ import annotations

import pytest
import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from conftest import RespDaemon


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_master_for_reads_and_writes(resp_daemon: RespDaemon, protocol: int) -> None:
    address = ("127.0.0.1", resp_daemon.resp_port)
    sentinel = Sentinel([address], protocol=protocol, sentinel_kwargs={"protocol": protocol})
    assert sentinel.discover_master("sessiond") == address
    # A node alone has no replicas and no other sentinels.
    assert sentinel.discover_slaves("sessiond") == []
    master = sentinel.master_for("sessiond", socket_timeout=5)
    assert master.set("sess:sentinel", b'{"user":9}', ex=60) is True
    assert master.get("sess:sentinel") == b'{"user":9}'
    assert master.delete("sess:sentinel") == 1
    master.close()


def test_sentinel_replies_parse_as_redis_ones(resp_daemon: RespDaemon) -> None:
    sentinel_node: "redis.Redis[bytes]" = redis.Redis(host="127.0.0.1", port=resp_daemon.resp_port)
    masters = sentinel_node.sentinel_masters()
    state = masters["sessiond"]
    assert state["is_master"] and not state["is_sdown"] and not state["is_odown"]
    assert state["ip"] == "127.0.0.1" and state["port"] == resp_daemon.resp_port
    assert state["num-other-sentinels"] == 0 and state["num-slaves"] == 0
    assert sentinel_node.sentinel_master("sessiond")["port"] == resp_daemon.resp_port
    assert sentinel_node.sentinel_slaves("sessiond") == []
    assert sentinel_node.sentinel_sentinels("sessiond") == []
    assert sentinel_node.sentinel_get_master_addr_by_name("sessiond") == (b"127.0.0.1", resp_daemon.resp_port)
    with pytest.raises(redis.ResponseError, match="No such master with that name"):
        sentinel_node.sentinel_master("Sessiond")
    role = sentinel_node.execute_command("ROLE")
    assert role == [b"master", 0, []]
    assert sentinel_node.info("replication")["role"] == "master"
    sentinel_node.close()


def test_an_unknown_master_name_is_not_found(resp_daemon: RespDaemon) -> None:
    sentinel = Sentinel([("127.0.0.1", resp_daemon.resp_port)])
    with pytest.raises(MasterNotFoundError):
        sentinel.discover_master("other")
