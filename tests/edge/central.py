"""The centre's side of the edge tests and bench, as a process of its own on
the central cluster (the test process's Django uses the test database): reads
one JSON command per line on stdin, answers one JSON line on stdout.

    {"do": "seed", "site": "KIB", "station": "CT_KIB", "edge_ae": "EDGE_KIB"}
    {"do": "book", "station": "CT_KIB", "count": 3}
    {"do": "cancel", "accession": "A2612010001"}
    {"do": "order", "accession": "A2612010001"}
    {"do": "unmatched"}
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")

import django

django.setup()

from django.db.models import Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from dicom_gateway.models import PerformedProcedureStep  # noqa: E402
from facility.services import site_save  # noqa: E402
from orders.lifecycle import exam_transition  # noqa: E402
from orders.models import ExamStatus, Order, Procedure  # noqa: E402
from orders.services import order_create, procedure_create  # noqa: E402
from patients.services import patient_create  # noqa: E402
from scheduling.booking import appointment_book  # noqa: E402
from scheduling.models import Appointment, Station  # noqa: E402
from scheduling.stations import station_create  # noqa: E402

_count = itertools.count(1)


def seed(site: str, station: str, edge_ae: str, modality: str = "CT") -> dict[str, Any]:
    place = site_save(code=site, name=f"Imaging centre {site}", edge_ae_title=edge_ae)
    procedure = Procedure.objects.filter(code="CTHEAD").first() or procedure_create(
        code="CTHEAD", coding_scheme="RIS", name="CT Head", modality="CT", default_duration_minutes=15
    )
    room = Station.objects.filter(ae_title=station).first() or station_create(
        name=f"CT {site}", room="1", modality=modality, ae_title=station, site=place
    )
    return {"site": place.pk, "station": room.pk, "procedure": procedure.pk}


def book(station: str, count: int = 1) -> list[dict[str, Any]]:
    room = Station.objects.get(ae_title=station)
    procedure = Procedure.objects.get(code="CTHEAD")
    base = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    last = Appointment.objects.filter(station=room).aggregate(last=Max("ends_at"))["last"]
    base = max(base, last) if last else base
    booked: list[dict[str, Any]] = []
    for _ in range(count):
        n = next(_count)
        patient = patient_create(
            patient_id=f"KIB{os.getpid() % 1000:03d}{n:05d}", issuer="KIB", family_name="Mgonjwa", given_name=f"N{n}"
        )
        order = order_create(patient=patient, procedure=procedure)
        appointment_book(order=order, station=room, starts_at=base + dt.timedelta(minutes=15 * len(booked)))
        order.refresh_from_db()
        booked.append(
            {"accession": order.accession_number, "study": order.study_instance_uid, "patient": patient.patient_id}
        )
    return booked


def cancel(accession: str) -> dict[str, Any]:
    order = exam_transition(
        order=Order.objects.get(accession_number=accession), to=ExamStatus.CANCELLED, reason="Patient unwell"
    )
    return {"status": order.status}


def order(accession: str) -> dict[str, Any]:
    found = Order.objects.get(accession_number=accession)
    steps = [
        {"uid": s.sop_instance_uid, "status": s.status, "review_reason": s.review_reason, "from": s.calling_ae_title}
        for s in PerformedProcedureStep.objects.filter(order=found).order_by("pk")
    ]
    return {"status": found.status, "steps": steps}


def unmatched() -> list[dict[str, Any]]:
    return [
        {"uid": s.sop_instance_uid, "status": s.status, "accession": s.accession_number, "study": s.study_instance_uid}
        for s in PerformedProcedureStep.objects.filter(order__isnull=True).order_by("pk")
    ]


ACTIONS: dict[str, Callable[..., Any]] = {
    "seed": seed,
    "book": book,
    "cancel": cancel,
    "order": order,
    "unmatched": unmatched,
}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            result = ACTIONS[command.pop("do")](**command)
            answer = {"ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
