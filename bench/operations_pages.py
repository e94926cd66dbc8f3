#!/usr/bin/env python
"""What the operations features cost: the SLA page's figures over a month of C-FIND audit
records, one scrape of the web's /metrics, and the per-query cost of the gateway's metrics.

    .venv/bin/python bench/operations_pages.py [--cfinds 300000] [--repeat 5]

Creates (and drops) ``mwl_ris_bench_ops`` on BENCH_PG; writes ``--cfinds`` C-FIND audit records
spread over 30 days (about 20 stations polling every 3 minutes for a month is 290,000) and
10,000 web update timings, then times:
  sla 24 h + 30 d   operations.sla.sla_report (uncached): the SLA page's work
  /metrics scrape   the web app's exposition with its database collector
  C-FIND metrics    one CFIND.labels(...).observe() and one counter inc, as the gateway does per query
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import drop_database, fresh_database

NAME = "mwl_ris_bench_ops"


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfinds", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    fresh_database(NAME)
    try:
        from django.test import Client
        from django.utils import timezone

        from audit.models import AuditRecord, Interface
        from monitoring.metrics import CFIND, CFIND_EMPTY
        from monitoring.models import UpdateTiming
        from operations.sla import sla_report

        now = timezone.now()
        rng = random.Random(7)
        batch = []
        for i in range(args.cfinds):
            batch.append(
                AuditRecord(
                    at=now - dt.timedelta(seconds=rng.uniform(0, 30 * 86400)),
                    interface=Interface.DICOM,
                    actor=f"CT{i % 20}",
                    action="c-find",
                    after={"matches": 3, "status": 0 if i % 50 else 0xA700, "ms": rng.lognormvariate(2.5, 0.6)},
                )
            )
            if len(batch) == 10_000:
                AuditRecord.objects.bulk_create(batch)
                batch = []
        AuditRecord.objects.bulk_create(batch)
        UpdateTiming.objects.bulk_create(
            UpdateTiming(
                at=now - dt.timedelta(seconds=rng.uniform(0, 30 * 86400)),
                view="ui:book",
                method="POST",
                status=302,
                ms=rng.uniform(50, 400),
            )
            for _ in range(10_000)
        )
        sla = timed(lambda: sla_report(use_cache=False), args.repeat)
        client = Client()
        scrape = timed(lambda: client.get("/metrics", REMOTE_ADDR="127.0.0.1"), args.repeat)
        n = 100_000
        started = time.perf_counter()
        for _ in range(n):
            CFIND.labels(calling_ae="CT1", outcome="matched").observe(0.012)
            CFIND_EMPTY.labels(calling_ae="CT1").inc()
        per_query_us = (time.perf_counter() - started) / n * 1e6
        print(f"{'measure':<34}{'median':>12}{'max':>12}")
        label = f"sla 24 h + 30 d ({args.cfinds} C-FINDs)"
        print(f"{label:<34}{statistics.median(sla):>10.3f} s{max(sla):>10.3f} s")
        print(f"{'/metrics scrape':<34}{statistics.median(scrape) * 1000:>9.1f} ms{max(scrape) * 1000:>9.1f} ms")
        print(f"{'C-FIND metrics per query':<34}{per_query_us:>9.2f} µs")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(NAME)


if __name__ == "__main__":
    main()
