"""The day-before appointment reminder: who gets one, in which language, and
sending it exactly once (claimed through a unique row, so runs may overlap)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from audit.services import audit_record
from mwl_ris.lib.clock import patient_time
from orders.models import ExamStatus
from reminders.models import Reminder, ReminderStatus
from reminders.senders import Sender, SendFailed, configured_sender
from scheduling.models import Appointment, AppointmentStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
KIND = "day_before"


def reminder_text(appointment: Appointment) -> tuple[str, str]:
    """The message and its language: the patient's own."""
    patient, procedure = appointment.order.patient, appointment.order.procedure
    language = patient.language or "sw"
    preparation = procedure.preparation_sw if language == "sw" and procedure.preparation_sw else procedure.preparation
    start = timezone.localtime(appointment.starts_at)
    with translation.override(language):
        text = _(
            "Reminder: %(name)s, your %(exam)s is tomorrow, %(date)s at %(time)s, %(where)s. "
            "Please come 15 minutes early."
        ) % {
            "name": patient.given_name or patient.family_name,
            "exam": procedure.name_for(language),
            "date": formats.date_format(start, "l j F"),
            "time": patient_time(start, language),
            "where": ", ".join(p for p in (appointment.station.name_for(language), appointment.station.room) if p),
        }
    return (f"{text} {preparation}".strip(), language)


def reminders_due(*, day: dt.date) -> QuerySet[Appointment]:
    """Booked, not-yet-started appointments on ``day`` of patients with a phone number."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    return (
        Appointment.objects.filter(
            starts_at__gte=start,
            starts_at__lt=start + dt.timedelta(days=1),
            status=AppointmentStatus.ACTIVE,
            order__status=ExamStatus.SCHEDULED,
        )
        .exclude(order__patient__phone="")
        .exclude(reminders__kind=KIND, reminders__status__in=[ReminderStatus.SENT, ReminderStatus.GAVE_UP])
        .select_related("order__patient", "order__procedure", "station")
        .order_by("starts_at", "pk")
    )


def _claim(appointment: Appointment) -> Reminder | None:
    """Take the reminder of this appointment for sending, or None if another
    run has it (or it was sent, or it failed too often)."""
    text, language = reminder_text(appointment)
    phone = appointment.order.patient.phone
    try:
        with transaction.atomic():
            return Reminder.objects.create(
                appointment=appointment,
                kind=KIND,
                status=ReminderStatus.SENDING,
                phone=phone,
                language=language,
                text=text,
                attempts=1,
            )
    except IntegrityError:
        pass
    existing = Reminder.objects.get(appointment=appointment, kind=KIND)
    if existing.status != ReminderStatus.FAILED or existing.attempts >= MAX_ATTEMPTS:
        return None
    claimed = Reminder.objects.filter(pk=existing.pk, status=ReminderStatus.FAILED, attempts=existing.attempts).update(
        status=ReminderStatus.SENDING, attempts=existing.attempts + 1, text=text, phone=phone
    )
    if claimed != 1:
        return None
    existing.refresh_from_db()
    return existing


def reminders_send_due(
    *, now: dt.datetime | None = None, sender: Sender | None = None, batch: int = 500
) -> dict[str, Any]:
    """Send tomorrow's reminders once it is REMINDER_HOUR or later today. Safe to
    run again (nothing is sent twice) and in parallel (each reminder is claimed)."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    if local.hour < settings.REMINDER_HOUR:
        return counts
    sender = sender or configured_sender()
    for appointment in list(reminders_due(day=local.date() + dt.timedelta(days=1))[:batch]):
        reminder = _claim(appointment)
        if reminder is None:
            counts["skipped"] += 1
            continue
        try:
            sender.send(phone=reminder.phone, text=reminder.text)
        except (SendFailed, OSError) as exc:
            gave_up = reminder.attempts >= MAX_ATTEMPTS
            reminder.status = ReminderStatus.GAVE_UP if gave_up else ReminderStatus.FAILED
            reminder.error = str(exc)[:1000]
            counts["failed"] += 1
            logger.warning("reminder %s failed (attempt %d): %s", reminder.pk, reminder.attempts, exc)
        else:
            reminder.status, reminder.sent_at, reminder.error = ReminderStatus.SENT, timezone.now(), ""
            counts["sent"] += 1
        reminder.save(update_fields=["status", "error", "sent_at"])
        audit_record(
            "reminder",
            object_type="reminders.Reminder",
            object_id=reminder.pk,
            patient_id=appointment.order.patient.patient_id,
            summary=f"{reminder.kind} to {reminder.phone} for appointment {appointment.pk}: {reminder.status}",
            after={"status": reminder.status, "attempts": reminder.attempts},
        )
    return counts
