"""Keeps WorklistItem in step with orders, appointments and patients. Called by
the services that change those, inside their transaction (never by signals)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from facility.models import Facility
from mwl_ris.lib.dicom import (
    normalise_for_search,
    person_name_from_text,
    validate_ae_title,
    validate_lo,
    validate_sh,
    validate_uid,
)
from mwl_ris.lib.errors import ApplicationError
from orders.models import ExamStatus, Order, Priority
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus
from worklist.models import SERVED_STATUSES, SpsStatus, WorklistItem

if TYPE_CHECKING:
    from orders.lifecycle import Transition

# Order status -> Scheduled Procedure Step Status. Orders in other statuses
# (requested, cancelled, no-show) have no worklist item.
SPS_STATUS_FOR_EXAM: dict[str, SpsStatus] = {
    ExamStatus.SCHEDULED: SpsStatus.SCHEDULED,
    ExamStatus.ARRIVED: SpsStatus.ARRIVED,
    ExamStatus.IN_PROGRESS: SpsStatus.STARTED,
    ExamStatus.COMPLETED: SpsStatus.COMPLETED,
    ExamStatus.DISCONTINUED: SpsStatus.DISCONTINUED,
}


def _patient_columns(patient: Patient) -> dict[str, object]:
    return {
        "patient_record": patient,
        "patient_name": patient.dicom_name,
        "patient_name_search": normalise_for_search(patient.dicom_name),
        "patient_id": patient.patient_id,
        "issuer_of_patient_id": patient.issuer,
        "patient_birth_date": patient.birth_date,
        "patient_sex": patient.sex,
    }


def _age(birth: dt.date | None, on: dt.date) -> str:
    """Patient's Age (AS) on the day of the exam: 045Y, 018M, 021D."""
    if birth is None or birth > on:
        return ""
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months >= 24:
        return f"{min(months // 12, 999):03d}Y"
    if months >= 1:
        return f"{months:03d}M"
    return f"{(on - birth).days:03d}D"


def _recorded(patient: Patient, facility: Facility) -> dict[str, Any]:
    """What the RIS's own records say for the keys it fills from the patient
    and the facility (Patient's Age from the birth date), keyword -> value."""
    return {
        "MedicalAlerts": patient.medical_alerts,
        "Allergies": patient.allergies,
        "PatientAddress": " ".join(patient.address.split())[:64],
        "PatientTelephoneNumbers": patient.phone,
        "PatientAge": patient.birth_date.isoformat() if patient.birth_date else "",
        "OtherPatientIDsSequence": [
            {
                "PatientID": i.value,
                "IssuerOfPatientID": i.issuer or i.kind.upper(),
                "TypeOfPatientID": "TEXT",
            }
            for i in patient.identifiers.all()
        ],
        "InstitutionName": facility.name[:64],
        "InstitutionalDepartmentName": facility.department[:64],
        "InstitutionAddress": facility.address.strip()[:1024],
    }


def worklist_import_snapshot(*, order: Order) -> dict[str, Any]:
    """For an order being imported: what the RIS's records say now, kept with
    its imported attributes. While a record still says the same, the imported
    item's own value is served (the old server's); once someone edits it here,
    the RIS's value is."""
    return _recorded(order.patient, Facility.objects.filter(pk=1).first() or Facility())


def _attributes(order: Order, appointment: Appointment, facility: Facility) -> dict[str, Any]:
    """The item's values for keys without a column (keyword -> str, int or a
    list of items; see dicom_gateway.attributes): an imported item's attributes
    as imported, then what the RIS records, which wins where it has a value
    (for an imported item: once the record was edited after the import)."""
    patient = order.patient
    imported = order.imported_attributes or {}
    values: dict[str, Any] = {**imported.get("top", {}), **imported.get("sps", {})}
    if imported.get("procedure") != order.procedure_id:  # the order's procedure was changed since the import
        values.pop("RequestedProcedureCodeSequence", None)
        values.pop("ScheduledProtocolCodeSequence", None)
    snapshot = imported.get("recorded_at_import")
    recorded = _recorded(patient, facility)
    created = timezone.localtime(order.created_at) if order.created_at else None
    known: dict[str, Any] = {
        **recorded,
        "PatientAge": _age(patient.birth_date, timezone.localtime(appointment.starts_at).date()),
        "PregnancyStatus": order.pregnancy_status,
        "RequestedProcedureComments": order.comments.strip()[:10240],
        "IssueDateOfImagingServiceRequest": f"{created:%Y%m%d}" if created else "",
        "IssueTimeOfImagingServiceRequest": f"{created:%H%M%S}" if created else "",
    }
    for keyword, value in known.items():
        if value in ("", None, []):
            continue
        edited = snapshot is None or keyword not in recorded or snapshot.get(keyword) != recorded[keyword]
        if edited or keyword not in values:
            values[keyword] = value
    return values


def _item_columns(order: Order, appointment: Appointment, facility: Facility) -> dict[str, object]:
    procedure = order.procedure
    station = appointment.station
    local_start = timezone.localtime(appointment.starts_at)
    imported = order.imported_attributes or {}
    top, sps = imported.get("top", {}), imported.get("sps", {})
    # An imported item's own texts, while it keeps the procedure and the station it was imported with.
    as_imported = imported.get("procedure") == order.procedure_id
    at_imported_station = imported.get("station") == station.ae_title
    referring = person_name_from_text(order.referring_physician)
    return {
        **_patient_columns(order.patient),
        "appointment": appointment,
        "station": station,
        "accession_number": order.accession_number,
        "study_instance_uid": order.study_instance_uid,
        "requested_procedure_id": order.requested_procedure_id,
        "requested_procedure_description": (as_imported and top.get("RequestedProcedureDescription"))
        or procedure.name[:64],
        "requested_procedure_code_value": procedure.code,
        "requested_procedure_coding_scheme": procedure.coding_scheme,
        "requested_procedure_code_meaning": procedure.name[:64],
        "requested_procedure_priority": (
            imported.get("priority") == order.priority and top.get("RequestedProcedurePriority")
        )
        or Priority(order.priority).dicom,
        "referring_physician_name": referring,
        "requesting_physician_name": top.get("RequestingPhysician") or referring,
        "reason_for_requested_procedure": " ".join(order.reason.split())[:64],
        "placer_order_number": order.placer_order_number,
        "filler_order_number": order.filler_order_number,
        # One requested procedure = one scheduled step; its ID is the requested procedure's.
        "sps_id": order.scheduled_procedure_step_id or order.requested_procedure_id,
        "sps_description": (as_imported and sps.get("ScheduledProcedureStepDescription")) or procedure.name[:64],
        "sps_start": appointment.starts_at,
        "sps_start_date": local_start.date(),
        "sps_start_time": local_start.time().replace(tzinfo=None),
        "sps_end": appointment.ends_at,
        "modality": (as_imported and sps.get("Modality")) or procedure.modality,
        "station_ae_title": station.ae_title,
        "other_station_ae_titles": f"\\{order.extra_station_ae_titles}\\" if order.extra_station_ae_titles else "",
        "station_name": (at_imported_station and sps.get("ScheduledStationName")) or station.name[:16],
        "site_code": station.site.code if station.site is not None else "",
        "sps_location": (at_imported_station and sps.get("ScheduledProcedureStepLocation")) or station.room[:16],
        "protocol_code_value": procedure.protocol_code,
        "protocol_coding_scheme": procedure.coding_scheme if procedure.protocol_code else "",
        "protocol_code_meaning": procedure.name[:64] if procedure.protocol_code else "",
        "performing_physician_name": person_name_from_text(order.scheduled_performing_physician),
        "sps_status": SPS_STATUS_FOR_EXAM[order.status],
        "attributes": _attributes(order, appointment, facility),
    }


def worklist_item_validate(item: WorklistItem) -> None:
    """Every Type 1 key valued and every value valid for its VR: checked when
    the item is written so the gateway never serves an incomplete item."""
    problems: dict[str, str] = {}
    required = (  # Accession Number is Type 2: an imported item may have none
        "patient_name",
        "patient_id",
        "study_instance_uid",
        "requested_procedure_id",
        "requested_procedure_description",
        "sps_id",
        "modality",
        "station_ae_title",
    )
    for name in required:
        if not getattr(item, name):
            problems[name] = "required (DICOM Type 1) but empty"
    checks = {
        "accession_number": validate_sh,
        "requested_procedure_id": validate_sh,
        "sps_id": validate_sh,
        "patient_id": validate_lo,
        "study_instance_uid": validate_uid,
        "station_ae_title": validate_ae_title,
    }
    for name, check in checks.items():
        value = getattr(item, name)
        if value:
            try:
                check(value)
            except ValidationError as exc:
                problems[name] = "; ".join(exc.messages)
    if problems:
        raise ApplicationError(
            "The worklist item would be invalid for a modality: " + ", ".join(f"{k}: {v}" for k, v in problems.items()),
            code="worklist_item_invalid",
            extra={"fields": problems},
        )


def worklist_item_sync(*, order: Order) -> WorklistItem | None:
    """Create, update or remove the order's worklist item to match its current
    status and active appointment. Returns the item, or None when removed."""
    appointment = (
        Appointment.objects.select_related("station__site").filter(order=order, status=AppointmentStatus.ACTIVE).first()
    )
    if appointment is None or order.status not in SPS_STATUS_FOR_EXAM:
        WorklistItem.objects.filter(order=order).delete()
        return None
    facility = Facility.objects.filter(pk=1).first() or Facility()
    columns = _item_columns(order, appointment, facility)
    item = WorklistItem.objects.filter(order=order).first() or WorklistItem(order=order)
    for name, value in columns.items():
        setattr(item, name, value)
    worklist_item_validate(item)
    item.save()
    return item


def worklist_follows_exam(change: Transition) -> None:
    """PROJECTION (orders.lifecycle): the exam's worklist item follows its new status."""
    worklist_item_sync(order=change.order)


def worklist_items_sync_patient(*, patient: Patient) -> int:
    """After a patient's details changed or orders moved to them in a merge:
    rewrite their items (a patient has a handful)."""
    orders = Order.objects.filter(worklist_item__isnull=False, patient=patient).select_related("patient", "procedure")
    return sum(worklist_item_sync(order=order) is not None for order in orders)


def worklist_items_sync_facility() -> int:
    """After the facility's name, department or address changed: every served
    item carries them (Institution Name…), so their attributes are rewritten,
    500 per UPDATE. Items no longer served keep what they had."""
    facility = Facility.objects.filter(pk=1).first() or Facility()
    items = (
        WorklistItem.objects.filter(sps_status__in=SERVED_STATUSES)
        .select_related("order__patient", "appointment")
        .prefetch_related("order__patient__identifiers")
    )
    now, batch, count = timezone.now(), [], 0
    for item in items.iterator(chunk_size=500):
        item.attributes = _attributes(item.order, item.appointment, facility)
        item.updated_at = now
        batch.append(item)
        if len(batch) == 500:
            count += WorklistItem.objects.bulk_update(batch, ["attributes", "updated_at"])
            batch = []
    return count + (WorklistItem.objects.bulk_update(batch, ["attributes", "updated_at"]) if batch else 0)


def worklist_items_purge_finished(*, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Completed and discontinued exams leave the worklist projection (they are
    not served anyway) once ``older_than`` has passed since they ended."""
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = WorklistItem.objects.filter(
        order__status__in=[ExamStatus.COMPLETED, ExamStatus.DISCONTINUED], order__ended_at__lt=cutoff
    ).delete()
    return deleted
