#!/usr/bin/env python
"""Booking API benchmark: throughput and latency of POST /api/v1/appointments/
with concurrent clients, against gunicorn on PostgreSQL.

    .venv/bin/python bench/booking_api.py [--orders 2000] [--clients 1,4,16] [--workers 4]

Creates (and drops) the database ``mwl_ris_bench`` on BENCH_PG (default
postgres://postgres@127.0.0.1:5432). Two scenarios per concurrency level:
  free       every request books a different free slot (all 201)
  contended  every 4 requests aim at the same slot (1 x 201, 3 x 409)
Prints one table; see docs/performance.md for recorded figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import PG, drop_database, free_port, fresh_database, p50_p95_ms, run_concurrently

ROOT = Path(__file__).resolve().parent.parent
DB = "mwl_ris_bench"


def setup_database(orders: int, stations: int) -> tuple[str, list[int], list[int]]:
    """Fresh database with stations (open 24/7), a procedure, patients, orders, an admin token."""
    fresh_database(DB)
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from orders.services import order_create, procedure_create
    from patients.services import patient_create
    from scheduling.stations import station_create

    station_ids = [station_create(name=f"CT {i}", modality="CT", ae_title=f"BENCH_CT{i}").pk for i in range(stations)]
    procedure = procedure_create(code="CTB", name="CT bench", modality="CT", default_duration_minutes=15)
    patients = [patient_create(family_name=f"Bench{i}", given_name="Patient") for i in range(50)]
    order_ids = [order_create(patient=patients[i % 50], procedure=procedure).pk for i in range(orders)]
    admin = User.objects.create_superuser("bench", password=None)  # token auth only
    token = Token.objects.create(user=admin).key
    return token, station_ids, order_ids


class Client:
    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def book(self, order: int, station: int, start: dt.datetime) -> tuple[int, float]:
        body = json.dumps({"order": order, "station": station, "starts_at": start.isoformat()})
        began = time.perf_counter()
        self.conn.request("POST", "/api/v1/appointments/", body=body, headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status not in (201, 409):
            print(f"unexpected {response.status}: {payload[:300]!r}", file=sys.stderr)
        return response.status, time.perf_counter() - began


def run(port: int, token: str, jobs: list[tuple[int, int, dt.datetime]], clients: int) -> dict[str, float]:
    def session() -> Callable[[tuple[int, int, dt.datetime]], tuple[int, float]]:
        client = Client(port, token)
        return lambda job: client.book(*job)

    results, elapsed = run_concurrently(jobs, clients, session)
    p50, p95 = p50_p95_ms([seconds for _, seconds in results])
    statuses = [status for status, _ in results]
    return {
        "requests": len(results),
        "created": statuses.count(201),
        "conflicts": statuses.count(409),
        "other": len(statuses) - statuses.count(201) - statuses.count(409),
        "rps": len(results) / elapsed,
        "p50": p50,
        "p95": p95,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders per scenario and concurrency level")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--stations", type=int, default=8)
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    per_run = args.orders
    total_orders = per_run * len(levels) * 2
    print(f"setting up {total_orders} orders on PostgreSQL database {DB} ...", flush=True)
    token, stations, orders = setup_database(total_orders, args.stations)

    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}", "LOG_LEVEL": "ERROR"}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "mwl_ris.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        tz = dt.timezone(dt.timedelta(hours=3))
        day = dt.datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        slot = 0
        rows = []
        order_iter = iter(orders)
        for clients in levels:
            for scenario in ("free", "contended"):
                jobs = []
                for i in range(per_run):
                    n = slot + (i if scenario == "free" else i // 4)
                    station = stations[n % len(stations)]
                    start = day + dt.timedelta(minutes=15 * (n // len(stations)))
                    jobs.append((next(order_iter), station, start))
                slot += per_run
                rows.append((scenario, clients, run(port, token, jobs, clients)))
    finally:
        from django.db import connections

        connections.close_all()
        server.terminate()
        server.wait(timeout=10)
        drop_database(DB)

    cores = os.cpu_count()
    print(f"\nBooking API (POST /api/v1/appointments/), gunicorn {args.workers} workers, PostgreSQL, {cores} cores")
    header = ("scenario", "clients", "requests", "201", "409", "other", "req/s", "p50 ms", "p95 ms")
    print(f"{header[0]:<10} " + " ".join(f"{h:>8}" for h in header[1:]))
    for scenario, clients, r in rows:
        print(
            f"{scenario:<10} {clients:>8} {r['requests']:>8} {r['created']:>8} {r['conflicts']:>8} {r['other']:>8} "
            f"{r['rps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f}"
        )


if __name__ == "__main__":
    main()
