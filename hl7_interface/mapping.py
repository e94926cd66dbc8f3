"""Applying a parsed message to the RIS: ADT to patients (register, update,
merge), ORM^O01 / OMI^O23 to orders (new, change, cancel, discontinue) and,
where the procedure or a placer field names a station, to a booking. Called
by inbox.py inside the message's transaction; it raises errors.Unappliable
for a message that was read but cannot be applied."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from hl7_interface import errors, extraction
from hl7_interface.envelope import Envelope
from hl7_interface.errors import Unappliable
from hl7_interface.extraction import OrderData, PatientData
from hl7_interface.models import ProcedureCodeMap
from mwl_ris.lib.errors import ApplicationError
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order, Procedure
from orders.services import order_create, order_update
from patients.models import IdentifierKind, Patient, PatientIdentifier, normalise_phone, phone_is_valid
from patients.services import patient_create, patient_merge, patient_update
from scheduling.booking import appointment_book, appointment_reschedule
from scheduling.models import Appointment, AppointmentStatus, Station

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What applying a message did, for the inbox row."""

    patient: Patient | None = None
    order: Order | None = None
    note: str = ""


# --- patients ----------------------------------------------------------------


def _survivor(patient: Patient) -> Patient:
    seen = set()
    while patient.merged_into_id is not None and patient.pk not in seen:
        seen.add(patient.pk)
        patient = Patient.objects.get(pk=patient.merged_into_id)
    return patient


def _patient_find(patient_id: str, issuer: str) -> Patient | None:
    issuer = issuer or settings.RIS_DEFAULT_ISSUER
    patient = Patient.objects.filter(patient_id=patient_id, issuer=issuer).first()
    if patient is None:
        previous = (
            PatientIdentifier.objects.filter(kind=IdentifierKind.PREVIOUS_ID, issuer=issuer, value=patient_id)
            .select_related("patient")
            .first()
        )
        patient = previous.patient if previous else None
    return _survivor(patient) if patient else None


def _patient_fields(data: PatientData) -> dict[str, Any]:
    """The demographics the message carries; an empty HL7 field means 'not sent'."""
    fields: dict[str, Any] = {"family_name": data.family_name}
    for name in ("given_name", "middle_name", "sex", "address"):
        if getattr(data, name):
            fields[name] = getattr(data, name)
    if data.birth_date:
        fields["birth_date"] = data.birth_date
        fields["birth_date_precision"] = data.birth_date_precision
    phone = normalise_phone(data.phone)
    if phone and phone_is_valid(phone):  # an unusable number is left out, not a reason to refuse
        fields["phone"] = phone
    return fields


def hl7_patient_upsert(*, data: PatientData) -> Patient:
    patient = _patient_find(data.patient_id, data.issuer)
    fields = _patient_fields(data)
    if patient is None:
        return patient_create(
            patient_id=data.patient_id,
            issuer=data.issuer or settings.RIS_DEFAULT_ISSUER,
            identifiers=data.other_ids,
            via="hl7",  # the HIS registered a patient we do not know: likely duplicates are kept for review
            **fields,
        )
    return patient_update(patient=patient, identifiers=data.other_ids, **fields)


# --- orders --------------------------------------------------------------------


def procedure_for_code(*, code: str, coding_system: str) -> tuple[Procedure, Station | None]:
    """OBR-4 → catalogue procedure via the code map, else a procedure with that code."""
    entry = (
        ProcedureCodeMap.objects.filter(code=code, coding_system__in=[coding_system, ""])
        .select_related("procedure", "station")
        .order_by("-coding_system")  # an entry for this coding system wins over 'any'
        .first()
    )
    if entry is not None:
        return entry.procedure, entry.station
    procedure = Procedure.objects.filter(code=code).order_by("pk").first()
    if procedure is None:
        raise Unappliable(
            f"Procedure code {code!r} ({coding_system or 'no coding system'}) in OBR-4 is not in the catalogue "
            "or the HL7 procedure code map; map it and reprocess this message.",
            code=errors.TABLE_VALUE_NOT_FOUND,
            location="OBR-4",
        )
    return procedure, None


def _station_for(order: Order, data: OrderData, mapped: Station | None) -> tuple[Station | None, str]:
    """The one station an order goes to, or why there is none."""
    if mapped is not None:
        return mapped, ""
    configured = {"OBR-18": data.placer_field_1, "OBR-19": data.placer_field_2}.get(settings.HL7_STATION_FIELD, "")
    if configured:
        station = Station.objects.filter(ae_title=configured.upper(), active=True).first()
        if station is None:
            return None, f"{settings.HL7_STATION_FIELD} names station {configured!r}, which is not an active station."
        return station, ""
    modality = order.procedure.modality
    candidates = list(Station.objects.filter(modality=modality, active=True)[:2])
    if len(candidates) == 1:
        return candidates[0], ""
    if not candidates:
        return None, f"There is no active {modality} station."
    return None, f"Several {modality} stations: a scheduler chooses one."


def _auto_schedule(order: Order, data: OrderData, mapped: Station | None) -> str:
    """Book the requested time when it maps to one station and is free;
    otherwise leave the order for a scheduler, with the reason on it."""
    if data.requested_at is None:
        return ""
    station, why = _station_for(order, data, mapped)
    if station is not None:
        try:
            with transaction.atomic():
                appointment_book(order=order, station=station, starts_at=data.requested_at)
            return f"booked on {station.ae_title}"
        except ApplicationError as exc:
            why = exc.message
    reason = f"Not booked automatically: {why}"[:200]
    Order.objects.filter(pk=order.pk).update(status_reason=reason)
    order.status_reason = reason
    return reason


def _order_find(data: OrderData) -> Order:
    order = None
    if data.placer_number:
        order = Order.objects.filter(placer_order_number=data.placer_number).first()
    if order is None and data.filler_number:
        order = Order.objects.filter(accession_number=data.filler_number).first() or (
            Order.objects.filter(filler_order_number=data.filler_number).first()
        )
    if order is None:
        raise Unappliable(
            f"No order with placer number {data.placer_number!r} / filler number {data.filler_number!r} (ORC-2/ORC-3).",
            code=errors.UNKNOWN_KEY,
            location="ORC-2",
        )
    return order


def _order_new(patient: Patient, data: OrderData) -> Outcome:
    if not data.placer_number:
        raise Unappliable(
            "A new order needs a placer order number (ORC-2).", code=errors.REQUIRED_FIELD_MISSING, location="ORC-2"
        )
    procedure, station = procedure_for_code(code=data.service_code, coding_system=data.coding_system)
    existing = Order.objects.filter(placer_order_number=data.placer_number).first()
    if existing is not None:
        raise Unappliable(
            f"Placer order number {data.placer_number} is already order {existing.accession_number}; "
            "send XO to change it.",
            code=errors.DUPLICATE_KEY,
            location="ORC-2",
        )
    order = order_create(
        patient=patient,
        procedure=procedure,
        priority=data.priority,
        referring_physician=data.referring_physician,
        reason=data.reason,
        placer_order_number=data.placer_number,
        filler_order_number=data.filler_number,
    )
    note = _auto_schedule(order, data, station)
    return Outcome(patient=patient, order=order, note=note)


def _active_appointment(order: Order) -> Appointment | None:
    return Appointment.objects.filter(order=order, status=AppointmentStatus.ACTIVE).select_related("station").first()


def _order_change(patient: Patient, data: OrderData) -> Outcome:
    order = _order_find(data)
    procedure, station = procedure_for_code(code=data.service_code, coding_system=data.coding_system)
    order = order_update(
        order=order,
        procedure=procedure,
        priority=data.priority,
        referring_physician=data.referring_physician,
        reason=data.reason,
    )
    note = ""
    appointment = _active_appointment(order)
    if data.requested_at is not None:
        if appointment is None and order.status in (ExamStatus.REQUESTED, ExamStatus.NO_SHOW):
            note = _auto_schedule(order, data, station)
        elif appointment is not None and appointment.starts_at != data.requested_at:
            appointment_reschedule(appointment=appointment, starts_at=data.requested_at, reason="HL7 XO")
            note = "rescheduled"
    return Outcome(patient=patient, order=order, note=note)


def _order_end(data: OrderData, *, discontinue: bool) -> Outcome:
    order = _order_find(data)
    reason = data.control_reason or (
        "Discontinued by the ordering system" if discontinue else "Cancelled by the ordering system"
    )
    if order.status in (ExamStatus.CANCELLED, ExamStatus.DISCONTINUED):
        return Outcome(order=order, note=f"already {order.status}")
    target = ExamStatus.DISCONTINUED if order.status == ExamStatus.IN_PROGRESS and discontinue else ExamStatus.CANCELLED
    exam_transition(order=order, to=target, reason=reason)
    return Outcome(patient=order.patient, order=order, note=target.value)


def _order_apply(patient: Patient | None, data: OrderData) -> Outcome:
    if data.control in ("NW", "XO"):
        if patient is None:
            raise Unappliable(
                "A new or changed order needs a PID segment.", code=errors.SEGMENT_SEQUENCE_ERROR, location="PID"
            )
        return _order_new(patient, data) if data.control == "NW" else _order_change(patient, data)
    if data.control == "CA":
        return _order_end(data, discontinue=False)
    if data.control == "DC":
        return _order_end(data, discontinue=True)
    # SC from the placer: a status it reports. Cancel/discontinue are applied;
    # anything else is acknowledged and noted (the RIS owns the exam status).
    if data.order_status in ("CA", "DC"):
        return _order_end(data, discontinue=data.order_status == "DC")
    order = _order_find(data)
    return Outcome(order=order, note=f"status {data.order_status or '(none)'} noted")


# --- applying one message ------------------------------------------------------------


CONNECTIVITY_TEST_NOTE = "connectivity test (NMQ^N01): nothing applied"


def message_apply(*, envelope: Envelope, message: Any) -> Outcome:
    if envelope.message_code == "NMQ":
        return Outcome(note=CONNECTIVITY_TEST_NOTE)
    segs = extraction.segments(message, envelope)
    pid = next((s for s in segs if s.name == "PID"), None)
    if envelope.message_code == "ADT":
        if pid is None:
            raise Unappliable("An ADT message needs a PID segment.", code=errors.SEGMENT_SEQUENCE_ERROR, location="PID")
        data = extraction.patient_from_pid(pid)
        if envelope.trigger_event == "A40":
            mrg = next((s for s in segs if s.name == "MRG"), None)
            if mrg is None:
                raise Unappliable(
                    "A merge (A40) needs an MRG segment.", code=errors.SEGMENT_SEQUENCE_ERROR, location="MRG"
                )
            prior_id, prior_issuer = extraction.prior_patient_from_mrg(mrg)
            source = _patient_find(prior_id, prior_issuer or data.issuer)
            if source is None:
                raise Unappliable(
                    f"Prior patient {prior_id} (MRG-1) is not known.", code=errors.UNKNOWN_KEY, location="MRG-1"
                )
            target = hl7_patient_upsert(data=data)
            if source.pk == target.pk:
                return Outcome(patient=target, note="already merged")
            merge = patient_merge(source=source, target=target, via="hl7")
            return Outcome(patient=target, note=f"merged {prior_id}: {merge.orders_moved} orders moved")
        return Outcome(patient=hl7_patient_upsert(data=data))
    patient = hl7_patient_upsert(data=extraction.patient_from_pid(pid)) if pid is not None else None
    outcomes = [_order_apply(patient, data) for data in extraction.orders_from(segs)]
    last = outcomes[-1]
    return Outcome(
        patient=patient or last.patient, order=last.order, note="; ".join(o.note for o in outcomes if o.note)
    )
