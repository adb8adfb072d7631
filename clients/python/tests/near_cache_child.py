"""A process holding a near cache, driven by test_near_cache.py over a pipe.

``python near_cache_child.py URL MODE``: prints ``ready`` once its cache's
connection is registered, then answers one line per command line:

- ``get SID``: ``found HIT`` (HIT 1 if the near cache answered, 0 if the
  server did), ``notfound``, or ``error TEXT``;
- ``get2 SID``: two gets; ``cached`` if the second was a hit, ``uncached``
  if not, ``notfound`` if the session was not there;
- ``delete SID``: ``deleted SECONDS`` (how long the delete took);
- ``stats``: the near cache's counters as JSON;
- ``quit``: exits.

A process of its own, so that the test can stop it (SIGSTOP) while it holds
a session in memory, and so that several caches run truly apart.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import sessiond


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    client = sessiond.Client(url, near_cache=sessiond.NearCache(mode))
    if not client.wait_near_cache(10):
        print("error not registered", flush=True)
        return
    print("ready", flush=True)

    def get(sid: str) -> str:
        hits = client.near_cache_stats().hits
        try:
            client.get(sid)
        except sessiond.NotFound:
            return "notfound"
        return f"found {client.near_cache_stats().hits - hits}"

    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "get":
                out = get(arg)
            elif cmd == "get2":
                first = get(arg)
                second = get(arg) if first != "notfound" else first
                out = "notfound" if second == "notfound" else ("cached" if second == "found 1" else "uncached")
            elif cmd == "delete":
                start = time.perf_counter()
                client.delete(arg)
                out = f"deleted {time.perf_counter() - start:.6f}"
            elif cmd == "stats":
                out = json.dumps(dataclasses.asdict(client.near_cache_stats()))
            elif cmd == "quit":
                break
            else:
                out = f"error unknown command {cmd!r}"
        except sessiond.SessiondError as exc:
            out = f"error {exc!r}"
        print(out, flush=True)
    client.close()


if __name__ == "__main__":
    main()
