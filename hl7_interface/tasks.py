"""Celery tasks for outbound HL7: deliver one destination's queue; sweep for due ones."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from hl7_interface.models import Destination
from hl7_interface.outbox import destinations_due, outbound_deliver

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def hl7_outbound_deliver_task(destination_id: int) -> None:
    destination = Destination.objects.filter(pk=destination_id, active=True).first()
    if destination is None:
        return
    next_at = outbound_deliver(destination=destination)
    if next_at is not None:  # a retry is due later: come back then (the sweep is the safety net)
        countdown = max((next_at - timezone.now()).total_seconds(), 1)
        hl7_outbound_deliver_task.apply_async((destination_id,), countdown=countdown)


@shared_task(ignore_result=True, expires=50)
def hl7_outbound_sweep_task() -> int:
    """Queue delivery for every destination with a message due (periodic)."""
    due = destinations_due()
    for pk in due:
        hl7_outbound_deliver_task.delay(pk)
    return len(due)


def deliver_after_commit(destination_ids: list[int]) -> None:
    """Ask Celery to deliver these destinations' queues once the transaction commits."""
    if destination_ids:
        transaction.on_commit(lambda: _queue_delivery(destination_ids))


def _queue_delivery(destination_ids: list[int]) -> None:
    for pk in destination_ids:
        try:
            hl7_outbound_deliver_task.delay(pk)
        except Exception:  # noqa: BLE001 - any broker failure: the periodic sweep delivers it
            logger.warning("HL7 outbound: could not queue delivery to destination %s; the sweep will", pk)
