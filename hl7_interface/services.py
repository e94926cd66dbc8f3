"""Receiving HL7 messages: store raw, then apply, then acknowledge.

The order of events is what makes it lose nothing:
1. the raw bytes are committed to the inbox before anything is parsed;
2. the message is applied and its row marked processed (with the ACK text)
   in one transaction; a failure rolls the changes back and marks it error;
3. the ACK goes back only after that commit (the listener sends it).
A control ID already finished from the same sender is answered with the ACK
stored the first time; one stored but never finished (the listener was
killed) is processed now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import acting_as
from audit.models import Interface
from audit.services import audit_record
from hl7_interface import parsing
from hl7_interface.ack import build_ack
from hl7_interface.models import InboundMessage, InboundStatus, ProcedureCodeMap
from hl7_interface.parsing import Envelope, OrderData, PatientData, Rejected, Unappliable
from mwl_ris.lib.errors import ApplicationError
from mwl_ris.lib.validation import FieldErrors
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
            code=parsing.TABLE_VALUE_NOT_FOUND,
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
            code=parsing.UNKNOWN_KEY,
            location="ORC-2",
        )
    return order


def _order_new(patient: Patient, data: OrderData) -> Outcome:
    if not data.placer_number:
        raise Unappliable(
            "A new order needs a placer order number (ORC-2).", code=parsing.REQUIRED_FIELD_MISSING, location="ORC-2"
        )
    procedure, station = procedure_for_code(code=data.service_code, coding_system=data.coding_system)
    existing = Order.objects.filter(placer_order_number=data.placer_number).first()
    if existing is not None:
        raise Unappliable(
            f"Placer order number {data.placer_number} is already order {existing.accession_number}; "
            "send XO to change it.",
            code=parsing.DUPLICATE_KEY,
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
                "A new or changed order needs a PID segment.", code=parsing.SEGMENT_SEQUENCE_ERROR, location="PID"
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


def message_apply(*, envelope: Envelope, message: Any) -> Outcome:
    segs = parsing.segments(message, envelope)
    pid = next((s for s in segs if s.name == "PID"), None)
    if envelope.message_code == "ADT":
        if pid is None:
            raise Unappliable(
                "An ADT message needs a PID segment.", code=parsing.SEGMENT_SEQUENCE_ERROR, location="PID"
            )
        data = parsing.patient_from_pid(pid)
        if envelope.trigger_event == "A40":
            mrg = next((s for s in segs if s.name == "MRG"), None)
            if mrg is None:
                raise Unappliable(
                    "A merge (A40) needs an MRG segment.", code=parsing.SEGMENT_SEQUENCE_ERROR, location="MRG"
                )
            prior_id, prior_issuer = parsing.prior_patient_from_mrg(mrg)
            source = _patient_find(prior_id, prior_issuer or data.issuer)
            if source is None:
                raise Unappliable(
                    f"Prior patient {prior_id} (MRG-1) is not known.", code=parsing.UNKNOWN_KEY, location="MRG-1"
                )
            target = hl7_patient_upsert(data=data)
            if source.pk == target.pk:
                return Outcome(patient=target, note="already merged")
            merge = patient_merge(source=source, target=target, via="hl7")
            return Outcome(patient=target, note=f"merged {prior_id}: {merge.orders_moved} orders moved")
        return Outcome(patient=hl7_patient_upsert(data=data))
    patient = hl7_patient_upsert(data=parsing.patient_from_pid(pid)) if pid is not None else None
    outcomes = [_order_apply(patient, data) for data in parsing.orders_from(segs)]
    last = outcomes[-1]
    return Outcome(
        patient=patient or last.patient, order=last.order, note="; ".join(o.note for o in outcomes if o.note)
    )


# --- the inbox ---------------------------------------------------------------------


def _ack_bytes(ack: str, codec: str) -> bytes:
    return ack.encode(codec, errors="replace")


def message_reject(
    *, raw: bytes, peer: str, reason: str, code: str = parsing.SEGMENT_SEQUENCE_ERROR, location: str = ""
) -> bytes:
    """Keep a message we cannot read (bad framing, bad MSH, undecodable) and NACK it with AR."""
    envelope = {name: _printable(value) for name, value in parsing.peek_envelope(raw).items()}
    reason = _printable(reason)
    ack = build_ack(code="AR", acknowledged=envelope, text=reason, error_code=code, location=location)
    row = InboundMessage.objects.create(
        peer=peer[:64],
        raw=raw,  # byte for byte, whatever it holds
        text=_printable(raw.decode("latin-1")),
        sender=f"{envelope.get('sending_application', '')}|{envelope.get('sending_facility', '')}"[:200],
        control_id=envelope.get("control_id", ""),
        message_type=envelope.get("message_type", "")[:32],
        version=envelope.get("version", ""),
        status=InboundStatus.REJECTED,
        error=reason,
        ack_code="AR",
        ack=ack,
    )
    _audit_message(row)
    logger.warning("HL7 rejected peer=%s control_id=%s reason=%s", peer, envelope.get("control_id", ""), reason)
    return ack.encode("ascii", errors="replace")


def _printable(text: str) -> str:
    """Text PostgreSQL can store (no NUL character); the raw bytes keep the original."""
    return text.replace("\x00", "\ufffd")


def message_receive(*, raw: bytes, peer: str) -> bytes:
    """Store, apply and acknowledge one message; returns the ACK to send.
    Raises only when the message could not even be stored (database down):
    the listener then sends nothing and the sender retries. Everything it
    changes is audited as done by the sending application, from its address."""
    envelope = parsing.peek_envelope(raw)
    sender = _printable(f"{envelope.get('sending_application', '')}|{envelope.get('sending_facility', '')}")
    with acting_as(Interface.HL7, sender, ip=peer.rsplit(":", 1)[0]):
        return _receive(raw=raw, peer=peer)


def _receive(*, raw: bytes, peer: str) -> bytes:
    nul = raw.find(b"\x00")
    if nul >= 0:
        return message_reject(
            raw=raw,
            peer=peer,
            reason=f"The message contains a NUL byte (0x00) at byte {nul}; HL7 v2 text cannot hold it.",
            code=parsing.DATA_TYPE_ERROR,
        )
    try:
        envelope, message, text = parsing.decode(raw)
    except Rejected as exc:
        return message_reject(raw=raw, peer=peer, reason=exc.message, code=exc.code, location=exc.location)
    row = InboundMessage(
        peer=peer[:64],
        raw=raw,
        text=text,
        charset=envelope.charset,
        sender=envelope.sender[:200],
        control_id=envelope.control_id[:64],
        message_type=envelope.message_type[:32],
        version=envelope.version,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        first = InboundMessage.objects.exclude(status__in=[InboundStatus.DUPLICATE, InboundStatus.REJECTED]).get(
            sender=row.sender, control_id=row.control_id
        )
        if first.status != InboundStatus.RECEIVED:
            return _answer_duplicate(row, first, envelope)
        return _process(first.pk, envelope.codec)  # stored before but never finished (listener stopped)
    return _process(row.pk, envelope.codec, (envelope, message))


def _audit_message(row: InboundMessage) -> None:
    """One audit record per inbound message: type, control ID, outcome (no message text)."""
    audit_record(
        "hl7-in",
        object_type="hl7_interface.InboundMessage",
        object_id=row.pk,
        patient_id=row.patient.patient_id if row.patient_id and row.patient else "",
        summary=f"{row.message_type} control_id={row.control_id} {row.status} ack={row.ack_code}"[:300],
        after={"status": row.status, "ack_code": row.ack_code, "error": row.error[:200]},
    )


def _answer_duplicate(row: InboundMessage, first: InboundMessage, envelope: Envelope) -> bytes:
    row.status, row.duplicate_of, row.ack_code, row.ack = InboundStatus.DUPLICATE, first, first.ack_code, first.ack
    row.processed_at = timezone.now()
    row.save()
    _audit_message(row)
    logger.info("HL7 duplicate control_id=%s sender=%s first=%s", row.control_id, row.sender, first.pk)
    return _ack_bytes(first.ack, envelope.codec)


def _process(pk: int, codec: str, parsed: tuple[Envelope, Any] | None = None) -> bytes:
    """Apply the stored message ``pk`` and record the outcome, in one transaction.
    ``parsed``: its text already decoded (a message just received), else decoded here."""
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().get(pk=pk)
        if row.status not in (InboundStatus.RECEIVED, InboundStatus.ERROR):
            return _ack_bytes(row.ack, codec)  # another connection finished it meanwhile
        row.attempts += 1
        ack_info: dict[str, str] = {}
        try:
            envelope, message = parsed or parsing.decode(row.text.encode(codec, errors="strict"))[:2]
            ack_info = _ack_fields(envelope)
            with transaction.atomic():
                outcome = message_apply(envelope=envelope, message=message)
            row.status, row.error, row.ack_code = InboundStatus.PROCESSED, outcome.note, "AA"
            row.patient, row.order = outcome.patient, outcome.order
            row.ack = build_ack(code="AA", acknowledged=ack_info, text=outcome.note, charset=envelope.charset)
        except (Rejected, Unappliable) as exc:
            _mark_error(row, ack_info or parsing.peek_envelope(bytes(row.raw)), exc.message, exc.code, exc.location)
        except FieldErrors as exc:  # a value the RIS cannot take (too long, malformed)
            details = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
            _mark_error(row, ack_info, f"{exc.message} {details}", parsing.DATA_TYPE_ERROR, "")
        except ApplicationError as exc:  # a domain rule refused it (transition not allowed, merged patient…)
            _mark_error(row, ack_info, exc.message, parsing.INTERNAL_ERROR, "")
        except Exception as exc:  # a bug or an outage while applying: keep the message for review
            logger.exception("HL7 message %s could not be applied", pk)
            _mark_error(row, ack_info, f"Internal error: {type(exc).__name__}", parsing.INTERNAL_ERROR, "")
        row.processed_at = timezone.now()
        row.save()
        _audit_message(row)
    logger.info(
        "HL7 %s control_id=%s type=%s ack=%s%s",
        row.status,
        row.control_id,
        row.message_type,
        row.ack_code,
        f" error={row.error!r}" if row.status == InboundStatus.ERROR else "",
    )
    return _ack_bytes(row.ack, codec)


def _ack_fields(envelope: Envelope) -> dict[str, str]:
    return {
        "sending_application": envelope.sending_application,
        "sending_facility": envelope.sending_facility,
        "receiving_application": envelope.receiving_application,
        "receiving_facility": envelope.receiving_facility,
        "message_type": envelope.message_type,
        "trigger_event": envelope.trigger_event,
        "control_id": envelope.control_id,
        "version": envelope.version,
    }


def _mark_error(row: InboundMessage, ack_info: dict[str, str], message: str, code: str, location: str) -> None:
    row.status, row.error, row.ack_code = InboundStatus.ERROR, message, "AE"
    row.patient, row.order = None, None
    row.ack = build_ack(
        code="AE", acknowledged=ack_info, text=message, error_code=code, location=location, charset=row.charset
    )


def message_reprocess(*, message: InboundMessage, text: str | None = None) -> InboundMessage:
    """Apply a message in error again, after its cause was fixed (a code
    mapped, an order created) or its text corrected by a user. The original
    raw bytes stay as received."""
    if message.status not in (InboundStatus.ERROR, InboundStatus.RECEIVED):
        raise ApplicationError(
            f"Only messages in error can be reprocessed; this one is {message.status}.", code="not_in_error"
        )
    codec = parsing.CHARSETS.get(message.charset or settings.HL7_DEFAULT_CHARSET.upper(), "utf-8")
    if text is not None:
        text = parsing.normalise_segments(text)
        try:
            envelope, _, _ = parsing.decode(text.encode(codec))
        except (Rejected, UnicodeEncodeError) as exc:
            raise ApplicationError(f"The corrected message cannot be read: {exc}", code="invalid_message") from exc
        if envelope.control_id != message.control_id:
            raise ApplicationError(
                "The corrected message must keep its control ID (MSH-10).", code="control_id_changed"
            )
        InboundMessage.objects.filter(pk=message.pk).update(text=text)
    _process(message.pk, codec)
    message.refresh_from_db()
    return message
