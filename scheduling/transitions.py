"""What scheduling does when an exam changes status (orders.lifecycle calls these;
SchedulingConfig.ready registers them): a no-show only once the appointment
began; a cancel or no-show frees the slot; an undone no-show takes it back."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from mwl_ris.lib.errors import ApplicationError, Conflict
from orders.lifecycle import Transition
from orders.models import ExamStatus, Order
from scheduling.booking import SlotTaken, appointment_set, patient_busy, patient_lock, station_lock
from scheduling.models import Appointment, AppointmentStatus
from scheduling.selectors import free_lane, no_show_allowed_from, patient_clashes

FREED = {ExamStatus.CANCELLED: AppointmentStatus.CANCELLED, ExamStatus.NO_SHOW: AppointmentStatus.NO_SHOW}


def no_show_not_before_start(change: Transition) -> None:
    """CHECK: a patient has not come only once the appointment has begun, plus
    the grace (NO_SHOW_GRACE_MINUTES): a 19:00 exam marked no-show at 11:00 was a mis-tap."""
    if change.target != ExamStatus.NO_SHOW:
        return
    active = Appointment.objects.filter(order=change.order, status=AppointmentStatus.ACTIVE).first()
    if active is None:
        return
    from_ = no_show_allowed_from(active)
    if timezone.now() < from_:
        raise ApplicationError(
            _("The patient can be marked as not come from %(time)s (the start plus %(grace)d minutes).")
            % {
                "time": formats.date_format(timezone.localtime(from_), "SHORT_DATETIME_FORMAT"),
                "grace": settings.NO_SHOW_GRACE_MINUTES,
            },
            code="no_show_too_early",
        )


def appointment_follows_exam(change: Transition) -> None:
    """SLOT: a cancelled or no-show exam frees its slot; an undone no-show takes it back."""
    if change.undo and change.previous == ExamStatus.NO_SHOW:
        _slot_take_back(change.order)
    elif not change.undo and change.target in FREED:
        for held in Appointment.objects.filter(order=change.order, status=AppointmentStatus.ACTIVE):
            held.order = change.order
            appointment_set(held, status=FREED[change.target], cancel_reason=change.reason[:200])


def _slot_take_back(order: Order) -> None:
    """Make the appointment freed by a no-show active again, if its time is still free."""
    held = (
        Appointment.objects.filter(order=order, status=AppointmentStatus.NO_SHOW)
        .select_related("station")
        .order_by("-updated_at")
        .first()
    )
    if held is None:
        raise Conflict(_("The appointment of this exam is gone; book it again."), code="slot_gone")
    held.order = order
    station_lock(held.station)
    patient_lock(order.patient_id)
    lane = free_lane(station=held.station, starts_at=held.starts_at, ends_at=held.ends_at)
    if lane is None:
        raise SlotTaken(_("Its slot was given to someone else meanwhile; book the exam again."), code="slot_taken")
    clash = patient_clashes(
        patient_id=order.patient_id, starts_at=held.starts_at, ends_at=held.ends_at, exclude_order_id=order.pk
    ).first()
    if clash is not None and not held.patient_overlap_allowed:
        raise patient_busy(clash)
    try:
        with transaction.atomic():
            appointment_set(held, status=AppointmentStatus.ACTIVE, lane=lane, cancel_reason="")
    except IntegrityError as exc:
        raise SlotTaken(_("Its slot was given to someone else meanwhile; book the exam again.")) from exc
