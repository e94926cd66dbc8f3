#!/usr/bin/env python
"""Server time of the main web pages with a week of demo data.

    .venv/bin/python bench/ui_pages.py [--patients 2000] [--repeat 30]

Creates (and drops) the database ``mwl_ris_bench_ui`` on BENCH_PG (default
postgres://postgres@127.0.0.1:5432), loads the demo hospital with seven days
of appointments (three before today, today, three after) and times each page
through the whole Django stack in this process (middleware, session, views,
templates; no network), logged in as the role that uses it. Prints p50 / p95 /
max and the number of SQL queries per page. Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchlib import drop_database, fresh_database, p50_p95_ms

DB = "mwl_ris_bench_ui"
TARGET_MS = 300.0
DEMO_PASSWORD = "demo-2026"  # noqa: S105 - seed_demo's published demo password


def duplicate_form() -> dict[str, str]:
    """A registration of a patient already there: the duplicate check answers 409, nothing is saved."""
    from patients.models import Patient

    known = Patient.objects.exclude(birth_date=None).order_by("pk").first()
    assert known is not None
    assert known.birth_date is not None
    return {
        "family_name": known.family_name,
        "given_name": known.given_name,
        "birth_date": known.birth_date_display,
        "language": "sw",
    }


def pages() -> list[tuple[str, str, str]]:
    """(role user, label, url) of the pages schedulers and technologists use all day."""
    from orders.models import Order
    from patients.models import Patient
    from scheduling.models import Appointment, Station

    queued = Order.objects.filter(status="requested").order_by("pk").first()
    appointment = Appointment.objects.filter(status="active").order_by("-pk").first()
    patient = Patient.objects.order_by("pk").first()
    ct = Station.objects.get(ae_title="MNH_CT1")
    assert queued is not None
    assert appointment is not None
    assert patient is not None
    return [
        ("scheduler", "dashboard", "/dashboard/"),
        ("scheduler", "patient search (htmx)", "/patients/?q=mar"),
        ("scheduler", "patient page", f"/patients/{patient.pk}/"),
        ("scheduler", "order entry", f"/patients/{patient.pk}/orders/new/"),
        ("scheduler", "queue to book", "/orders/queue/"),
        ("scheduler", "booking: day + next available", f"/orders/{queued.pk}/book/"),
        ("scheduler", "calendar DX day (2 stations)", "/calendar/DX/"),
        ("scheduler", "calendar CT day (24 h station)", "/calendar/CT/"),
        ("scheduler", "calendar US day (a room for 2)", "/calendar/US/"),
        ("scheduler", "calendar DX week", "/calendar/DX/?view=week"),
        ("scheduler", "booking: week + next available", f"/orders/{queued.pk}/book/?view=week"),
        ("scheduler", "appointment", f"/appointments/{appointment.pk}/"),
        ("scheduler", "appointment slip (barcode)", f"/appointments/{appointment.pk}/slip/"),
        ("scheduler", "register form", "/patients/new/"),
        ("scheduler", "register: duplicates found (POST, 409)", "POST /patients/new/"),
        ("admin", "possible duplicates", "/patients/duplicates/"),
        ("admin", "facility settings", "/settings/facility/"),
        ("tech", "day list CT", f"/daylist/?station={ct.pk}"),
        ("tech", "day list all DX (modality)", "/daylist/?modality=DX"),
        ("tech", "day list poll (rows)", f"/daylist/rows/?station={ct.pk}"),
        ("tech", "worklist as the modality sees it", f"/stations/{ct.pk}/worklist/"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    fresh_database(DB)
    try:
        from django.core.management import call_command
        from django.core.signals import request_started
        from django.db import connection, reset_queries
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from scheduling.models import Appointment

        call_command("seed_demo", patients=args.patients, days=3, verbosity=0)
        print(f"demo data: {Appointment.objects.count()} appointments over 7 days, {args.patients} patients")
        request_started.disconnect(reset_queries)  # keep the captured queries of the timed request
        clients: dict[str, Client] = {}
        rows = []
        for user, label, url in pages():
            client = clients.get(user)
            if client is None:
                client = clients[user] = Client()
                assert client.login(username=user, password=DEMO_PASSWORD)
            current: Client = clients[user]
            headers = {"HX-Request": "true"} if "htmx" in label else {}
            expected = 200
            method, path, form = "get", url, None
            if url.startswith("POST "):
                method, path, form, expected = "post", url.removeprefix("POST "), duplicate_form(), 409

            def fetch(c: Client = current, m: str = method, p: str = path, f: Any = form, h: Any = headers) -> Any:
                return c.post(p, f) if m == "post" else c.get(p, headers=h)

            fetch()  # warm: templates compiled, connection open
            with CaptureQueriesContext(connection) as captured:
                response = fetch()
            queries = len(captured.captured_queries)
            assert response.status_code == expected, (url, response.status_code)
            times = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                fetch()
                times.append(time.perf_counter() - began)
            p50, p95 = p50_p95_ms(times)
            rows.append((label, p50, p95, max(times) * 1000, queries, len(response.content) // 1024))
        print(
            f"\n{'page':38} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'queries':>8} {'KiB':>5}  < {TARGET_MS:.0f} ms"
        )
        for label, p50, p95, worst, nq, kib in rows:
            print(
                f"{label:38} {p50:7.1f} {p95:7.1f} {worst:7.1f} {nq:8d} {kib:5d}  {'ok' if p95 < TARGET_MS else 'SLOW'}"
            )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DB)


if __name__ == "__main__":
    main()
