"""Run by test_sqlite_race.py in its own process with DATABASE_URL pointing at
a fresh SQLite file: concurrent bookings of one slot on the quick-start
database. Prints the outcomes as JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from orders.services import order_create, procedure_create  # noqa: E402
from patients.services import patient_create  # noqa: E402
from scheduling.booking import SlotTaken, appointment_book  # noqa: E402
from scheduling.models import Appointment  # noqa: E402
from scheduling.stations import station_create  # noqa: E402


def main(threads: int) -> None:
    call_command("migrate", verbosity=0)
    station = station_create(name="CT", modality="CT", ae_title="CT_SQLITE")
    procedure = procedure_create(code="CT1", name="CT", modality="CT", default_duration_minutes=30)
    patient = patient_create(family_name="Juma")
    orders = [order_create(patient=patient, procedure=procedure) for _ in range(threads)]
    start = timezone.localtime() + dt.timedelta(days=1)
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []

    def book(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            appointment_book(order=orders[index], station=station, starts_at=start + dt.timedelta(minutes=index % 3))
            outcomes.append("booked")
        except SlotTaken:
            outcomes.append("conflict")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcomes.append(f"error: {exc!r}")
        finally:
            connections.close_all()

    workers = [threading.Thread(target=book, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    active = Appointment.objects.filter(status="active").count()
    print(json.dumps({"outcomes": sorted(outcomes), "active": active}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
