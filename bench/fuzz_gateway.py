#!/usr/bin/env python
"""Mutated C-FIND identifiers against ``manage.py mwl_gateway`` at scale (the
test suite runs 2,000 of them; this runs 10,000 or more), with the status
each one got and the gateway's memory before and after.

    .venv/bin/python bench/fuzz_gateway.py [--queries 10000] [--seed 1]

Loopback only, bounded by ``--queries``. Every query must get a final status
the standard allows (0x0000, 0xA700, 0xA900, 0xC000) after pending ones, and
the gateway must still answer a day list at the end. Creates (and drops) the
database ``mwl_ris_bench_fuzz`` on BENCH_PG.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from benchlib import PG, drop_database, free_port, fresh_database, nodelay
from soak import rss_mb

ROOT = Path(__file__).resolve().parent.parent
DB = "mwl_ris_bench_fuzz"
FINAL = {0x0000, 0xA700, 0xA900, 0xC000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    fresh_database(DB)
    sys.path.insert(0, str(ROOT))
    from pynetdicom import AE
    from pynetdicom.dsutils import encode

    from scheduling.stations import station_create
    from tests.dicom_gateway.test_fuzz import mutated_identifiers

    station_create(name="Fuzz CT", modality="CT", ae_title="CT_ROOM3")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}", "LOG_LEVEL": "WARNING"}
    gateway = subprocess.Popen(
        [sys.executable, "manage.py", "mwl_gateway", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context("1.2.840.10008.5.1.4.31")
    finals: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    sent = 0
    rss_start = rss_mb(gateway.pid)
    began = time.perf_counter()
    assoc = None
    for query in mutated_identifiers(seed=args.seed, count=args.queries * 3):
        if sent >= args.queries:
            break
        if not encode(query, True, True):
            continue
        if assoc is None or not assoc.is_established or sent % 100 == 0:
            if assoc is not None and assoc.is_established:
                assoc.release()
            assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
            nodelay(assoc)
        codes = [int(s.Status) for s, _ in assoc.send_c_find(query, "1.2.840.10008.5.1.4.31") if s and "Status" in s]
        sent += 1
        if not codes or codes[-1] not in FINAL or any(c not in (0xFF00, 0xFF01) for c in codes[:-1]):
            bad.append(repr(codes))
        finals[f"0x{codes[-1]:04X}" if codes else "none"] += 1
    elapsed = time.perf_counter() - began
    if assoc is not None and assoc.is_established:
        assoc.release()
    rss_end = rss_mb(gateway.pid)
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(30)
    print(f"fuzz: {sent} mutated identifiers in {elapsed:.0f} s ({sent / elapsed:.0f}/s), seed {args.seed}")
    print("| final status | count |")
    print("| --- | ---: |")
    for code, count in sorted(finals.items()):
        print(f"| {code} | {count} |")
    print(f"invalid answers: {len(bad)} {bad[:5]}")
    print(f"gateway RSS MB: {rss_start:.0f} before, {rss_end:.0f} after; exit status {gateway.returncode}")
    from django.db import connections

    connections.close_all()
    drop_database(DB)
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
