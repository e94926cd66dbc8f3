"""Keeps WorklistItem in step with orders, appointments and patients. Called by
the services that change those, inside their transaction (never by signals)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

from mwl_ris.lib.dicom import (
    normalise_for_search,
    person_name_from_text,
    validate_ae_title,
    validate_lo,
    validate_sh,
    validate_uid,
)
from mwl_ris.lib.errors import ApplicationError
from orders.lifecycle import ExamStatus
from orders.models import Order, Priority
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus
from worklist.models import SpsStatus, WorklistItem

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


def _item_columns(order: Order, appointment: Appointment) -> dict[str, object]:
    procedure = order.procedure
    station = appointment.station
    local_start = timezone.localtime(appointment.starts_at)
    return {
        **_patient_columns(order.patient),
        "appointment": appointment,
        "station": station,
        "accession_number": order.accession_number,
        "study_instance_uid": order.study_instance_uid,
        "requested_procedure_id": order.requested_procedure_id,
        "requested_procedure_description": procedure.name[:64],
        "requested_procedure_code_value": procedure.code,
        "requested_procedure_coding_scheme": procedure.coding_scheme,
        "requested_procedure_code_meaning": procedure.name[:64],
        "requested_procedure_priority": Priority(order.priority).dicom,
        "referring_physician_name": person_name_from_text(order.referring_physician)[:64],
        "reason_for_requested_procedure": " ".join(order.reason.split())[:64],
        "placer_order_number": order.placer_order_number,
        "filler_order_number": order.filler_order_number,
        # One requested procedure = one scheduled step; its ID is the requested procedure's.
        "sps_id": order.scheduled_procedure_step_id or order.requested_procedure_id,
        "sps_description": procedure.name[:64],
        "sps_start": appointment.starts_at,
        "sps_start_date": local_start.date(),
        "sps_start_time": local_start.time().replace(tzinfo=None),
        "sps_end": appointment.ends_at,
        "modality": procedure.modality,
        "station_ae_title": station.ae_title,
        "other_station_ae_titles": f"\\{order.extra_station_ae_titles}\\" if order.extra_station_ae_titles else "",
        "station_name": station.name[:16],
        "sps_location": station.room[:16],
        "protocol_code_value": procedure.protocol_code,
        "protocol_coding_scheme": procedure.coding_scheme if procedure.protocol_code else "",
        "protocol_code_meaning": procedure.name[:64] if procedure.protocol_code else "",
        "sps_status": SPS_STATUS_FOR_EXAM[order.status],
    }


def worklist_item_validate(item: WorklistItem) -> None:
    """Every Type 1 key valued and every value valid for its VR: checked when
    the item is written so the gateway never serves an incomplete item."""
    problems: dict[str, str] = {}
    required = (
        "patient_name",
        "patient_id",
        "accession_number",
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
        Appointment.objects.select_related("station").filter(order=order, status=AppointmentStatus.ACTIVE).first()
    )
    if appointment is None or order.status not in SPS_STATUS_FOR_EXAM:
        WorklistItem.objects.filter(order=order).delete()
        return None
    columns = _item_columns(order, appointment)
    item = WorklistItem.objects.filter(order=order).first() or WorklistItem(order=order)
    for name, value in columns.items():
        setattr(item, name, value)
    worklist_item_validate(item)
    item.save()
    return item


def worklist_items_sync_patient(*, patient: Patient) -> int:
    """After a patient's demographics changed or orders moved to them in a
    merge: rewrite the patient columns of all their items in one UPDATE."""
    return WorklistItem.objects.filter(order__patient=patient).update(
        **_patient_columns(patient), updated_at=timezone.now()
    )


def worklist_items_purge_finished(*, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Completed and discontinued exams leave the worklist projection (they are
    not served anyway) once ``older_than`` has passed since they ended."""
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = WorklistItem.objects.filter(
        order__status__in=[ExamStatus.COMPLETED, ExamStatus.DISCONTINUED], order__ended_at__lt=cutoff
    ).delete()
    return deleted
