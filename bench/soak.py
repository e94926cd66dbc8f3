#!/usr/bin/env python
"""Soak run: the gateway and the HL7 listener under a day's traffic at once.

    .venv/bin/python bench/soak.py [--minutes 30] [--modalities 16] [--workers 1]

For ``--minutes`` (bounded; loopback only): ``--modalities`` modalities, each
its own station AE, poll their day list over a fresh association every
second (pynetdicom client, TCP_NODELAY); an HIS sends ORM^O01 orders over
MLLP (auto-booked); a scheduler books an order every second through the
services. Reports C-FIND and ACK latency (p50 / p95 / max), errors by kind,
and the gateway's and listener's resident memory (RSS) at start and end.
Creates (and drops) the database ``mwl_ris_bench_soak`` on BENCH_PG.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import PG, drop_database, free_port, fresh_database, nodelay

ROOT = Path(__file__).resolve().parent.parent
DB = "mwl_ris_bench_soak"
SB, END = b"\x0b", b"\x1c\r"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the gateway's workers)."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def setup(modalities: int) -> list[str]:
    fresh_database(DB)
    from orders.services import order_create, procedure_create
    from patients.services import patient_create
    from scheduling.booking import appointment_book
    from scheduling.stations import station_create

    procedure = procedure_create(code="SOAK", name="Soak exam", modality="CT", default_duration_minutes=10)
    titles = []
    first = dt.datetime.now().astimezone().replace(second=0, microsecond=0) + dt.timedelta(minutes=5)
    for n in range(modalities):
        station = station_create(name=f"Soak {n}", modality="CT", ae_title=f"SOAK_{n:02d}")
        titles.append(station.ae_title)
        for slot in range(30):  # a day list of 30 exams each
            patient = patient_create(family_name=f"Soak{n}", given_name=f"P{slot}", sex="F")
            order = order_create(patient=patient, procedure=procedure)
            appointment_book(order=order, station=station, starts_at=first + dt.timedelta(minutes=10 * slot))
    return titles


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    pick = lambda q: ordered[min(int(q * (len(ordered) - 1)), len(ordered) - 1)] * 1000  # noqa: E731
    return f"{pick(0.5):.1f} / {pick(0.95):.1f} / {ordered[-1] * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--modalities", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    titles = setup(args.modalities)
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}", "DATABASE_POOL": "true", "LOG_LEVEL": "WARNING"}
    gw_port, hl7_port = free_port(), free_port()
    log = open(ROOT / "var" / "soak.log", "wb")  # noqa: SIM115 - open for the whole run
    gateway = subprocess.Popen(
        [sys.executable, "manage.py", "mwl_gateway", "--port", str(gw_port), "--workers", str(args.workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    listener = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--port", str(hl7_port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    from pydicom.dataset import Dataset
    from pynetdicom import AE

    deadline_start = time.monotonic() + 60
    while True:  # ready: both ports answer
        try:
            socket.create_connection(("127.0.0.1", gw_port), timeout=1).close()
            socket.create_connection(("127.0.0.1", hl7_port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline_start:
                raise SystemExit("gateway or listener did not start") from None
            time.sleep(0.2)
    time.sleep(2)  # let both settle before the first RSS reading
    rss_start = (rss_mb(gateway.pid), rss_mb(listener.pid))
    stop = threading.Event()
    end = time.monotonic() + args.minutes * 60
    cfind: list[float] = []
    acks: list[float] = []
    bookings: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def modality(title: str) -> None:
        ae = AE(ae_title=title)
        ae.add_requested_context("1.2.840.10008.5.1.4.31")
        query = Dataset()
        for keyword in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID"):
            setattr(query, keyword, "")
        item = Dataset()
        item.ScheduledStationAETitle = title
        today = dt.date.today()
        item.ScheduledProcedureStepStartDate = f"{today:%Y%m%d}-{today + dt.timedelta(days=1):%Y%m%d}"
        item.ScheduledProcedureStepStartTime = ""
        item.Modality = ""
        query.ScheduledProcedureStepSequence = [item]
        while not stop.is_set():
            began = time.perf_counter()
            try:
                assoc = ae.associate("127.0.0.1", gw_port, ae_title="RIS_MWL")
                if not assoc.is_established:
                    with lock:
                        errors["association not accepted"] += 1
                else:
                    nodelay(assoc)
                    statuses = [int(s.Status) for s, _ in assoc.send_c_find(query, "1.2.840.10008.5.1.4.31") if s]
                    assoc.release()
                    with lock:
                        if statuses and statuses[-1] == 0:
                            cfind.append(time.perf_counter() - began)
                        else:
                            errors[f"C-FIND 0x{statuses[-1]:04X}" if statuses else "C-FIND no answer"] += 1
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                with lock:
                    errors[f"C-FIND {type(exc).__name__}"] += 1
            stop.wait(1.0)

    def his() -> None:
        n = 0
        sock = socket.create_connection(("127.0.0.1", hl7_port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not stop.is_set():
            n += 1
            when = dt.datetime.now().astimezone() + dt.timedelta(days=1, minutes=7 * n)
            message = (
                f"MSH|^~\\&|HIS|MNH|RIS|MNH|20261201065500||ORM^O01^ORM_O01|S{n:07d}|P|2.5.1\r"
                f"PID|1||SP{n:07d}^^^MNH^MR||Soak^Hl7^{n}||19800101|F\r"
                f"ORC|NW|SO{n:07d}|||||^^^{when:%Y%m%d%H%M%S%z}^^R\r"
                f"OBR|1|SO{n:07d}||SOAK^Soak exam^RIS\r"
            ).encode()
            began = time.perf_counter()
            try:
                sock.sendall(SB + message + END)
                reply = b""
                while not reply.endswith(END):
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    reply += chunk
                with lock:
                    if b"MSA|AA|" in reply:
                        acks.append(time.perf_counter() - began)
                    else:
                        errors["HL7 " + reply.split(b"MSA|", 1)[-1][:2].decode(errors="replace")] += 1
            except OSError as exc:
                with lock:
                    errors[f"HL7 {type(exc).__name__}"] += 1
                sock = socket.create_connection(("127.0.0.1", hl7_port))
            stop.wait(0.5)

    def scheduler() -> None:
        from django.db import connection

        from orders.models import Procedure
        from orders.services import order_create
        from patients.services import patient_create
        from scheduling.booking import appointment_book
        from scheduling.models import Station

        station = Station.objects.get(ae_title=titles[0])
        procedure = Procedure.objects.get(code="SOAK")
        n = 0
        while not stop.is_set():
            n += 1
            began = time.perf_counter()
            try:
                patient = patient_create(family_name="Desk", given_name=f"D{n}", sex="M")
                order = order_create(patient=patient, procedure=procedure)
                start = dt.datetime.now().astimezone() + dt.timedelta(days=2, minutes=10 * n)
                appointment_book(order=order, station=station, starts_at=start)
                with lock:
                    bookings.append(time.perf_counter() - began)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors[f"booking {type(exc).__name__}"] += 1
            stop.wait(1.0)
        connection.close()

    threads = [threading.Thread(target=modality, args=(t,)) for t in titles]
    threads += [threading.Thread(target=his), threading.Thread(target=scheduler)]
    for thread in threads:
        thread.start()
    samples = []
    while time.monotonic() < end:
        samples.append((rss_mb(gateway.pid), rss_mb(listener.pid)))
        time.sleep(min(30, max(end - time.monotonic(), 0)))
    stop.set()
    for thread in threads:
        thread.join(30)
    rss_end = (rss_mb(gateway.pid), rss_mb(listener.pid))
    for process in (gateway, listener):
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    log.close()
    print(
        f"soak: {args.minutes:g} min, {args.modalities} modalities polling each second, "
        "an HL7 order each 0.5 s, a booking each second"
    )
    print("| what | count | p50 / p95 / max ms |")
    print("| --- | ---: | --- |")
    print(f"| C-FIND day list (association + query + release) | {len(cfind)} | {percentiles(cfind)} |")
    print(f"| HL7 ORM^O01 ACK (AA) | {len(acks)} | {percentiles(acks)} |")
    print(f"| booking (services) | {len(bookings)} | {percentiles(bookings)} |")
    print(f"errors: {dict(errors) or 'none'}")
    peak = (max(s[0] for s in samples), max(s[1] for s in samples)) if samples else rss_end
    print(f"RSS MB gateway: start {rss_start[0]:.0f}, peak {peak[0]:.0f}, end {rss_end[0]:.0f}")
    print(f"RSS MB listener: start {rss_start[1]:.0f}, peak {peak[1]:.0f}, end {rss_end[1]:.0f}")
    from django.db import connections

    connections.close_all()
    drop_database(DB)


if __name__ == "__main__":
    main()
