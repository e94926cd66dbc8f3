"""Bounds on how long a process waits for its database.

* ``statement_timeout``: PostgreSQL ends any statement of this process that
  runs longer (set per process, before its first connection: the gateway,
  the HL7 listener and the web app each choose their own).
* ``deadline``: the process stops waiting for an answer itself. A server
  that does not answer at all (frozen, or a network path that drops packets)
  cannot enforce its own statement_timeout, and libpq would wait for ever; a
  watchdog thread shuts the connection's socket down when the deadline
  passes, so the blocked call raises and the caller answers with an error.

Hand-written: psycopg has a connect timeout but no per-query one on a
blocking connection, and cancel() needs the server to answer too.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)


def set_statement_timeout(milliseconds: int, alias: str = "default") -> None:
    """Every new PostgreSQL session of this process gets this statement_timeout
    (0: none). Call before the process's first connection (with a pool: before
    the pool is made)."""
    wrapper = connections[alias]
    if wrapper.vendor != "postgresql":
        return
    options = wrapper.settings_dict.setdefault("OPTIONS", {})
    current = " ".join(
        part for part in str(options.get("options", "")).split(" -c ") if part and "statement_timeout" not in part
    )
    options["options"] = f"{current} -c statement_timeout={int(milliseconds)}".strip()


class _Watchdog:
    """One thread that shuts down the sockets of calls past their deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int]] = []  # (deadline, token, fd)
        self._live: set[int] = set()
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, fd: int, seconds: float) -> int:
        token = next(self._counter)
        with self._wake:
            entry = (time.monotonic() + seconds, token, fd)
            heapq.heappush(self._heap, entry)
            self._live.add(token)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-deadline", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:
                # Only an earlier deadline than the one the thread waits for needs it awake:
                # with one timeout per process that is the first call after a quiet spell,
                # so a busy gateway does not wake this thread on every query.
                self._wake.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._wake:
            self._live.discard(token)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # disarmed: the call returned in time
                if not self._heap:
                    self._wake.wait()
                    continue
                when, token, fd = self._heap[0]
                remaining = when - time.monotonic()
                if remaining > 0:
                    self._wake.wait(remaining)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(token)
                # Shut the socket down while still holding the lock: disarm() (called
                # when the call returns, before its connection can close the fd)
                # cannot run meanwhile, so this never touches a reused descriptor.
                logger.error("database did not answer within the deadline; closing its connection (fd %d)", fd)
                with contextlib.suppress(OSError):
                    sock = socket.socket(fileno=fd)
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    finally:
                        sock.detach()


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def deadline(seconds: float, wrapper: BaseDatabaseWrapper | None = None) -> Iterator[None]:
    """Raise (the driver's error for a lost connection) instead of waiting
    longer than ``seconds`` for the database inside this block. The connection
    must be open (``ensure_connection``); no-op for SQLite or ``seconds`` <= 0."""
    wrapper = wrapper or connections["default"]
    raw: Any = wrapper.connection
    if seconds <= 0 or wrapper.vendor != "postgresql" or raw is None:
        yield
        return
    token = _WATCHDOG.arm(raw.fileno(), seconds)
    try:
        yield
    finally:
        _WATCHDOG.disarm(token)
