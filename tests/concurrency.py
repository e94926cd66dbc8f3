"""Running bookings at the same moment, each on its own thread and database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections

from mwl_ris.lib.errors import Conflict


def run_together(calls: list[Callable[[], object]], *, expected: type[Conflict] = Conflict) -> list[str]:
    """Start every call at once (a barrier) and say how each ended: "booked", "conflict"
    (``expected`` raised, naming the booking it lost to), or the unexpected outcome."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            call()
            result = "booked"
        except expected as exc:
            named = exc.extra.get("clashing_appointment") or "same moment" in exc.message
            result = "conflict" if named else f"unnamed conflict: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the caller's assertion
            result = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)
