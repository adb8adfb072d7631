"""Fixtures: a live sessiond daemon per test session (and more on demand).

Nothing is built here: the binary comes from $SESSIOND_BIN, or the cargo
target directory. A missing binary fails loudly rather than skipping, so the
live tests can never be silently absent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]


def find_binary() -> Path:
    candidates: List[Path] = []
    if os.environ.get("SESSIOND_BIN"):
        candidates.append(Path(os.environ["SESSIOND_BIN"]))
    else:
        roots = []
        if os.environ.get("CARGO_TARGET_DIR"):
            roots.append(Path(os.environ["CARGO_TARGET_DIR"]))
        roots.append(REPO / "target")
        for root in roots:
            candidates += [root / "debug" / "sessiond", root / "release" / "sessiond"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise RuntimeError(
        "sessiond binary not found (looked at: "
        + ", ".join(str(c) for c in candidates)
        + "). Build it with `cargo build --bin sessiond` or set SESSIOND_BIN."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """A sessiond process on a fixed port, restartable on that same port."""

    def __init__(self, args: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> None:
        self.binary = find_binary()
        self.port = free_port()
        self.args = list(args or [])
        self.env = dict(os.environ, **(env or {}))
        if "SESSIOND_AUTH_TOKEN" not in (env or {}):
            self.env.pop("SESSIOND_AUTH_TOKEN", None)
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def url(self) -> str:
        return f"sessiond://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [str(self.binary), "--listen", f"127.0.0.1:{self.port}", "--log-level", "warn", *self.args]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"sessiond exited with {self.proc.returncode}: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"sessiond did not listen on port {self.port} within 15 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self.kill()


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    d = Daemon()
    yield d
    d.stop()


class RespDaemon(Daemon):
    """A daemon with its Redis-protocol listener on a port of its own."""

    def __init__(self, args: Optional[List[str]] = None) -> None:
        self.resp_port = free_port()
        super().__init__(args=["--resp-listen", f"127.0.0.1:{self.resp_port}", *(args or [])])
        socket.create_connection(("127.0.0.1", self.resp_port), timeout=5).close()


@pytest.fixture(scope="module")
def resp_daemon() -> Iterator[RespDaemon]:
    d = RespDaemon()
    yield d
    d.stop()


@pytest.fixture
def make_daemon() -> Iterator["type[Daemon]"]:
    started: List[Daemon] = []

    class Tracked(Daemon):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, **k)  # type: ignore[arg-type]
            started.append(self)

    yield Tracked
    for d in started:
        d.stop()
