"""Expiry: booked exams never started leave the worklist as no-shows (the Celery expiry job)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from mwl_ris.lib.errors import ApplicationError, Conflict
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from scheduling.models import Appointment, AppointmentStatus


def exams_expire_stale(*, grace: dt.timedelta, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Booked exams never started ``grace`` after their scheduled start leave the
    worklist as no-shows (audited, the HIS is told). Idempotent: an expired exam
    is no longer booked; batched; parallel runs skip what the other one took."""
    now = now or timezone.now()
    hours = int(grace.total_seconds() // 3600)
    stale = (
        Appointment.objects.filter(
            status=AppointmentStatus.ACTIVE,
            starts_at__lt=now - grace,
            order__status__in=[ExamStatus.SCHEDULED, ExamStatus.ARRIVED],
        )
        .order_by("starts_at")
        .values_list("order_id", flat=True)[:batch]
    )
    expired = 0
    for order in Order.objects.filter(pk__in=list(stale)):
        try:
            exam_transition(
                order=order,
                to=ExamStatus.NO_SHOW,
                reason=f"Expired: not started within {hours} h of the scheduled time",
            )
        except (Conflict, ApplicationError):  # changed meanwhile (started, or taken by a parallel run)
            continue
        expired += 1
    return expired
