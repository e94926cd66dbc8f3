"""Import DICOM worklist files (.wl, as DCMTK wlmscpfs and Orthanc keep them)
into the RIS as patients, orders and appointments: the migration path for a
site running a file-based worklist today. Idempotent by accession number;
every item that cannot be imported is reported with the reason, and an item
whose time slot is already taken is still imported as an order waiting in the
scheduler's queue, so nothing is lost."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from mwl_ris.lib.dicom import validate_ae_title
from mwl_ris.lib.errors import ApplicationError
from orders.models import Modality, Order, Priority, Procedure
from orders.services import order_create, procedure_create
from patients.models import Patient
from patients.services import patient_create
from scheduling.models import MAX_CAPACITY, Station
from scheduling.services import SlotTaken, appointment_book, station_create, station_update

logger = logging.getLogger(__name__)
PRIORITIES = {"STAT": Priority.STAT, "HIGH": Priority.URGENT}
IMPORT_REASON = "imported from a worklist file"


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # accession numbers booked onto the worklist
    queued: list[tuple[str, str]] = field(default_factory=list)  # (accession, why it waits unscheduled)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    stations_created: list[str] = field(default_factory=list)
    # AE title -> the capacity it was raised to, to hold items the old worklist ran in parallel
    capacity_raised: dict[str, int] = field(default_factory=dict)


class Skip(Exception):
    """This item is not imported; the message says why."""


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def _split_pn(pn: str) -> tuple[str, str, str, str]:
    alphabetic, _, rest = pn.partition("=")
    parts = [p.strip() for p in alphabetic.split("^")] + ["", "", ""]
    return parts[0], parts[1], parts[2], rest.split("=")[0]


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.replace(".", "")[:8], "%Y%m%d").date()
    except ValueError as exc:
        raise Skip(f"{what} {text!r} is not a date") from exc


def _time(text: str) -> dt.time:
    digits = text.replace(":", "").split(".")[0]
    if not re.fullmatch(r"\d{2}(\d{2}(\d{2})?)?", digits or "00"):
        raise Skip(f"SPS start time {text!r} is not a time")
    digits = (digits or "00").ljust(6, "0")
    return dt.time(int(digits[:2]), int(digits[2:4]), min(int(digits[4:6]), 59))


def _patient(ds: Dataset) -> Patient:
    patient_id = _text(ds, "PatientID")
    if not patient_id:
        raise Skip("no Patient ID")
    issuer = _text(ds, "IssuerOfPatientID")
    existing = Patient.objects.filter(issuer=issuer, patient_id=patient_id).first()
    if existing is not None:
        return existing.merged_into or existing
    family, given, middle, ideographic = _split_pn(_text(ds, "PatientName"))
    if not family:
        raise Skip("no Patient's Name")
    sex = _text(ds, "PatientSex").upper()
    try:
        return patient_create(
            via="import",
            patient_id=patient_id,
            issuer=issuer,
            family_name=family,
            given_name=given,
            middle_name=middle,
            ideographic_name=ideographic,
            birth_date=_date(_text(ds, "PatientBirthDate"), "birth date"),
            sex=sex if sex in ("M", "F", "O") else "",
        )
    except ApplicationError as exc:
        raise Skip(f"patient: {exc.message} {exc.extra.get('fields', '')}".strip()) from exc


def _station(sps: Dataset, report: ImportReport) -> tuple[Station, str]:
    titles = [t.strip() for t in _text(sps, "ScheduledStationAETitle").split("\\") if t.strip()]
    if not titles:
        raise Skip("no Scheduled Station AE Title")
    for title in titles:
        try:
            validate_ae_title(title)
        except ValidationError as exc:
            raise Skip(f"Scheduled Station AE Title {title!r} is not valid") from exc
    station = Station.objects.filter(ae_title=titles[0]).first()
    if station is None:
        modality = _text(sps, "Modality").upper()
        station = station_create(
            name=(_text(sps, "ScheduledStationName") or titles[0])[:64],
            room=_text(sps, "ScheduledProcedureStepLocation")[:64],
            modality=modality if modality in Modality.values else Modality.OT,
            ae_title=titles[0],
        )
        report.stations_created.append(titles[0])
    return station, "\\".join(titles[1:])


def _procedure(ds: Dataset, sps: Dataset, station: Station) -> Procedure:
    codes = ds.get("RequestedProcedureCodeSequence") or []
    description = _text(ds, "RequestedProcedureDescription") or _text(sps, "ScheduledProcedureStepDescription")
    if codes:
        code, scheme = _text(codes[0], "CodeValue")[:16], _text(codes[0], "CodingSchemeDesignator")[:16] or "IMPORT"
        description = description or _text(codes[0], "CodeMeaning")
    else:
        if not description:
            raise Skip("no requested procedure (neither a code nor a description)")
        code, scheme = re.sub(r"[^A-Z0-9]", "", description.upper())[:16] or "UNKNOWN", "IMPORT"
    existing = Procedure.objects.filter(coding_scheme=scheme, code=code).first()
    if existing is not None:
        return existing
    modality = _text(sps, "Modality").upper()
    return procedure_create(
        code=code,
        coding_scheme=scheme,
        name=(description or code)[:64],
        modality=modality if modality in Modality.values else station.modality,
        default_duration_minutes=15,
    )


def worklist_dataset_import(ds: Dataset, *, report: ImportReport) -> str:
    """Import one worklist item. Returns its accession number; raises Skip."""
    accession = _text(ds, "AccessionNumber")
    if not accession:
        raise Skip("no Accession Number (needed to import idempotently)")
    if len(accession) > 16:
        raise Skip(f"Accession Number {accession!r} is longer than 16 characters")
    if Order.objects.filter(accession_number=accession).exists():
        raise Skip(f"accession {accession} was already imported")
    sequence = ds.get("ScheduledProcedureStepSequence") or []
    if len(sequence) != 1:
        raise Skip(f"{len(sequence)} Scheduled Procedure Steps (one expected)")
    sps = sequence[0]
    status = _text(sps, "ScheduledProcedureStepStatus").upper() or "SCHEDULED"
    if status not in ("SCHEDULED", "ARRIVED", "READY"):
        raise Skip(f"step status {status} is not waiting to be done")
    start_date = _date(_text(sps, "ScheduledProcedureStepStartDate"), "SPS start date")
    if start_date is None:
        raise Skip("no Scheduled Procedure Step Start Date")
    starts_at = dt.datetime.combine(
        start_date, _time(_text(sps, "ScheduledProcedureStepStartTime")), tzinfo=ZoneInfo(settings.TIME_ZONE)
    )
    rp_id = _text(ds, "RequestedProcedureID") or accession
    sps_id = _text(sps, "ScheduledProcedureStepID")
    if len(rp_id) > 16 or len(sps_id) > 16:
        raise Skip("Requested Procedure ID or SPS ID longer than 16 characters")
    with transaction.atomic():
        patient = _patient(ds)
        station, extra_titles = _station(sps, report)
        procedure = _procedure(ds, sps, station)
        order = order_create(
            patient=patient,
            procedure=procedure,
            priority=PRIORITIES.get(_text(ds, "RequestedProcedurePriority").upper(), Priority.ROUTINE),
            referring_physician=_text(ds, "ReferringPhysicianName")[:64],
            reason=_text(ds, "ReasonForTheRequestedProcedure"),
            placer_order_number=_text(ds, "PlacerOrderNumberImagingServiceRequest")[:64],
            filler_order_number=_text(ds, "FillerOrderNumberImagingServiceRequest")[:64],
        )
        # Keep the identifiers the modalities and the archive already know.
        uid = _text(ds, "StudyInstanceUID")
        Order.objects.filter(pk=order.pk).update(
            accession_number=accession,
            requested_procedure_id=rp_id,
            scheduled_procedure_step_id=sps_id,
            study_instance_uid=uid or order.study_instance_uid,
            extra_station_ae_titles=extra_titles,
        )
        order.refresh_from_db()
    while True:
        try:
            appointment_book(
                order=order, station=station, starts_at=starts_at, override_reason=IMPORT_REASON, any_modality=True
            )
        except SlotTaken as exc:
            # The old worklist had overlapping items on this station: the room works in
            # parallel (two ultrasound machines, walk-ins squeezed in). Take one more
            # patient at a time, so the item is served as it was, up to MAX_CAPACITY.
            station.refresh_from_db()
            if station.capacity >= MAX_CAPACITY:
                report.queued.append((accession, exc.message))
                return accession
            station_update(station=station, capacity=station.capacity + 1)
            report.capacity_raised[station.ae_title] = station.capacity
            continue
        except ApplicationError as exc:
            report.queued.append((accession, exc.message))
            return accession
        break
    report.imported.append(accession)
    return accession


def worklist_files_import(path: Path) -> ImportReport:
    """Import every .wl file (or every file, for a single path) under ``path``."""
    report = ImportReport()
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".wl")
    )
    for file in files:
        try:
            ds = dcmread(file, force=True)
            if "ScheduledProcedureStepSequence" not in ds and "PatientID" not in ds:
                raise Skip("not a worklist item")
            worklist_dataset_import(ds, report=report)
        except (InvalidDicomError, OSError, ValueError, KeyError, AttributeError) as exc:
            report.skipped.append((str(file), f"unreadable: {exc}"))
        except Skip as exc:
            report.skipped.append((str(file), str(exc)))
        except ApplicationError as exc:
            report.skipped.append((str(file), exc.message))
    return report
