"""The asyncio client: the same operations, concurrent tasks on one
connection (FIFO matching), pipelines, errors and reconnect."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import sessiond
from conftest import Daemon


def test_async_operations_and_concurrency(daemon: Daemon) -> None:
    async def main() -> None:
        async with sessiond.AsyncClient(daemon.url) as c:
            o = "user:" + uuid.uuid4().hex
            await c.ping()
            sid = await c.create(o, b"d", labels={"ua": "x"}, idle_timeout=60)
            s = await c.get(sid)
            assert s.data == b"d" and (await c.get(sid, touch=False)).version == 1
            assert await c.update(sid, b"e", expected_version=1) == 2
            with pytest.raises(sessiond.VersionMismatch):
                await c.update(sid, b"f", expected_version=1)
            assert await c.touch(sid) > 0
            sid = await c.rotate(sid)
            assert await c.count(o) == 1 and len(await c.list(o)) == 1
            assert await c.delete_owner(o) == 1 and await c.delete(sid) is False
            k = "k:" + uuid.uuid4().hex
            await c.set_key(k, b"1", ttl=60)
            assert (await c.ttl(k)).kind == "expires" and await c.expire_key(k, None)
            assert await c.get_key(k) == b"1" and await c.incr(k, 4) == 5
            assert await c.delete_key(k) is True
            await c.set_key(k + ":a", b"1")
            await c.set_key(k + ":b", b"2")
            assert sorted([key async for key in c.scan_iter(k + ":*", count=3)]) == [
                (k + ":a").encode(),
                (k + ":b").encode(),
            ]
            assert "sessions" in await c.stats()
            # 200 concurrent tasks share one connection; each gets its own reply
            ids = await asyncio.gather(*(c.create(o, str(i).encode()) for i in range(200)))
            datas = await asyncio.gather(*(c.get(i, touch=False) for i in ids))
            assert [d.data for d in datas] == [str(i).encode() for i in range(200)]
            assert len(c._conns) == 1
            errs = await asyncio.gather(c.get(b"\0" * 16), c.ping(), return_exceptions=True)
            assert isinstance(errs[0], sessiond.NotFound) and errs[1] is None
            async with c.pipeline() as p:
                p.count(o).get_key("nope:" + uuid.uuid4().hex)
            assert p.results == [200, None]

    asyncio.run(main())


def test_async_auth_tls_like_errors_and_reconnect(make_daemon: Any, tmp_path: Any) -> None:
    tok = tmp_path / "t"
    tok.write_text("tok-padded-to-the-32-byte-minimum")
    d = make_daemon(["--auth-token-file", str(tok)])

    async def main() -> None:
        async with sessiond.AsyncClient(d.url, token="tok-padded-to-the-32-byte-minimum") as c:
            await c.stats()
            d.kill()
            with pytest.raises(sessiond.ConnectionError):
                await c.stats()
            d.start()
            await c.stats()  # reconnects
        async with sessiond.AsyncClient(d.url) as c:
            with pytest.raises(sessiond.AuthRequired):
                await c.stats()
        async with sessiond.AsyncClient(d.url, token="bad") as c:
            with pytest.raises(sessiond.AuthFailed):
                await c.ping()

    asyncio.run(main())
