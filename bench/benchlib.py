"""What the Python benchmarks share: a free port, a fresh, migrated
PostgreSQL database that Django in this process then uses, and a run of jobs
over concurrent clients."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def nodelay(assoc: Any) -> None:
    """Nagle off on a pynetdicom client's association: it sends a request's command
    and data set as two PDUs, and the second would wait ~40 ms for the first's ACK."""
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_database(name: str) -> str:
    """Drop and create ``name``, point Django at it, migrate; returns its URL."""
    url = f"{PG}/{name}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnop")
    drop_database(name)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def drop_database(name: str) -> None:
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", name], check=False)


def run_concurrently(
    jobs: list[Job], clients: int, session: Callable[[], Callable[[Job], tuple[Result, float]]]
) -> tuple[list[tuple[Result, float]], float]:
    """Spread ``jobs`` over ``clients`` threads. Each thread first opens its
    session (a connection) and returns the call that does one job and reports
    (result, seconds); all threads then start together. Returns every
    (result, seconds) and the wall time of the whole run."""
    results: list[tuple[Result, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker(chunk: list[Job]) -> None:
        call = session()
        barrier.wait()
        local = [call(job) for job in chunk]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=worker, args=(jobs[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - began


def p50_p95_ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000
