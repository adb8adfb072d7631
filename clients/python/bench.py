"""Throughput of the Python clients in one process against a running daemon.

    python clients/python/bench.py [URL] [N]

Measures N session GETs: one at a time (blocking), pipelined in batches of
100 (blocking), from 100 concurrent asyncio tasks on one connection, and
answered by a strict near cache (hits; the daemon needs CACHE_REGISTER).
"""

from __future__ import annotations

import asyncio
import sys
import time

import sessiond


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "sessiond://127.0.0.1:7878"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    with sessiond.Client(url, pool_size=1) as c:
        sid = c.create("bench", b"x" * 100)
        t = time.perf_counter()
        for _ in range(n):
            c.get(sid, touch=False)
        report("blocking, sequential", n, t)
        t = time.perf_counter()
        for _ in range(n // 100):
            p = c.pipeline()
            for _ in range(100):
                p.get(sid, touch=False)
            p.execute()
        report("blocking, pipelined x100", n, t)
    with sessiond.Client(url, pool_size=1, near_cache=sessiond.NearCache("strict")) as c:
        if not c.wait_near_cache(5):
            raise SystemExit("the near cache did not register (a server without CACHE_REGISTER?)")
        c.get(sid, touch=False)  # the miss that fills it
        t = time.perf_counter()
        for _ in range(n):
            c.get(sid, touch=False)
        report("near cache hits, sequential", n, t)

    async def run() -> None:
        async with sessiond.AsyncClient(url) as ac:
            async def worker(k: int) -> None:
                for _ in range(k):
                    await ac.get(sid, touch=False)

            t = time.perf_counter()
            await asyncio.gather(*(worker(n // 100) for _ in range(100)))
            report("asyncio, 100 tasks", n, t)
            t = time.perf_counter()
            for _ in range(n):
                await ac.get(sid, touch=False)
            report("asyncio, sequential", n, t)

    asyncio.run(run())


def report(name: str, n: int, start: float) -> None:
    dt = time.perf_counter() - start
    print(f"{name:28s} {n / dt:10.0f} ops/s")


if __name__ == "__main__":
    main()
