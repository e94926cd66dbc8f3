"""The HL7 outbox: exam status to the order placer.

The NOTIFY subscriber (hl7_interface.subscribers) writes one OutboundMessage
per destination in the same transaction as the status change, and Celery
delivers after commit (hl7_interface.tasks). Delivery is in order per
destination (a message that fails holds the ones after it, so the placer never
sees *completed* before *scheduled*), retried with exponential backoff, and
visible with its state. If the broker is down at commit time the periodic
sweep delivers later; nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import Interface
from audit.services import audit_record
from hl7_interface.ack import control_id_next
from hl7_interface.mllp_client import ack_code, mllp_exchange
from hl7_interface.models import DeliveryState, Destination, OutboundMessage
from hl7_interface.status_message import status_message_text
from mwl_ris.lib import tls
from orders.models import Order

logger = logging.getLogger(__name__)


def outbound_status_queue(*, order: Order, status: str) -> list[int]:
    """Queue the status message for every destination that wants it, inside
    the transaction that changes the status; returns those destinations."""
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
    return [d.pk for d in destinations]


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min … capped at one hour."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _claim(destination: Destination, lease: dt.timedelta) -> bool:
    """A lease instead of a lock held during network I/O: one deliverer per destination."""
    now = timezone.now()
    return bool(
        Destination.objects.filter(pk=destination.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + lease)
    )


def outbound_tls_context() -> ssl.SSLContext:
    """TLS to a destination: its certificate checked against
    HL7_OUTBOUND_TLS_CA_FILE (else the system's store); ours sent when set.
    A file that cannot be used raises TLSConfigError (a ValueError), which the
    delivery records as the attempt's error."""
    return tls.client_context(
        ca_file=settings.HL7_OUTBOUND_TLS_CA_FILE,
        cert_file=settings.HL7_OUTBOUND_TLS_CERT_FILE,
        key_file=settings.HL7_OUTBOUND_TLS_KEY_FILE,
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
                context = outbound_tls_context() if destination.use_tls else None
                code, text = ack_code(
                    mllp_exchange(destination.host, destination.port, message.text, timeout, tls=context)
                )
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


def outbound_retry(*, messages: QuerySet[OutboundMessage]) -> tuple[list[int], int]:
    """Make failed or waiting messages due now (after the destination was fixed):
    their destinations, and how many."""
    ids = list(messages.exclude(state=DeliveryState.SENT).values_list("destination_id", flat=True).distinct())
    count = messages.exclude(state=DeliveryState.SENT).update(
        state=DeliveryState.RETRYING, next_attempt_at=timezone.now()
    )
    return ids, count


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
