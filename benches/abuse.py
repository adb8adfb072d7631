"""The abuse scenarios of benches/abuse.sh, against a running sessiond.

Each scenario prints its figures as one line of JSON and exits non-zero
(after all have run) if one misses its bar. Standard library only.

    python3 benches/abuse.py PID NATIVE_PORT RESP_PORT TOKEN_FILE
"""

import asyncio
import json
import os
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
MIB = 1024 * 1024


def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def resp_call(reader, writer, line):
    writer.write(line)
    await writer.drain()
    return await reader.readline()


async def authed_resp(port, token):
    reader, writer = await asyncio.open_connection(HOST, port)
    answer = await resp_call(reader, writer, b"AUTH " + token + b"\r\n")
    assert answer == b"+OK\r\n", answer
    return reader, writer


async def stats(port, token):
    """STATS over the native protocol: name -> value."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"SSND\x00\x01\x00\x00")
    await reader.readexactly(16)
    auth = bytes([0x02]) + struct.pack(">H", len(token)) + token
    writer.write(struct.pack(">I", len(auth)) + auth + struct.pack(">I", 1) + b"\x03")
    await writer.drain()
    for _ in range(2):
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        body = await reader.readexactly(length)
    writer.close()
    # Status 0, the STATS tag, then the count.
    assert body[:2] == b"\x00\x0b", body[:2]
    (count,) = struct.unpack(">H", body[2:4])
    out, at = {}, 4
    for _ in range(count):
        n = body[at]
        name = body[at + 1 : at + 1 + n].decode()
        at += 1 + n
        (value,) = struct.unpack(">Q", body[at : at + 8])
        at += 8
        out[name] = value
    return out


async def streamer(port, kind, total):
    """Sends one request of `total` bytes without authenticating; returns
    (bytes sent before the server closed, seconds, closed)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    if kind == "native":
        writer.write(b"SSND\x00\x01\x00\x00")
        await reader.readexactly(16)
        head = struct.pack(">I", total) + b"\x20"
    elif kind == "multibulk":
        head = b"*1000\r\n$1048576\r\n"
    elif kind == "bulk":
        head = b"*2\r\n$3\r\nSET\r\n$%d\r\n" % total
    else:  # inline, no newline ever
        head = b"SET k "
    chunk = b"a" * (256 * 1024)
    sent = 0
    try:
        writer.write(head)
        while sent < total:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 15)
            sent += len(chunk)
        # Everything sent: the server must still close us.
        closed = await asyncio.wait_for(reader.read(), 15) is not None
    except (ConnectionError, asyncio.IncompleteReadError):
        closed = True
    except asyncio.TimeoutError:
        closed = False
    writer.close()
    return sent, time.monotonic() - started, closed


async def streamers(pid, native, resp, count, size):
    before = rss(pid)
    peak = before
    kinds = ["multibulk", "bulk", "inline", "native"]
    tasks = [
        asyncio.create_task(streamer(native if kinds[i % 4] == "native" else resp, kinds[i % 4], size))
        for i in range(count)
    ]
    while not all(t.done() for t in tasks):
        peak = max(peak, rss(pid))
        await asyncio.sleep(0.02)
    results = [t.result() for t in tasks]
    growth = peak - before
    figures = {
        "scenario": "unauthenticated streamers",
        "connections": count,
        "request_bytes": size,
        "closed": sum(1 for _, _, c in results if c),
        "most_sent_before_close": max(s for s, _, _ in results),
        "slowest_close_s": round(max(t for _, t, _ in results), 3),
        "rss_before_mb": round(before / 1e6, 1),
        "rss_peak_growth_mb": round(growth / 1e6, 1),
    }
    figures["pass"] = figures["closed"] == count and growth < 100e6
    return figures


async def ping_latency(port, token, rounds):
    reader, writer = await authed_resp(port, token)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        answer = await resp_call(reader, writer, b"PING\r\n")
        times.append(time.perf_counter() - start)
        assert answer == b"+PONG\r\n", answer
    writer.close()
    times.sort()
    return times


async def idle(pid, native, resp, token, count):
    held = []
    started = time.monotonic()
    for start in range(0, count, 500):
        batch = await asyncio.gather(*(authed_resp(resp, token) for _ in range(min(500, count - start))))
        held.extend(batch)
    opened = time.monotonic() - started
    await asyncio.sleep(1)
    server = await stats(native, token)
    times = await ping_latency(resp, token, 1000)
    # The idle ones are all still there.
    alive = 0
    for reader, writer in held[:: max(1, count // 200)]:
        alive += (await resp_call(reader, writer, b"PING\r\n")) == b"+PONG\r\n"
    for _, writer in held:
        writer.close()
    figures = {
        "scenario": "idle connections",
        "connections": count,
        "opened_in_s": round(opened, 2),
        "server_connections": server["connections"],
        "connection_buffer_bytes": server["connection_buffer_bytes"],
        "rss_mb": round(rss(pid) / 1e6, 1),
        "ping_p50_ms": round(times[len(times) // 2] * 1e3, 3),
        "ping_p99_ms": round(times[int(len(times) * 0.99)] * 1e3, 3),
        "ping_max_ms": round(times[-1] * 1e3, 3),
        "sampled_idle_alive": alive,
    }
    figures["pass"] = server["connections"] >= count and times[-1] < 0.010
    return figures


async def trickle(port, deadline):
    """Connects, sends a byte a second, never authenticates; returns how
    long until the server closed (None: not within deadline + 10 s)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return None
    try:
        while time.monotonic() - started < deadline + 10:
            writer.write(b"P")
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(64), 1)
                if data == b"":
                    return time.monotonic() - started
            except asyncio.TimeoutError:
                pass
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()
    return None


async def tricklers(native, resp, token, count, deadline):
    results = await asyncio.gather(*(trickle(resp, deadline) for _ in range(count)))
    closed = [r for r in results if r is not None]
    server = await stats(native, token)
    figures = {
        "scenario": "one byte a second, never authenticating",
        "connections": count,
        "handshake_timeout_s": deadline,
        "closed": len(closed),
        "first_close_s": round(min(closed), 2) if closed else None,
        "last_close_s": round(max(closed), 2) if closed else None,
        "closed_auth_timeout": server["closed_auth_timeout"],
    }
    figures["pass"] = (
        len(closed) == count and min(closed) >= deadline - 0.5 and max(closed) < deadline + 2.5
    )
    return figures


async def non_reader(pid, native, resp, token, cap):
    reader, writer = await authed_resp(resp, token)
    value = b"v" * MIB
    writer.write(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(value), value))
    await writer.drain()
    assert await reader.readline() == b"+OK\r\n"
    before = (await stats(native, token))["closed_output_limit"]
    rss_before = rss(pid)
    peak = rss_before
    # Another client, served all along: PINGs, timed.
    pings = []
    done = asyncio.Event()

    async def other():
        while not done.is_set():
            start = time.perf_counter()
            assert await resp_call(reader, writer, b"PING\r\n") == b"+PONG\r\n"
            pings.append(time.perf_counter() - start)
            await asyncio.sleep(0.005)

    pinger = asyncio.create_task(other())
    # The greedy client: GETs of the 1 MB value, pipelined, never read.
    g_reader, g_writer = await authed_resp(resp, token)
    started = time.monotonic()
    disconnected_after = None
    sent = 0
    while time.monotonic() - started < 30:
        try:
            g_writer.write(b"GET big\r\n" * 10)
            sent += 10
            await asyncio.wait_for(g_writer.drain(), 0.05)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        peak = max(peak, rss(pid))
        if (await stats(native, token))["closed_output_limit"] > before:
            disconnected_after = time.monotonic() - started
            break
    done.set()
    await pinger
    writer.close()
    g_writer.close()
    figures = {
        "scenario": "pipelined GETs of a 1 MB value, never read",
        "max_output_buffer": cap,
        "gets_sent": sent,
        "disconnected_after_s": None if disconnected_after is None else round(disconnected_after, 2),
        "rss_peak_growth_mb": round((peak - rss_before) / 1e6, 1),
        "other_client_pings": len(pings),
        "other_client_ping_max_ms": round(max(pings) * 1e3, 3) if pings else None,
    }
    figures["pass"] = (
        disconnected_after is not None and pings and peak - rss_before < cap + 32 * MIB
    )
    return figures


async def main():
    pid, native, resp, token_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    token = open(token_file, "rb").read().strip()
    deadline = float(os.environ.get("HANDSHAKE_TIMEOUT", "10"))
    cap = int(os.environ.get("MAX_OUTPUT_BUFFER", str(64 * MIB)))
    results = [
        await streamers(pid, native, resp, 100, 100 * MIB),
        await idle(pid, native, resp, token, int(os.environ.get("IDLE", "10000"))),
        await tricklers(native, resp, token, int(os.environ.get("TRICKLE", "2000")), deadline),
        await non_reader(pid, native, resp, token, cap),
    ]
    for figures in results:
        print(json.dumps(figures))
    sys.exit(0 if all(f["pass"] for f in results) else 1)


asyncio.run(main())
