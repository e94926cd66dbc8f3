#!/usr/bin/env python
"""An edge node under load and through an outage (docs/edge.md): replication
lag while the centre books, and how long the edge takes to catch up after the
link was down.

    .venv/bin/python bench/edge_outage.py [--bookings 300] [--outage-seconds 600] [--changes 1000] [--mpps 100]

Builds tests/edge/world.py's centre and edge (two throwaway PostgreSQL 15
clusters on free ports, wal_level=logical at the centre; a gateway at each
end; the edge's forwarder; a TCP proxy on each link), then:

  lag         the centre books --bookings exams back to back; each worklist
              item's lag is the edge's apply time (an ENABLE ALWAYS trigger on
              the edge's copy records clock_timestamp()) minus the item's
              created_at at the centre (one clock: the same machine).
  outage      the link is cut for --outage-seconds; meanwhile the centre makes
              --changes changes (bookings and cancellations, spread over the
              outage) and the edge's modalities send --mpps MPPS (N-CREATE and
              N-SET for --mpps/2 exams booked before the cut); then the link
              comes back and the bench times
                replication   until the edge has every change (its copy equals
                              the centre's site items, row for row)
                outbox        until every MPPS is forwarded and each exam is
                              completed at the centre.
Prints a table; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydicom.uid import generate_uid  # noqa: E402

from tests.edge.world import SITE, STATION, Modality, World  # noqa: E402

ARRIVALS = [
    "CREATE TABLE bench_arrival (accession text, sps_status text, at timestamptz)",
    # the apply worker runs with an empty search_path: the table is named in full
    "CREATE FUNCTION bench_arrived() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO public.bench_arrival VALUES (NEW.accession_number, NEW.sps_status, clock_timestamp()); "
    "RETURN NEW; END $$",
    "CREATE TRIGGER bench_arrived AFTER INSERT ON worklist_worklistitem FOR EACH ROW EXECUTE FUNCTION bench_arrived()",
    "ALTER TABLE worklist_worklistitem ENABLE ALWAYS TRIGGER bench_arrived",  # apply workers fire only ALWAYS ones
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def wait_for(condition: Callable[[], object], timeout: float) -> float:
    """Seconds until ``condition()`` holds (polled every 50 ms); fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"gave up after {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


def site_items(world: World, central: bool) -> set[tuple[str, str]]:
    sql = "SELECT accession_number, sps_status FROM worklist_worklistitem WHERE site_code = %s"
    rows = world.central_sql(sql, (SITE,)) if central else world.edge_sql(sql, (SITE,))
    return {(a, s) for a, s in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--outage-seconds", type=float, default=600)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--mpps", type=int, default=100)
    args = parser.parse_args()
    # the edge as installed: the default back-off and report interval, not the tests' short ones
    world = World(EDGE_RETRY_MAX_SECONDS="60", EDGE_REPORT_SECONDS="10")
    try:
        started = time.monotonic()
        world.start()
        print(f"centre and edge up in {time.monotonic() - started:.1f} s", file=sys.stderr)
        for statement in ARRIVALS:
            world.edge_sql(statement)

        # --- lag under a booking load
        load_started = time.monotonic()
        booked = world.central("book", station=STATION, count=args.bookings)
        load_seconds = time.monotonic() - load_started
        wanted = {b["accession"] for b in booked}
        wait_for(lambda: len(world.edge_sql("SELECT 1 FROM bench_arrival")) >= len(wanted), 120)
        arrivals = dict(world.edge_sql("SELECT accession, at FROM bench_arrival"))
        created = dict(
            world.central_sql(
                "SELECT accession_number, created_at FROM worklist_worklistitem WHERE accession_number = ANY(%s)",
                (list(wanted),),
            )
        )
        lags = [(arrivals[a] - created[a]).total_seconds() * 1000 for a in wanted]

        # --- the outage
        performed = world.central("book", station=STATION, count=args.mpps // 2)
        wait_for(lambda: {b["accession"] for b in performed} <= {a for a, _s in site_items(world, False)}, 60)
        world.cut()
        scanner = Modality(world.edge_gateway_port)
        bookings = max(1, args.changes * 7 // 10)
        per_change = args.outage_seconds / max(1, args.changes)
        outage_started = time.monotonic()
        uids: list[str] = []
        made = 0
        spare: list[str] = []
        mpps_every = max(1, args.changes // max(1, len(performed)))
        for i in range(args.changes):
            if i < bookings or not spare:
                spare += [b["accession"] for b in world.central("book", station=STATION)]
            else:
                world.central("cancel", accession=spare.pop())
            made += 1
            if i % mpps_every == 0 and len(uids) < len(performed):
                exam = performed[len(uids)]
                uid = generate_uid()
                assert scanner.start(uid, study=exam["study"], accession=exam["accession"]) == 0
                assert scanner.complete(uid) == 0
                uids.append(uid)
            pause = outage_started + (i + 1) * per_change - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        for exam in performed[len(uids) :]:
            uid = generate_uid()
            assert scanner.start(uid, study=exam["study"], accession=exam["accession"]) == 0
            assert scanner.complete(uid) == 0
            uids.append(uid)
        queued = len(world.edge_sql("SELECT 1 FROM edge_outboxmessage WHERE state = 'pending'"))
        outage = time.monotonic() - outage_started

        world.restore()
        restored = time.monotonic()
        # the exams performed at the edge change at the centre as their MPPS arrive: compared apart
        mine = {e["accession"] for e in performed}
        target = {row for row in site_items(world, True) if row[0] not in mine}
        wait_for(lambda: {row for row in site_items(world, False) if row[0] not in mine} == target, 600)
        replication = time.monotonic() - restored
        wait_for(lambda: not world.edge_sql("SELECT 1 FROM edge_outboxmessage WHERE state <> 'forwarded'"), 600)
        outbox = time.monotonic() - restored
        wait_for(
            lambda: all(world.central("order", accession=e["accession"])["status"] == "completed" for e in performed),
            600,
        )
        completed = time.monotonic() - restored
        wait_for(lambda: not world.edge_sql("SELECT 1 FROM edge_hold"), 600)
        total = time.monotonic() - restored
        # the forwarder's own log: from its first forwarded message to its last (the sending itself)
        stamps = [
            dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            for line in world.log("edge-forward").splitlines()
            if ": forwarded (0x" in line
        ]
        sending = (max(stamps) - min(stamps)).total_seconds() if stamps else float("nan")
    finally:
        world.stop()

    print(f"\nEdge node bench ({args.bookings} bookings; outage {outage:.0f} s)\n")
    print(f"{'measure':44} {'value':>14}")
    print(f"{'-' * 44} {'-' * 14}")
    rate = args.bookings / load_seconds
    print(f"{'booking load at the centre':44} {rate:>10.1f} /s")
    print(f"{'replication lag p50':44} {percentile(lags, 50):>11.1f} ms")
    print(f"{'replication lag p95':44} {percentile(lags, 95):>11.1f} ms")
    print(f"{'replication lag max':44} {max(lags):>11.1f} ms")
    print(f"{'lag mean':44} {statistics.mean(lags):>11.1f} ms")
    print(f"{'central changes during the outage':44} {made:>14}")
    print(f"{'MPPS queued at the edge':44} {queued:>14}")
    print(f"{'catch-up: edge has every central change':44} {replication:>12.1f} s")
    print(f"{'catch-up: outbox forwarded':44} {outbox:>12.1f} s")
    print(f"{'catch-up: every exam completed at the centre':44} {completed:>12.1f} s")
    print(f"{'  of which sending, first to last message':44} {sending:>12.1f} s")
    print(f"{'catch-up: holds let go (centre state is back)':44} {total:>12.1f} s")
    print("\n(catch-up times are from the moment the link came back)")


if __name__ == "__main__":
    main()
