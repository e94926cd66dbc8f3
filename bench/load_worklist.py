#!/usr/bin/env python
"""Load bench/peers/gen_worklist.py items (items.ndjson) into the RIS database
as stations, procedures, patients, orders, appointments and worklist items:
the same items DCMTK wlmscpfs and Orthanc serve from the .wl files.

    DATABASE_URL=... .venv/bin/python bench/load_worklist.py DATA/N10000/items.ndjson

Bulk inserts (the booking services would take minutes for 100,000 items);
the rows are what the services would write. The generator puts up to a few
items in the same 15-minute slot of a station; since the database refuses
overlapping appointments, the k-th item of a slot starts k seconds later
(same date, same slot, same query answers; only the seconds differ).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnop")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402

from mwl_ris.lib.dicom import normalise_for_search  # noqa: E402
from orders.models import Order, Procedure  # noqa: E402
from patients.models import Patient  # noqa: E402
from scheduling.models import Appointment, Station  # noqa: E402
from worklist.models import WorklistItem  # noqa: E402

PRIORITY = {"STAT": "stat", "HIGH": "urgent"}
BATCH = 5000


def split_name(pn: str) -> tuple[str, str, str, str]:
    alphabetic, _, ideographic = pn.partition("=")
    parts = [*alphabetic.split("^"), "", "", ""][:3]
    return parts[0], parts[1], parts[2], ideographic.split("=")[0]


def load(path: Path) -> int:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    tz = ZoneInfo(settings.TIME_ZONE)
    with transaction.atomic():
        stations: dict[str, Station] = {}
        procedures: dict[tuple[str, str], Procedure] = {}
        patients: dict[str, Patient] = {}
        for item in items:
            sps = item["ScheduledProcedureStepSequence"][0]
            ae = sps["ScheduledStationAETitle"]
            if ae not in stations:
                stations[ae] = Station(
                    name=sps["ScheduledStationName"][:64],
                    room=sps["ScheduledProcedureStepLocation"],
                    modality=sps["Modality"],
                    ae_title=ae,
                )
            key = (sps["Modality"], item["RequestedProcedureDescription"])
            if key not in procedures:
                procedures[key] = Procedure(
                    code=f"P{len(procedures) + 1:03d}",
                    coding_scheme="BENCH",
                    name=key[1][:64],
                    modality=key[0],
                    default_duration_minutes=15,
                )
            pid = item["PatientID"]
            if pid not in patients:
                family, given, middle, ideographic = split_name(item["PatientName"])
                birth = item.get("PatientBirthDate")
                patients[pid] = Patient(
                    patient_id=pid,
                    issuer=item.get("IssuerOfPatientID", ""),
                    family_name=family,
                    given_name=given,
                    middle_name=middle,
                    ideographic_name=ideographic,
                    name_search=normalise_for_search(item["PatientName"]),
                    birth_date=dt.datetime.strptime(birth, "%Y%m%d").date() if birth else None,
                    sex=item.get("PatientSex", ""),
                )
        Station.objects.bulk_create(stations.values(), batch_size=BATCH)
        Procedure.objects.bulk_create(procedures.values(), batch_size=BATCH)
        Patient.objects.bulk_create(patients.values(), batch_size=BATCH)

        orders, appointments, slot_use = [], [], Counter[tuple[str, dt.datetime]]()
        for item in items:
            sps = item["ScheduledProcedureStepSequence"][0]
            start = dt.datetime.strptime(
                sps["ScheduledProcedureStepStartDate"] + sps["ScheduledProcedureStepStartTime"][:6], "%Y%m%d%H%M%S"
            ).replace(tzinfo=tz)
            slot = (sps["ScheduledStationAETitle"], start)
            start += dt.timedelta(seconds=slot_use[slot])
            slot_use[slot] += 1
            procedure = procedures[(sps["Modality"], item["RequestedProcedureDescription"])]
            orders.append(
                Order(
                    patient=patients[item["PatientID"]],
                    procedure=procedure,
                    accession_number=item["AccessionNumber"],
                    study_instance_uid=item["StudyInstanceUID"],
                    requested_procedure_id=item["RequestedProcedureID"],
                    filler_order_number=item["AccessionNumber"],
                    priority=PRIORITY.get(item["RequestedProcedurePriority"], "routine"),
                    referring_physician=item.get("ReferringPhysicianName", ""),
                    status="scheduled",
                )
            )
            appointments.append(
                Appointment(
                    station=stations[sps["ScheduledStationAETitle"]],
                    starts_at=start,
                    ends_at=start + dt.timedelta(seconds=1),
                )
            )
        Order.objects.bulk_create(orders, batch_size=BATCH)
        for order, appointment in zip(orders, appointments, strict=True):
            appointment.order = order
            appointment.patient = order.patient
            appointment.patient_overlap_allowed = True  # generated data: one patient may repeat at one time
        Appointment.objects.bulk_create(appointments, batch_size=BATCH)

        rows = []
        for item, order, appointment in zip(items, orders, appointments, strict=True):
            sps = item["ScheduledProcedureStepSequence"][0]
            local = appointment.starts_at.astimezone(tz)
            patient = patients[item["PatientID"]]
            rows.append(
                WorklistItem(
                    order=order,
                    appointment=appointment,
                    station=appointment.station,
                    patient_record=patient,
                    patient_name=item["PatientName"],
                    patient_name_search=patient.name_search,
                    patient_id=item["PatientID"],
                    issuer_of_patient_id=patient.issuer,
                    patient_birth_date=patient.birth_date,
                    patient_sex=patient.sex,
                    accession_number=order.accession_number,
                    study_instance_uid=order.study_instance_uid,
                    requested_procedure_id=order.requested_procedure_id,
                    requested_procedure_description=item["RequestedProcedureDescription"][:64],
                    requested_procedure_code_value=order.procedure.code,
                    requested_procedure_coding_scheme="BENCH",
                    requested_procedure_code_meaning=order.procedure.name,
                    requested_procedure_priority=item["RequestedProcedurePriority"],
                    referring_physician_name=item.get("ReferringPhysicianName", ""),
                    filler_order_number=order.accession_number,
                    sps_id=sps["ScheduledProcedureStepID"],
                    sps_description=sps["ScheduledProcedureStepDescription"][:64],
                    sps_start=appointment.starts_at,
                    sps_start_date=local.date(),
                    sps_start_time=local.time(),
                    sps_end=appointment.ends_at,
                    modality=sps["Modality"],
                    station_ae_title=sps["ScheduledStationAETitle"],
                    station_name=sps["ScheduledStationName"][:16],
                    sps_location=sps["ScheduledProcedureStepLocation"][:16],
                    performing_physician_name=sps.get("ScheduledPerformingPhysicianName", ""),
                    sps_status="SCHEDULED",
                )
            )
        WorklistItem.objects.bulk_create(rows, batch_size=BATCH)
    return len(items)


if __name__ == "__main__":
    count = load(Path(sys.argv[1]))
    print(f"loaded {count} worklist items")
