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
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import acting_as
from audit.models import Interface
from audit.services import audit_record
from hl7_interface import errors
from hl7_interface.ack import build_ack
from hl7_interface.envelope import CHARSETS, Envelope, decode, normalise_segments, peek_envelope
from hl7_interface.errors import Rejected, Unappliable
from hl7_interface.mapping import message_apply
from hl7_interface.models import InboundMessage, InboundStatus
from mwl_ris.lib.errors import ApplicationError
from mwl_ris.lib.validation import FieldErrors

logger = logging.getLogger(__name__)


def _ack_bytes(ack: str, codec: str) -> bytes:
    return ack.encode(codec, errors="replace")


def message_reject(
    *, raw: bytes, peer: str, reason: str, code: str = errors.SEGMENT_SEQUENCE_ERROR, location: str = ""
) -> bytes:
    """Keep a message we cannot read (bad framing, bad MSH, undecodable) and NACK it with AR."""
    envelope = {name: _printable(value) for name, value in peek_envelope(raw).items()}
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
    envelope = peek_envelope(raw)
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
            code=errors.DATA_TYPE_ERROR,
        )
    try:
        envelope, message, text = decode(raw)
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
            envelope, message = parsed or decode(row.text.encode(codec, errors="strict"))[:2]
            ack_info = _ack_fields(envelope)
            with transaction.atomic():
                outcome = message_apply(envelope=envelope, message=message)
            row.status, row.error, row.ack_code = InboundStatus.PROCESSED, outcome.note, "AA"
            row.patient, row.order = outcome.patient, outcome.order
            row.ack = build_ack(code="AA", acknowledged=ack_info, text=outcome.note, charset=envelope.charset)
        except (Rejected, Unappliable) as exc:
            _mark_error(row, ack_info or peek_envelope(bytes(row.raw)), exc.message, exc.code, exc.location)
        except FieldErrors as exc:  # a value the RIS cannot take (too long, malformed)
            details = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
            _mark_error(row, ack_info, f"{exc.message} {details}", errors.DATA_TYPE_ERROR, "")
        except ApplicationError as exc:  # a domain rule refused it (transition not allowed, merged patient…)
            _mark_error(row, ack_info, exc.message, errors.INTERNAL_ERROR, "")
        except Exception as exc:  # a bug or an outage while applying: keep the message for review
            logger.exception("HL7 message %s could not be applied", pk)
            _mark_error(row, ack_info, f"Internal error: {type(exc).__name__}", errors.INTERNAL_ERROR, "")
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
    codec = CHARSETS.get(message.charset or settings.HL7_DEFAULT_CHARSET.upper(), "utf-8")
    if text is not None:
        text = normalise_segments(text)
        try:
            envelope, _, _ = decode(text.encode(codec))
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
