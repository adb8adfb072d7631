"""A thread-safe pool of blocking connections.

Each request borrows one connection for its whole exchange, so threads never
interleave frames on a socket. Broken connections are dropped instead of
returned, and idle ones the server closed are detected on checkout, which is
what makes the client reconnect by itself after a server restart.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, List

from . import errors
from .connection import Connection, Options


class PoolExhausted(errors.TimeoutError):
    """Every connection of the pool stayed busy for the whole timeout: the
    client is overloaded, not the server unreachable."""


class Pool:
    """At most ``max_size`` connections; callers wait (up to the timeout) for one."""

    def __init__(self, options: Options, max_size: int = 10) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.options = options
        self.max_size = max_size
        self._idle: List[Connection] = []
        self._open = 0
        self._cond = threading.Condition()
        self._closed = False

    def checkout(self) -> Connection:
        """A connection for one exchange; hand it back with :meth:`checkin`.

        Raises ConnectionError or TimeoutError when a new connection cannot
        be made (nothing was sent), PoolExhausted when none is free in time.
        """
        return self._checkout()

    def checkin(self, conn: Connection) -> None:
        self._checkin(conn)

    def _checkout(self) -> Connection:
        deadline = None if self.options.timeout is None else time.monotonic() + self.options.timeout
        with self._cond:
            while True:
                if self._closed:
                    raise errors.ConnectionError("the client is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if not conn.is_stale():
                        return conn
                    conn.close()
                    self._open -= 1
                if self._open < self.max_size:
                    self._open += 1
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise PoolExhausted("no connection free in the pool")
                self._cond.wait(remaining)
        # Connect outside the lock: it can take a while.
        try:
            return Connection(self.options)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _checkin(self, conn: Connection) -> None:
        with self._cond:
            if conn.broken or self._closed:
                conn.close()
                self._open -= 1
            else:
                self._idle.append(conn)
            self._cond.notify()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection; a failure mid-exchange discards it."""
        conn = self._checkout()
        try:
            yield conn
        except BaseException as exc:
            # A KeyboardInterrupt or any non-protocol failure between send and
            # read may leave an unread reply behind: the framing is unknown.
            if not isinstance(exc, errors.SessiondError):
                conn.broken = True
            raise
        finally:
            self._checkin(conn)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for conn in self._idle:
                conn.close()
            self._open -= len(self._idle)
            self._idle.clear()
            self._cond.notify_all()

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    def __repr__(self) -> str:
        return f"Pool({self.options.host}:{self.options.port}, open={self._open}, max={self.max_size})"


__all__ = ["Pool", "PoolExhausted"]
