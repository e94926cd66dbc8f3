"""Waking pynetdicom's two per-association threads when there is work,
instead of letting them poll.

pynetdicom runs each association on two threads that poll: the association
reactor sleeps 1 ms between looks at its queues, the network (DUL) thread
sleeps ``_run_loop_delay`` (1 ms) between looks at its socket and outgoing
queue. A modality's C-FIND waits for those loops several times (request,
response, release), and under load the polling itself costs CPU: with eight
modalities at once, sixteen threads woke thousands of times a second for
nothing, on the same two cores as the database. Shortening the sleeps
helped latency and cost CPU (measured: docs/performance.md).

Here the sleeps become waits that end as soon as there is something to do:

* the association thread waits on an Event set whenever the network thread
  hands it a message (the DIMSE message queue, the DUL's to-user queue);
* the network thread waits in ``select()`` on its socket and on an eventfd
  written whenever the association thread queues a PDU to send.

Both still wake every ``IDLE_WAIT`` seconds, so everything pynetdicom checks
on a timer (ARTIM, network timeout, kill requests) works as before, only
that much later. pynetdicom has no hook for any of this: the sleeps are found
by the code object of the loop that calls ``time.sleep`` (``sys._getframe``),
so any other sleep, and every association this module did not set up, keeps
pynetdicom's behaviour. If a pynetdicom upgrade renames the loops, the
gateway falls back to plain polling, correct but slower
(``reactor_loops`` finds nothing; ``tests/dicom_gateway/test_hostile.py``
checks both). Installed by accel.py, behind ``MWL_ACCEL``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import ssl
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from pynetdicom import association as pynetdicom_association
from pynetdicom import dul as pynetdicom_dul
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider

IDLE_WAIT = 0.05  # seconds: the longest a thread sleeps with nothing to do


def reactor_loops(association: type = Association, dul: type = DULServiceProvider) -> frozenset[Any]:
    """The code objects of the two polling loops; empty when this pynetdicom
    has no such methods (renamed): then no sleep is ever replaced, and the
    gateway polls as pynetdicom does."""
    loops = [
        getattr(getattr(cls, name, None), "__code__", None)
        for cls, name in ((association, "_run_reactor"), (dul, "run_reactor"))
    ]
    if any(loop is None for loop in loops):
        return frozenset()
    return frozenset(loops)


REACTOR_LOOPS = reactor_loops()


class EventFdWaker:
    """An eventfd another thread can write to end a ``select()``. Closed by
    its owner (the network thread) when it stops; writes and reads after that
    are ignored (under the lock, so a closed and reused descriptor number is
    never touched)."""

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._lock = threading.Lock()

    def fileno(self) -> int:
        return self._fd

    def wake(self) -> None:
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(BlockingIOError):  # the counter is full: a wake-up is pending anyway
                    os.eventfd_write(self._fd, 1)

    def drain(self) -> None:
        with self._lock, contextlib.suppress(BlockingIOError):  # nothing to read
            if self._fd >= 0:
                os.eventfd_read(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0


class WakingQueue(queue.Queue[Any]):
    """A queue that calls ``on_put`` after every put (from any thread)."""

    def __init__(self, on_put: Callable[[], None]) -> None:
        super().__init__()
        self._on_put = on_put

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._on_put()


def _association_wait(wake: threading.Event) -> Callable[[float], None]:
    def wait(_seconds: float) -> None:
        wake.wait(IDLE_WAIT)
        wake.clear()  # cleared before the loop looks at its queues: nothing put after this is missed

    return wait


def _network_wait(dul: DULServiceProvider, waker: EventFdWaker) -> Callable[[float], None]:
    def wait(seconds: float) -> None:
        sock = getattr(dul.socket, "socket", None)
        if sock is None or waker.closed:
            time.sleep(seconds)
            return
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return  # TLS has decrypted bytes select() cannot see: they are there now
        try:
            select.select([sock, waker], [], [], IDLE_WAIT)
        except (OSError, ValueError):  # the socket was closed meanwhile
            time.sleep(seconds)
        waker.drain()

    return wait


def install(assoc: Association) -> None:
    """Make a new acceptor association's two threads wait for work. Call
    before its thread starts (no queue is in use yet)."""
    wake = threading.Event()
    waker = EventFdWaker()
    # Closed by the network thread itself when its loop ends (so no other thread
    # can close it under a select() and see the number reused), or at garbage
    # collection if the thread never ran. Thread._target is what Thread.run calls.
    network_loop = getattr(assoc.dul, "_target", None)
    if not REACTOR_LOOPS or network_loop is None:
        return  # not this pynetdicom's layout: leave the association polling

    def network_thread() -> None:
        try:
            network_loop()
        finally:
            waker.close()

    assoc.dul._target = network_thread  # type: ignore[attr-defined]
    weakref.finalize(assoc.dul, waker.close)
    assoc.dimse.msg_queue = WakingQueue(wake.set)
    assoc.dul.to_user_queue = WakingQueue(wake.set)
    assoc.dul.to_provider_queue = WakingQueue(waker.wake)
    assoc.mwl_wait = _association_wait(wake)  # type: ignore[attr-defined]
    assoc.dul.mwl_wait = _network_wait(assoc.dul, waker)  # type: ignore[attr-defined]


class _LoopClock:
    """The ``time`` module as pynetdicom's association and DUL modules see it:
    a sleep called by one of the two reactor loops, on a thread set up by
    ``install``, waits for work instead; everything else is ``time``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        wait = getattr(threading.current_thread(), "mwl_wait", None)
        if wait is not None and sys._getframe(1).f_code in REACTOR_LOOPS:
            wait(seconds)
        else:
            time.sleep(seconds)


def enable() -> None:
    """Route pynetdicom's reactor sleeps through _LoopClock (idempotent)."""
    if not REACTOR_LOOPS:
        return
    for module in (pynetdicom_association, pynetdicom_dul):
        if not isinstance(getattr(module, "time", None), _LoopClock):
            setattr(module, "time", _LoopClock())  # noqa: B010 - the module's global, as documented above
