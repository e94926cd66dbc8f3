#!/usr/bin/env python
"""HL7 listener benchmark: sustained ORM^O01 (NW) messages per second through
``manage.py hl7_listener`` into PostgreSQL, with ACK latency, over 1 and 4
concurrent MLLP connections.

    .venv/bin/python bench/hl7_listener.py [--messages 1000] [--connections 1,4]

Creates (and drops) the database ``mwl_ris_bench_hl7`` on BENCH_PG (default
postgres://postgres@127.0.0.1:5432). Two scenarios per concurrency level:
  queue   new patient + new order without a requested time (waits for a scheduler)
  booked  new patient + new order with a requested time, auto-booked on the CT station
Each message is stored raw, applied and committed before its ACK; the
timing is from the first byte sent to the last byte of the ACK.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import PG, drop_database, free_port, fresh_database, p50_p95_ms, run_concurrently

ROOT = Path(__file__).resolve().parent.parent
DB = "mwl_ris_bench_hl7"
SB, END = b"\x0b", b"\x1c\r"


def setup_database() -> None:
    fresh_database(DB)
    from orders.services import procedure_create
    from scheduling.stations import station_create

    station_create(name="CT bench", modality="CT", ae_title="BENCH_CT1")  # no opening hours: open 24/7
    procedure_create(code="CTB", name="CT bench", modality="CT", default_duration_minutes=5)


def message(n: int, when: dt.datetime | None) -> bytes:
    tq = f"^^^{when:%Y%m%d%H%M%S%z}^^R" if when else ""
    return (
        f"MSH|^~\\&|HIS|MNH|RIS|MNH|20261201065500||ORM^O01^ORM_O01|B{n:07d}|P|2.5.1\r"
        f"PID|1||BP{n:07d}^^^MNH^MR~NH{n:07d}^^^NHIF^NH||Bench^Patient^{n}||19800101|F|||||0712345678\r"
        "PV1|1|O||||||D1^Kimaro^Neema\r"
        f"ORC|NW|BO{n:07d}|||||{tq}\r"
        f"OBR|1|BO{n:07d}||CTB^CT bench^RIS|||||||||Benchmark\r"
    ).encode()


def run(port: int, jobs: list[bytes], connections: int) -> dict[str, float]:
    def session() -> Callable[[bytes], tuple[bool, float]]:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(data: bytes) -> tuple[bool, float]:
            began = time.perf_counter()
            sock.sendall(SB + data + END)
            reply = b""
            while not reply.endswith(END):
                reply += sock.recv(65536)
            return b"MSA|AA|" in reply, time.perf_counter() - began

        return send

    results, elapsed = run_concurrently(jobs, connections, session)
    p50, p95 = p50_p95_ms([seconds for _, seconds in results])
    return {
        "messages": len(results),
        "aa": sum(ok for ok, _ in results),
        "mps": len(results) / elapsed,
        "p50": p50,
        "p95": p95,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="messages per scenario and concurrency level")
    parser.add_argument("--connections", default="1,4")
    parser.add_argument("--workers", type=int, default=4, help="HL7_WORKERS of the listener")
    args = parser.parse_args()
    levels = [int(c) for c in args.connections.split(",")]
    print(f"setting up PostgreSQL database {DB} ...", flush=True)
    setup_database()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}", "DATABASE_POOL": "true", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--port", str(port), "--workers", str(args.workers)],
        cwd=ROOT,
        env=env,
    )
    rows = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        tz = dt.timezone(dt.timedelta(hours=3))
        start = dt.datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        n = 0
        for connections in levels:
            for scenario in ("queue", "booked"):
                jobs = []
                for _ in range(args.messages):
                    n += 1
                    when = start + dt.timedelta(minutes=5 * n) if scenario == "booked" else None
                    jobs.append(message(n, when))
                rows.append((scenario, connections, run(port, jobs, connections)))
        from orders.models import Order

        booked = Order.objects.filter(status="scheduled").count()
    finally:
        from django.db import connections as db_connections

        db_connections.close_all()
        server.terminate()
        server.wait(timeout=30)
        drop_database(DB)

    print(f"\nHL7 listener: ORM^O01 NW over MLLP into PostgreSQL, HL7_WORKERS={args.workers}, {os.cpu_count()} cores")
    header = ("scenario", "conns", "messages", "AA", "msg/s", "p50 ms", "p95 ms")
    print(f"{header[0]:<10} " + " ".join(f"{h:>8}" for h in header[1:]))
    for scenario, connections, r in rows:
        print(
            f"{scenario:<10} {connections:>8} {r['messages']:>8} {r['aa']:>8} "
            f"{r['mps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f}"
        )
    print(f"orders auto-booked: {booked}")


if __name__ == "__main__":
    main()
