#!/usr/bin/env python
"""A cached C-FIND query plan, run again: Django's public API (the queryset
compiled on every run; MWL_ACCEL=false) against the compile-once shortcut
(dicom_gateway/compiled.py; MWL_ACCEL on), on the demo data's day lists.

    .venv/bin/python bench/query_plan.py [runs]

Prints, per day list, the rows and the time per run (median and p95) of each path.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import drop_database, fresh_database

NAME = "bench_query_plan"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    fresh_database(NAME)
    try:
        from django.core.management import call_command
        from django.db import connection

        call_command("seed_demo", "--patients", "300", "--days", "3", verbosity=0)
        from pydicom import Dataset

        from dicom_gateway.encoding import ProfileSettings
        from dicom_gateway.find import PLAN_CACHE, _plan
        from worklist.models import SERVED_STATUSES, WorklistItem

        print(f"{'day list':<26} {'rows':>5} {'public median':>14} {'p95':>8} {'compiled median':>16} {'p95':>8}")
        stations = WorklistItem.objects.values_list("station_ae_title", flat=True).distinct().order_by()
        for ae in sorted(set(stations))[:4]:
            served = WorklistItem.objects.filter(station_ae_title=ae, sps_status__in=SERVED_STATUSES)
            day = Counter(served.values_list("sps_start_date", flat=True)).most_common(1)[0][0]
            query = Dataset()
            query.PatientName = ""
            query.PatientID = ""
            sps = Dataset()
            sps.ScheduledStationAETitle = ae
            sps.ScheduledProcedureStepStartDate = f"{day:%Y%m%d}"
            query.ScheduledProcedureStepSequence = [sps]
            figures = []
            for precompile in (False, True):
                PLAN_CACHE.clear()
                plan = _plan(
                    query,
                    calling_ae=ae,
                    profile=ProfileSettings(),
                    station_known=True,
                    request_key=(ae, precompile),
                    precompile=precompile,
                )
                connection.ensure_connection()
                rows = len(plan.rows())
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    plan.rows()
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                figures.append((rows, statistics.median(times), times[int(len(times) * 0.95) - 1]))
            (rows, pub_med, pub_95), (_, fast_med, fast_95) = figures
            label = f"{ae} {day:%d/%m/%Y}"
            print(
                f"{label:<26} {rows:>5} {pub_med:>11.2f} ms {pub_95:>5.2f} ms {fast_med:>13.2f} ms {fast_95:>5.2f} ms"
            )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(NAME)


if __name__ == "__main__":
    main()
