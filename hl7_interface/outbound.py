"""Exam status to the order placer (IHE RAD-3 style ORM^O01, ORC-1 = SC).

An outbox: the status service writes one OutboundMessage per destination in
the same transaction as the status change, and asks Celery to deliver after
commit. Delivery is in order per destination (a message that fails holds the
ones after it, so the placer never sees *completed* before *scheduled*),
retried with exponential backoff, and visible with its state. If the broker
is down at commit time the periodic sweep delivers later; nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket

import hl7
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import Interface
from audit.services import audit_record
from hl7_interface.ack import control_id_next, escape, timestamp
from hl7_interface.models import DeliveryState, Destination, OutboundMessage
from orders.models import Order
from scheduling.models import Appointment, AppointmentStatus

logger = logging.getLogger(__name__)

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"

# Exam status → ORC-5 (HL7 table 0038) and ORC-25 order status modifier.
ORC5 = {
    "scheduled": "SC",
    "arrived": "SC",
    "in_progress": "IP",
    "completed": "CM",
    "cancelled": "CA",
    "discontinued": "DC",
    "no_show": "SC",
}
MODIFIER = {"arrived": "ARRIVED^Patient arrived^L", "no_show": "NOSHOW^Patient did not attend^L"}


def _dtm(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y%m%d%H%M%S%z") if value else ""


def status_message_text(*, order: Order, status: str, destination: Destination, control_id: str) -> str:
    patient, procedure = order.patient, order.procedure
    appointment = (
        Appointment.objects.filter(order=order, status=AppointmentStatus.ACTIVE).select_related("station").first()
    )
    starts = _dtm(appointment.starts_at) if appointment else ""
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            escape(settings.HL7_APPLICATION),
            escape(settings.HL7_FACILITY),
            escape(destination.receiving_application),
            escape(destination.receiving_facility),
            timestamp(),
            "",
            "ORM^O01^ORM_O01",
            control_id,
            "P",
            "2.5.1",
            "",
            "",
            "AL",
            "NE",
            "",
            "UNICODE UTF-8",
        ]
    )
    name = "^".join(escape(p) for p in (patient.family_name, patient.given_name, patient.middle_name)).rstrip("^")
    pid = "|".join(
        [
            "PID",
            "1",
            "",
            f"{escape(patient.patient_id)}^^^{escape(patient.issuer)}^MR",
            "",
            name,
            "",
            patient.birth_date.strftime("%Y%m%d") if patient.birth_date else "",
            patient.sex or "U",
        ]
    )
    orc = ["ORC", "SC", escape(order.placer_order_number), escape(order.accession_number), "", ORC5[status]]
    orc += ["", f"^^^{starts}" if starts else "", "", _dtm(timezone.now())]
    orc += [""] * 15 + [MODIFIER.get(status, "")]  # ORC-25
    obr = ["OBR", "1", escape(order.placer_order_number), escape(order.accession_number)]
    obr.append(f"{escape(procedure.code)}^{escape(procedure.name)}^{escape(procedure.coding_scheme)}")
    obr += [""] * 13  # OBR-5 … OBR-17
    obr += [escape(order.accession_number), escape(order.requested_procedure_id)]  # OBR-18/19, as IHE RAD-4
    obr += ["", "", "", "", "", escape(procedure.modality), ""]  # OBR-20 … OBR-26, OBR-24 = modality
    obr.append(f"^^^{starts}" if starts else "")  # OBR-27
    zds = f"ZDS|{escape(order.study_instance_uid)}^{escape(settings.HL7_APPLICATION)}^Application^DICOM"
    return "\r".join(["|".join(s) if isinstance(s, list) else s for s in (msh, pid, orc, obr, zds)]) + "\r"


def outbound_status_queue(*, order: Order, status: str) -> int:
    """Queue the status message for every destination that wants it. Call
    inside the transaction that changes the status."""
    destinations = [d for d in Destination.objects.filter(active=True) if d.wants(status)]
    for destination in destinations:
        control_id = control_id_next("S")
        OutboundMessage.objects.create(
            destination=destination,
            order=order,
            exam_status=status,
            control_id=control_id,
            text=status_message_text(order=order, status=status, destination=destination, control_id=control_id),
            next_attempt_at=timezone.now(),
        )
    if destinations:
        ids = [d.pk for d in destinations]
        transaction.on_commit(lambda: _kick(ids))
    return len(destinations)


def _kick(destination_ids: list[int]) -> None:
    from hl7_interface.tasks import hl7_outbound_deliver_task

    for pk in destination_ids:
        try:
            hl7_outbound_deliver_task.delay(pk)
        except Exception:  # noqa: BLE001 - any broker failure: the periodic sweep delivers it
            logger.warning("HL7 outbound: could not queue delivery to destination %s; the sweep will", pk)


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min … capped at one hour."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def mllp_exchange(host: str, port: int, text: str, timeout: float) -> str:
    """Send one framed message and read the framed reply. A plain socket with
    a timeout: python-hl7's MLLPClient has none and reads a single recv()."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(SB + text.encode("utf-8") + EB + CR)
        reply = bytearray()
        while not reply.endswith(EB + CR):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the destination closed the connection without an ACK")
            reply += chunk
    return bytes(reply).strip(SB + EB + CR + b"\n").decode("utf-8", errors="replace")


def _ack_code(reply: str) -> tuple[str, str]:
    message = hl7.parse(reply.replace("\n", "\r"))
    msa = message.segment("MSA")
    text = str(msa(3)) if len(msa) > 3 else ""
    return str(msa(1)), text


def _claim(destination: Destination, lease: dt.timedelta) -> bool:
    """A lease instead of a lock held during network I/O: one deliverer per destination."""
    now = timezone.now()
    return bool(
        Destination.objects.filter(pk=destination.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + lease)
    )


def outbound_deliver(*, destination: Destination, limit: int = 200) -> dt.datetime | None:
    """Send the due messages of one destination, oldest first, stopping at the
    first failure. Returns when the next attempt is due (None: nothing left)."""
    timeout = settings.HL7_OUTBOUND_TIMEOUT
    if not _claim(destination, dt.timedelta(seconds=timeout * limit + 60)):
        return None
    try:
        pending = OutboundMessage.objects.filter(
            destination=destination, state__in=[DeliveryState.PENDING, DeliveryState.RETRYING]
        ).order_by("pk")
        for message in pending[:limit]:
            if message.next_attempt_at > timezone.now():
                return message.next_attempt_at
            attempts = message.attempts + 1
            try:
                code, text = _ack_code(mllp_exchange(destination.host, destination.port, message.text, timeout))
                error = "" if code in ("AA", "CA") else f"{code}: {text or 'refused'}"
            except (OSError, ConnectionError, ValueError, KeyError, IndexError) as exc:
                code, error = "", f"{type(exc).__name__}: {exc}"
            if not error:
                OutboundMessage.objects.filter(pk=message.pk).update(
                    state=DeliveryState.SENT, attempts=attempts, ack_code=code, sent_at=timezone.now(), last_error=""
                )
                _audit_sent(message, destination, DeliveryState.SENT, code, "")
                continue
            gave_up = attempts >= settings.HL7_OUTBOUND_MAX_ATTEMPTS
            next_at = timezone.now() + backoff(attempts)
            OutboundMessage.objects.filter(pk=message.pk).update(
                state=DeliveryState.FAILED if gave_up else DeliveryState.RETRYING,
                attempts=attempts,
                ack_code=code,
                last_error=error[:1000],
                next_attempt_at=next_at,
            )
            _audit_sent(message, destination, DeliveryState.FAILED if gave_up else DeliveryState.RETRYING, code, error)
            logger.warning(
                "HL7 outbound to %s failed (attempt %d%s): %s",
                destination.name,
                attempts,
                ", giving up" if gave_up else "",
                error,
            )
            if not gave_up:
                return next_at
        return None
    finally:
        Destination.objects.filter(pk=destination.pk).update(lease_until=None)


def outbound_retry(*, messages: QuerySet[OutboundMessage]) -> int:
    """Make failed or waiting messages due now (after the destination was fixed)."""
    ids = list(messages.exclude(state=DeliveryState.SENT).values_list("destination_id", flat=True).distinct())
    count = messages.exclude(state=DeliveryState.SENT).update(
        state=DeliveryState.RETRYING, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: _kick(ids))
    return count


def destinations_due() -> list[int]:
    return list(
        OutboundMessage.objects.filter(
            state__in=[DeliveryState.PENDING, DeliveryState.RETRYING], next_attempt_at__lte=timezone.now()
        )
        .values_list("destination_id", flat=True)
        .distinct()
    )


def _audit_sent(message: OutboundMessage, destination: Destination, state: str, code: str, error: str) -> None:
    audit_record(
        "hl7-out",
        object_type="hl7_interface.OutboundMessage",
        object_id=message.pk,
        summary=f"ORM^O01 {message.control_id} to {destination.name}: {state} {code}"[:300],
        after={"state": state, "ack_code": code, "error": error[:200]},
        interface=Interface.HL7,
        actor=destination.name,
        ip=f"{destination.host}:{destination.port}",
    )
