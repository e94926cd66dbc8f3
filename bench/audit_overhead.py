#!/usr/bin/env python
"""What the audit trail costs: booking and C-FIND throughput with the audit
trail on and off, in the same run, on the same database.

    .venv/bin/python bench/audit_overhead.py [--rounds 2] [--bookings 600] [--seconds 10]

Creates (and drops) ``mwl_ris_bench_audit`` on BENCH_PG. Each measurement is
taken ``--rounds`` times, alternating off/on so drift hits both alike:
  booking  POST /api/v1/appointments/ from 4 clients, gunicorn 4 workers (free slots: all 201)
  C-FIND   a station's day list from 8 concurrent C++ clients (bench/cfind_client.cc), mwl_gateway
           with its connection pool; each query is audited by the gateway's background recorder
The audit trail is switched with AUDIT_ENABLED (which exists for this measurement only).
Target: under 10 % lower throughput with the audit trail on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import booking_api
from benchlib import PG, drop_database, free_port
from booking_api import run as run_bookings

ROOT = Path(__file__).resolve().parent.parent
DB = "mwl_ris_bench_audit"


def wait_for_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def server_env(audit: bool) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB}",
        "LOG_LEVEL": "ERROR",
        "AUDIT_ENABLED": "true" if audit else "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnop",
    }


def audit_rows() -> int:
    from audit.models import AuditRecord

    return AuditRecord.objects.count()


def booking_round(audit: bool, token: str, jobs: list[tuple[int, int, dt.datetime]]) -> float:
    port = free_port()
    command = [str(ROOT / ".venv/bin/gunicorn"), "mwl_ris.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "4"]
    server = subprocess.Popen([*command, "--log-level", "warning"], cwd=ROOT, env=server_env(audit))
    try:
        wait_for_port(port)
        result = run_bookings(port, token, jobs, 4)
        assert result["created"] == len(jobs), result
        return float(result["rps"])
    finally:
        server.terminate()
        server.wait(timeout=20)


def cfind_round(audit: bool, seconds: float, day: dt.date) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT / "bench"))
    from cxx_latency import CLIENT, build_client

    build_client()
    port = free_port()
    env = {**server_env(audit), "DATABASE_POOL": "true"}
    command = [str(ROOT / ".venv/bin/python"), "manage.py", "mwl_gateway", "--port", str(port), "--bind", "127.0.0.1"]
    gateway = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_for_port(port)
        keys = [
            "PatientName",
            "PatientID",
            "AccessionNumber",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=BENCH_CT0",
            f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={day:%Y%m%d}",
            "ScheduledProcedureStepSequence[0].Modality",
        ]
        client = [str(CLIENT), "127.0.0.1", str(port), "BENCH_CT0", "RIS_MWL", "1000000", str(seconds), *keys]
        runs = [subprocess.Popen(client, stdout=subprocess.PIPE, text=True) for _ in range(8)]
        results = [json.loads(run.communicate()[0]) for run in runs]
        ms = [t for r in results for t in r["ms"]]
        elapsed = max(sum(r["ms"]) for r in results) / 1000
        assert all(r["matches"] == results[0]["matches"] > 0 for r in results), [r["matches"] for r in results]
        time.sleep(1)  # let the recorder write the last queries
        return len(ms) / elapsed, statistics.median(ms)
    finally:
        gateway.terminate()
        gateway.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bookings", type=int, default=600, help="bookings per measurement")
    parser.add_argument("--seconds", type=float, default=10, help="C-FIND seconds per measurement")
    args = parser.parse_args()
    rounds = [audit for i in range(args.rounds) for audit in ((False, True) if i % 2 == 0 else (True, False))]
    booking_api.DB = DB  # the booking bench's setup, on this bench's own database
    token, stations, orders = booking_api.setup_database(args.bookings * (len(rounds) + 1), 8)
    tz = dt.timezone(dt.timedelta(hours=3))
    first_day = dt.datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    booking: dict[bool, list[float]] = {False: [], True: []}
    cfind: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    written: dict[bool, int] = {False: 0, True: 0}
    try:
        order_iter = iter(orders)
        slot = 0
        for audit in [None, *rounds]:  # None: a warm-up round, not counted
            jobs = []
            for _ in range(args.bookings):
                station = stations[slot % len(stations)]
                # 36 minutes apart: a station's day list holds 40 exams, a busy CT's day
                start = first_day + dt.timedelta(minutes=36 * (slot // len(stations)))
                jobs.append((next(order_iter), station, start))
                slot += 1
            before = audit_rows()
            rps = booking_round(bool(audit), token, jobs)
            if audit is None:
                continue
            booking[audit].append(rps)
            written[audit] += audit_rows() - before
            print(f"booking audit={'on' if audit else 'off'}: {rps:.1f} req/s", flush=True)
        cfind_round(True, 3, first_day.date())  # warm-up (the database's caches), not counted
        for audit in rounds:
            before = audit_rows()
            cfind[audit].append(cfind_round(audit, args.seconds, first_day.date()))
            written[audit] += audit_rows() - before
            print(f"C-FIND audit={'on' if audit else 'off'}: {cfind[audit][-1][0]:.1f} q/s", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DB)

    def mean(values: list[float]) -> float:
        return statistics.mean(values)

    book_off, book_on = mean(booking[False]), mean(booking[True])
    find_off, find_on = mean([q for q, _ in cfind[False]]), mean([q for q, _ in cfind[True]])
    med_off, med_on = mean([m for _, m in cfind[False]]), mean([m for _, m in cfind[True]])
    print(f"\nAudit trail overhead ({args.rounds} rounds each, alternating; {os.cpu_count()} cores, PostgreSQL)")
    print(f"{'measurement':44} {'audit off':>10} {'audit on':>10} {'change':>8}")
    rows = [
        ("booking req/s (4 clients, 4 workers)", book_off, book_on),
        ("C-FIND day list q/s (8 C++ clients)", find_off, find_on),
        ("C-FIND day list median ms", med_off, med_on),
    ]
    for label, off, on in rows:
        print(f"{label:44} {off:10.1f} {on:10.1f} {100 * (on - off) / off:+7.1f}%")
    print(f"audit records written: {written[False]} with the trail off, {written[True]} with it on")


if __name__ == "__main__":
    main()
