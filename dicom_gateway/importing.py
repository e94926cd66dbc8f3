"""Import DICOM worklist files (.wl, as DCMTK wlmscpfs and Orthanc keep them)
into the RIS as patients, orders and appointments: the migration path for a
site running a file-based worklist today. Idempotent by accession number (by
Study Instance UID for an item without one). An imported item is served as the
old server served it: person names with all their components and groups,
fractional start times, and every other attribute of the worklist model kept
with the order (Order.imported_attributes) and returned when asked. Every item
that cannot be imported, and every attribute that could not be kept, is
reported per file with the reason; an item whose time slot is taken is still
imported (the station takes one more patient at a time, as the old worklist
did) or waits in the scheduler's queue, so nothing is lost."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from dicom_gateway.attributes import NotKept, plain_value
from dicom_gateway.keys import SPS_LEVEL, SPS_SEQUENCE, TOP_LEVEL, Key
from mwl_ris.lib.dicom import validate_ae_title
from mwl_ris.lib.errors import ApplicationError
from orders.models import Modality, Order, PregnancyStatus, Priority, Procedure
from orders.services import order_create, procedure_create
from patients.models import Patient
from patients.services import patient_create
from scheduling.booking import SlotTaken, appointment_book
from scheduling.models import MAX_CAPACITY, Station
from scheduling.stations import station_create, station_update
from worklist.services import worklist_import_snapshot

logger = logging.getLogger(__name__)
PRIORITIES = {"STAT": Priority.STAT, "HIGH": Priority.URGENT}
IMPORT_REASON = "imported from a worklist file"


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # accession numbers (or Study UIDs) booked onto the worklist
    queued: list[tuple[str, str]] = field(default_factory=list)  # (accession, why it waits unscheduled)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    stations_created: list[str] = field(default_factory=list)
    # AE title -> the capacity it was raised to, to hold items the old worklist ran in parallel
    capacity_raised: dict[str, int] = field(default_factory=dict)
    # (file, what was not kept as it was and why): attributes outside the model, values cut to fit
    not_kept: list[tuple[str, str]] = field(default_factory=list)


class Skip(Exception):
    """This item is not imported; the message says why."""


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


@dataclass(frozen=True)
class SplitName:
    family: str
    given: str
    middle: str
    prefix: str
    suffix: str
    ideographic: str
    phonetic: str


def _split_pn(pn: str) -> SplitName:
    """The five components of the alphabetic group, and the other two groups as written."""
    groups = [*pn.split("="), "", ""]
    parts = [*(p.strip() for p in groups[0].split("^")), "", "", "", "", ""]
    return SplitName(parts[0], parts[1], parts[2], parts[3], parts[4], ideographic=groups[1], phonetic=groups[2])


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.replace(".", "")[:8], "%Y%m%d").date()
    except ValueError as exc:
        raise Skip(f"{what} {text!r} is not a date") from exc


def _time(text: str) -> dt.time:
    """HH, HHMM, HHMMSS or HHMMSS.FFFFFF (the fraction kept)."""
    digits, _, fraction = text.replace(":", "").partition(".")
    if not re.fullmatch(r"\d{2}(\d{2}(\d{2})?)?", digits or "00") or not re.fullmatch(r"\d{0,6}", fraction):
        raise Skip(f"SPS start time {text!r} is not a time")
    digits = (digits or "00").ljust(6, "0")
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return dt.time(int(digits[:2]), int(digits[2:4]), min(int(digits[4:6]), 59), micro)


def _patient(ds: Dataset) -> Patient:
    patient_id = _text(ds, "PatientID")
    if not patient_id:
        raise Skip("no Patient ID")
    issuer = _text(ds, "IssuerOfPatientID")
    existing = Patient.objects.filter(issuer=issuer, patient_id=patient_id).first()
    if existing is not None:
        return existing.merged_into or existing
    name = _split_pn(str(ds.get("PatientName", "") or ""))
    if not name.family:
        raise Skip("no Patient's Name")
    for component in (name.family, name.given, name.middle, name.prefix, name.suffix, name.ideographic, name.phonetic):
        if len(component) > 64:
            raise Skip(f"Patient's Name part {component[:20]!r}… is longer than 64 characters")
    sex = _text(ds, "PatientSex").upper()
    try:
        return patient_create(
            via="import",
            patient_id=patient_id,
            issuer=issuer,
            family_name=name.family,
            given_name=name.given,
            middle_name=name.middle,
            name_prefix=name.prefix,
            name_suffix=name.suffix,
            ideographic_name=name.ideographic,
            phonetic_name=name.phonetic,
            medical_alerts=_text(ds, "MedicalAlerts")[:64],
            allergies=_text(ds, "Allergies")[:64],
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


# Elements of an item that say how it is encoded, not what it holds.
ENCODING_KEYWORDS = frozenset({"SpecificCharacterSet", SPS_SEQUENCE})


def _kept(ds: Dataset, table: dict[str, Key], where: str, notes: list[str]) -> dict[str, Any]:
    """Every attribute of the worklist model the item holds a value for, in
    the plain form (dicom_gateway.attributes); what is outside the model, or
    cannot be kept, goes to ``notes``."""
    kept: dict[str, Any] = {}
    for element in ds:
        keyword = element.keyword
        if element.tag.element == 0 or keyword in ENCODING_KEYWORDS:
            continue
        if element.tag.is_private or keyword not in table:
            if not element.is_empty:
                name = f"{keyword} {element.tag}" if keyword else str(element.tag)
                notes.append(f"{where}{name} not kept: not an attribute of the Modality Worklist model")
            continue
        try:
            value = plain_value(element)
        except NotKept as exc:
            notes.append(f"{where}{keyword} not kept: {exc}")
            continue
        if value is not None:
            kept[keyword] = value
    return kept


def _fitted(value: str, limit: int, what: str, notes: list[str]) -> str:
    if len(value) > limit:
        notes.append(f"{what} cut to {limit} characters (was {len(value)})")
    return value[:limit]


def worklist_dataset_import(ds: Dataset, *, report: ImportReport, notes: list[str] | None = None) -> str:
    """Import one worklist item. Returns its accession number (its Study
    Instance UID when it has none); raises Skip. ``notes`` gets what was not
    kept as it was."""
    notes = notes if notes is not None else []
    accession = _text(ds, "AccessionNumber")
    uid = _text(ds, "StudyInstanceUID")
    if len(accession) > 16:
        raise Skip(f"Accession Number {accession!r} is longer than 16 characters")
    if not accession and not uid:
        raise Skip("neither an Accession Number nor a Study Instance UID (one is needed to import idempotently)")
    if accession and Order.objects.filter(accession_number=accession).exists():
        raise Skip(f"accession {accession} was already imported")
    if uid and Order.objects.filter(study_instance_uid=uid).exists():
        raise Skip(f"Study Instance UID {uid} was already imported")
    key = accession or uid
    sequence = ds.get(SPS_SEQUENCE) or []
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
    rp_id = _text(ds, "RequestedProcedureID") or accession or _text(sps, "ScheduledProcedureStepID")
    sps_id = _text(sps, "ScheduledProcedureStepID")
    if not rp_id:
        raise Skip("no Requested Procedure ID, Accession Number or SPS ID to serve as Requested Procedure ID")
    if len(rp_id) > 16 or len(sps_id) > 16:
        raise Skip("Requested Procedure ID or SPS ID longer than 16 characters")
    top = _kept(ds, TOP_LEVEL, "", notes)
    step = _kept(sps, SPS_LEVEL, "Scheduled Procedure Step: ", notes)
    priority = PRIORITIES.get(_text(ds, "RequestedProcedurePriority").upper(), Priority.ROUTINE)
    pregnancy = ds.get("PregnancyStatus")
    with transaction.atomic():
        patient = _patient(ds)
        station, extra_titles = _station(sps, report)
        procedure = _procedure(ds, sps, station)
        order = order_create(
            patient=patient,
            procedure=procedure,
            priority=priority,
            referring_physician=_fitted(_text(ds, "ReferringPhysicianName"), 64, "Referring Physician's Name", notes),
            scheduled_performing_physician=_fitted(
                _text(sps, "ScheduledPerformingPhysicianName"), 64, "Scheduled Performing Physician's Name", notes
            ),
            reason=_text(ds, "ReasonForTheRequestedProcedure"),
            comments=_text(ds, "RequestedProcedureComments"),
            pregnancy_status=int(pregnancy) if pregnancy in PregnancyStatus.values else None,
            placer_order_number=_fitted(
                _text(ds, "PlacerOrderNumberImagingServiceRequest"), 64, "Placer Order Number", notes
            ),
            filler_order_number=_fitted(
                _text(ds, "FillerOrderNumberImagingServiceRequest"), 64, "Filler Order Number", notes
            ),
        )
        # Keep the identifiers the modalities and the archive already know, and
        # everything else the item held (worklist.services serves it as imported).
        Order.objects.filter(pk=order.pk).update(
            accession_number=accession,
            requested_procedure_id=rp_id,
            scheduled_procedure_step_id=sps_id,
            study_instance_uid=uid or order.study_instance_uid,
            extra_station_ae_titles=extra_titles,
            imported_attributes={
                "top": top,
                "sps": step,
                "procedure": procedure.pk,
                "station": station.ae_title,
                "priority": priority,
                "recorded_at_import": worklist_import_snapshot(order=order),
            },
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
                report.queued.append((key, exc.message))
                return key
            station_update(station=station, capacity=station.capacity + 1)
            report.capacity_raised[station.ae_title] = station.capacity
            continue
        except ApplicationError as exc:
            report.queued.append((key, exc.message))
            return key
        break
    report.imported.append(key)
    return key


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
            notes: list[str] = []
            worklist_dataset_import(ds, report=report, notes=notes)
            report.not_kept.extend((str(file), note) for note in notes)
        except (InvalidDicomError, OSError, ValueError, KeyError, AttributeError) as exc:
            report.skipped.append((str(file), f"unreadable: {exc}"))
        except Skip as exc:
            report.skipped.append((str(file), str(exc)))
        except ApplicationError as exc:
            report.skipped.append((str(file), exc.message))
    return report
