"""Writes for stations and appointments, and the exam status transitions.

Double booking is impossible by construction: on PostgreSQL the exclusion
constraint ``appointment_no_overlap`` refuses an overlapping active
appointment whatever the interleaving; on SQLite every transaction begins
IMMEDIATE (settings.py), so the check below and the insert are serialised.
The Python check runs first on both so the refusal can name the clash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.roles import Action, user_can
from audit.services import audit_record
from audit.signals import patient_id_of
from hl7_interface.outbound import outbound_status_queue
from mwl_ris.lib.errors import ApplicationError, Conflict, PermissionRefused
from mwl_ris.lib.validation import full_clean_or_raise
from orders.lifecycle import UNDOABLE, ExamStatus, check_transition
from orders.models import Modality, Order
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus, Closure, OpeningHours, Station
from scheduling.selectors import (
    appointment_clashes,
    booking_rule_violations,
    capacity_refusal,
    closure_affected_appointments,
    free_lane,
    lane_booked_above,
    next_available_slots,
    no_show_allowed_from,
    patient_clashes,
)
from worklist.services import worklist_item_sync

OVERLAP_CONSTRAINT = "appointment_no_overlap"
PATIENT_OVERLAP_CONSTRAINT = "appointment_patient_no_overlap"
# Stations that may take each other's orders: CR and DX rooms do the same exams.
COMPATIBLE_MODALITIES: dict[str, set[str]] = {Modality.CR: {Modality.DX}, Modality.DX: {Modality.CR}}

STATION_FIELDS = frozenset(
    {"name", "name_sw", "room", "modality", "ae_title", "ip_address", "active", "dicom_profile", "capacity"}
)


class SlotTaken(Conflict):
    code = "slot_taken"


class PatientBusy(Conflict):
    code = "patient_busy"


class BookingRefused(ApplicationError):
    code = "booking_refused"


def _describe(appointment: Appointment) -> dict[str, Any]:
    return {
        "id": appointment.pk,
        "station": appointment.station.ae_title,
        "station_name": appointment.station.display_name,
        # in the facility's time zone, as the API writes every other time
        "starts_at": timezone.localtime(appointment.starts_at).isoformat(),
        "ends_at": timezone.localtime(appointment.ends_at).isoformat(),
        "accession_number": appointment.order.accession_number,
    }


def _slot_taken(clash: Appointment) -> SlotTaken:
    local = timezone.localtime(clash.starts_at)
    station = clash.station
    values = {
        "station": station.display_name,
        "start": formats.date_format(local, "SHORT_DATETIME_FORMAT"),
        "end": f"{timezone.localtime(clash.ends_at):%H:%M}",
        "accession": clash.order.accession_number,
        "capacity": station.capacity,
    }
    if station.capacity > 1:
        message = _(
            "%(station)s has all its %(capacity)d places taken at that time; one of them is booked from "
            "%(start)s to %(end)s (accession %(accession)s)."
        )
    else:
        message = _("%(station)s is already booked from %(start)s to %(end)s (accession %(accession)s).")
    return SlotTaken(message % values, extra={"clashing_appointment": _describe(clash)})


def _patient_busy(clash: Appointment) -> PatientBusy:
    local = timezone.localtime(clash.starts_at)
    return PatientBusy(
        _(
            "The patient is already booked from %(start)s to %(end)s in %(station)s (accession %(accession)s) "
            "and cannot be in two places at once. An admin can book it anyway, giving a reason."
        )
        % {
            "station": clash.station.display_name,
            "start": formats.date_format(local, "SHORT_DATETIME_FORMAT"),
            "end": f"{timezone.localtime(clash.ends_at):%H:%M}",
            "accession": clash.order.accession_number,
        },
        extra={"clashing_appointment": _describe(clash)},
    )


def _violated_constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _check_station_takes(order: Order, station: Station) -> None:
    modality = order.procedure.modality
    if station.modality != modality and station.modality not in COMPATIBLE_MODALITIES.get(modality, set()):
        raise BookingRefused(
            _("%(procedure)s is a %(modality)s exam; %(station)s is %(station_modality)s.")
            % {
                "procedure": order.procedure.name,
                "modality": modality,
                "station": station.display_name,
                "station_modality": station.modality,
            },
            code="wrong_modality",
        )


def _check_rules(
    *, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, override_reason: str, actor: Any
) -> None:
    violations = booking_rule_violations(station=station, starts_at=starts_at, ends_at=ends_at)
    if not violations:
        return
    if not override_reason.strip():
        raise BookingRefused(" ".join(violations), code="outside_booking_rules", extra={"reasons": violations})
    # actor None is the system itself (HL7 feed, import, demo seed).
    if actor is not None and not user_can(actor, Action.OVERRIDE_HOURS):
        raise PermissionRefused(
            "Booking outside opening hours or in a closure needs the admin role. " + " ".join(violations),
            extra={"reasons": violations},
        )


def _window(order: Order, starts_at: dt.datetime, ends_at: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    if timezone.is_naive(starts_at):
        raise ApplicationError("The start time must include a time zone offset.", code="naive_datetime")
    if ends_at is None:
        ends_at = starts_at + dt.timedelta(minutes=order.procedure.default_duration_minutes)
    elif timezone.is_naive(ends_at):
        raise ApplicationError("The end time must include a time zone offset.", code="naive_datetime")
    if ends_at <= starts_at:
        raise ApplicationError("The appointment must end after it starts.", code="empty_slot")
    return starts_at, ends_at


# The moment each step is reached is kept on the order (waiting times on the dashboard).
STEP_TIMESTAMP = {
    ExamStatus.ARRIVED: "arrived_at",
    ExamStatus.IN_PROGRESS: "started_at",
    ExamStatus.COMPLETED: "ended_at",
    ExamStatus.DISCONTINUED: "ended_at",
}


def _set_order_status(
    order: Order, target: str, reason: str = "", at: dt.datetime | None = None, actor: Any = None
) -> None:
    """Conditional update: only from the status we checked the transition from."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": target,
        "status_reason": reason[:200],
        "updated_at": now,
        "status_previous": order.status,
        "status_changed_at": now,
        "status_changed_by_id": getattr(actor, "pk", None),
    }
    stamp = STEP_TIMESTAMP.get(ExamStatus(target))
    if stamp:
        fields[stamp] = at or now
    elif target == ExamStatus.SCHEDULED:  # rebooked: the next visit starts afresh
        fields.update(arrived_at=None, started_at=None, ended_at=None)
    previous = order.status
    changed = Order.objects.filter(pk=order.pk, status=order.status).update(**fields)
    if changed != 1:
        raise Conflict(_("The exam's status was changed by someone else meanwhile; reload and try again."))
    for name, value in fields.items():
        setattr(order, name, value)
    audit_record(
        "status",
        object_type="orders.Order",
        object_id=order.pk,
        patient_id=patient_id_of(order),
        summary=f"{order.accession_number}: {previous} -> {target}" + (f" ({reason[:100]})" if reason else ""),
        before={"status": previous},
        after={k: v for k, v in fields.items() if k not in ("updated_at", "status_changed_at")},
    )
    # The order placer hears of it (HL7 outbox, delivered by Celery after commit).
    outbound_status_queue(order=order, status=target)


def _appointment_set(appointment: Appointment, **fields: Any) -> None:
    """Change an appointment's status columns in place, with its audit record."""
    before = {k: getattr(appointment, k) for k in fields}
    Appointment.objects.filter(pk=appointment.pk).update(**fields, updated_at=timezone.now())
    audit_record(
        "update",
        object_type="scheduling.Appointment",
        object_id=appointment.pk,
        patient_id=patient_id_of(appointment),
        summary=str(appointment),
        before=before,
        after=fields,
    )
    for name, value in fields.items():
        setattr(appointment, name, value)


def _lock_station(station: Station) -> None:
    """Serialise the bookings of one station (bookings on other stations run in
    parallel). Without it, overlapping inserts that reach PostgreSQL's
    exclusion-constraint check at the same instant can deadlock (each waits
    for the other's index entry), and several-way pile-ups repeat that for
    seconds. With it, the check below always sees the committed state and the
    constraint is only the last guard. A no-op on SQLite, where the IMMEDIATE
    transaction already serialises all writers."""
    list(Station.objects.select_for_update().filter(pk=station.pk).values_list("pk", flat=True))


def _lock_patient(patient_id: int) -> None:
    """Serialise the bookings of one patient across stations, for the same
    reason as _lock_station (the patient's exclusion constraint is the last guard)."""
    list(Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True))


def _patient_overlap_allowed(
    *, order: Order, starts_at: dt.datetime, ends_at: dt.datetime, override_reason: str, actor: Any
) -> bool:
    """Refuse a booking that puts the patient in two places at once, unless an
    admin (or the system, for imports) gives a reason. True when it is so allowed."""
    clash = patient_clashes(
        patient_id=order.patient_id, starts_at=starts_at, ends_at=ends_at, exclude_order_id=order.pk
    ).first()
    if clash is None:
        return False
    allowed = bool(override_reason.strip()) and (actor is None or user_can(actor, Action.OVERRIDE_HOURS))
    if not allowed:
        raise _patient_busy(clash)
    return True


def _insert_slot(
    *,
    order: Order,
    station: Station,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    override_reason: str,
    actor: Any,
) -> Appointment:
    _lock_station(station)
    _lock_patient(order.patient_id)
    station = Station.objects.get(pk=station.pk)  # its capacity as now committed
    lane = free_lane(station=station, starts_at=starts_at, ends_at=ends_at)
    if lane is None:
        clash = appointment_clashes(station=station, starts_at=starts_at, ends_at=ends_at).first()
        assert clash is not None  # no free lane means something overlaps
        raise _slot_taken(clash)
    overlap_allowed = _patient_overlap_allowed(
        order=order, starts_at=starts_at, ends_at=ends_at, override_reason=override_reason, actor=actor
    )
    appointment = Appointment(
        order=order,
        station=station,
        lane=lane,
        patient_id=order.patient_id,
        patient_overlap_allowed=overlap_allowed,
        starts_at=starts_at,
        ends_at=ends_at,
        override_reason=override_reason.strip()[:200],
        booked_by=actor if getattr(actor, "pk", None) else None,
    )
    appointment.save()
    return appointment


def _run_booking(
    work: Any, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, patient_id: int, order_id: int
) -> Appointment:
    """Run ``work`` in a transaction and turn the database's overlap refusals
    (a concurrent booking won) into SlotTaken / PatientBusy naming the winner."""
    try:
        with transaction.atomic():
            result: Appointment = work()
            return result
    except IntegrityError as exc:
        constraint = _violated_constraint(exc)
        if constraint == OVERLAP_CONSTRAINT:
            clash = appointment_clashes(station=station, starts_at=starts_at, ends_at=ends_at).first()
            if clash is not None:
                raise _slot_taken(clash) from exc
        elif constraint == PATIENT_OVERLAP_CONSTRAINT:
            clash = patient_clashes(
                patient_id=patient_id, starts_at=starts_at, ends_at=ends_at, exclude_order_id=order_id
            ).first()
            if clash is not None:
                raise _patient_busy(clash) from exc
        else:
            raise
        # the winner was itself undone meanwhile; report the race plainly
        raise SlotTaken(_("Another booking took this slot at the same moment; try again.")) from exc


def appointment_book(
    *,
    order: Order,
    station: Station,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    override_reason: str = "",
    actor: Any = None,
    any_modality: bool = False,
) -> Appointment:
    """Book an unscheduled (or no-show) order into a station slot. Puts it on the worklist.
    ``any_modality`` (imports only) books on a station of another modality, as the
    imported worklist already did."""
    starts_at, ends_at = _window(order, starts_at, ends_at)

    def work() -> Appointment:
        locked = Order.objects.select_for_update(of=("self",)).select_related("procedure", "patient").get(pk=order.pk)
        if Appointment.objects.filter(order=locked, status=AppointmentStatus.ACTIVE).exists():
            raise Conflict(
                _("Order %(accession)s is already booked; reschedule it instead.")
                % {"accession": locked.accession_number},
                code="already_booked",
            )
        check_transition(locked.status, ExamStatus.SCHEDULED)
        if not any_modality:
            _check_station_takes(locked, station)
        _check_rules(
            station=station, starts_at=starts_at, ends_at=ends_at, override_reason=override_reason, actor=actor
        )
        appointment = _insert_slot(
            order=locked,
            station=station,
            starts_at=starts_at,
            ends_at=ends_at,
            override_reason=override_reason,
            actor=actor,
        )
        _set_order_status(locked, ExamStatus.SCHEDULED, actor=actor)
        worklist_item_sync(order=locked)
        return appointment

    return _run_booking(work, station, starts_at, ends_at, order.patient_id, order.pk)


def appointment_reschedule(
    *,
    appointment: Appointment,
    starts_at: dt.datetime,
    station: Station | None = None,
    ends_at: dt.datetime | None = None,
    reason: str = "",
    override_reason: str = "",
    actor: Any = None,
) -> Appointment:
    """Move an active appointment to a new time and/or station. The old one is
    kept as *rescheduled* (history), the worklist item follows the new one.
    A reason is required: the desk must be able to tell a patient why."""
    if not reason.strip():
        raise ApplicationError(_("Give a reason for moving the exam."), code="reason_required")
    target_station = station or appointment.station
    duration = appointment.ends_at - appointment.starts_at
    if ends_at is None:
        ends_at = starts_at + duration
    starts_at, ends_at = _window(appointment.order, starts_at, ends_at)

    def work() -> Appointment:
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("procedure", "patient")
            .get(pk=appointment.order_id)
        )
        old = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if old.status != AppointmentStatus.ACTIVE:
            raise Conflict(f"This appointment is {old.status}; only an active one can be rescheduled.")
        check_transition(order.status, ExamStatus.SCHEDULED)
        _check_station_takes(order, target_station)
        _check_rules(
            station=target_station,
            starts_at=starts_at,
            ends_at=ends_at,
            override_reason=override_reason,
            actor=actor,
        )
        # Free the old slot first so a small move that overlaps it is allowed.
        _appointment_set(old, status=AppointmentStatus.RESCHEDULED, cancel_reason=reason[:200])
        new = _insert_slot(
            order=order,
            station=target_station,
            starts_at=starts_at,
            ends_at=ends_at,
            override_reason=override_reason,
            actor=actor,
        )
        _appointment_set(old, replaced_by_id=new.pk)
        if order.status != ExamStatus.SCHEDULED:
            _set_order_status(order, ExamStatus.SCHEDULED, reason, actor=actor)
        worklist_item_sync(order=order)
        return new

    return _run_booking(work, target_station, starts_at, ends_at, appointment.order.patient_id, appointment.order_id)


@transaction.atomic
def exam_transition(
    *, order: Order, to: str, reason: str = "", actor: Any = None, at: dt.datetime | None = None
) -> Order:
    """Move an exam along the lifecycle (orders/lifecycle.py): arrived, start,
    complete, no-show, discontinue, cancel. Booking and rescheduling have
    their own services because they need a slot. ``at``: when it happened
    (MPPS and HL7 report it; default now)."""
    target = ExamStatus(to)
    if target == ExamStatus.SCHEDULED:
        raise ApplicationError("Use booking or rescheduling to schedule an exam.", code="use_booking")
    locked = Order.objects.select_for_update(of=("self",)).select_related("procedure", "patient").get(pk=order.pk)
    check_transition(locked.status, target)
    if target in (ExamStatus.CANCELLED, ExamStatus.DISCONTINUED) and not reason.strip():
        raise ApplicationError(_("Give a reason for cancelling or discontinuing."), code="reason_required")
    if target == ExamStatus.NO_SHOW:
        _check_no_show_time(locked)
    freed = {ExamStatus.CANCELLED: AppointmentStatus.CANCELLED, ExamStatus.NO_SHOW: AppointmentStatus.NO_SHOW}
    if target in freed:
        for held in Appointment.objects.filter(order=locked, status=AppointmentStatus.ACTIVE):
            _appointment_set(held, status=freed[target], cancel_reason=reason[:200])
    _set_order_status(locked, target, reason, at=at, actor=actor)
    worklist_item_sync(order=locked)
    order.status, order.status_reason = locked.status, locked.status_reason
    return locked


def _check_no_show_time(order: Order) -> None:
    """A patient has not come only once the appointment has begun, plus the
    grace (NO_SHOW_GRACE_MINUTES): a 19:00 exam marked no-show at 11:00 was a mis-tap."""
    active = Appointment.objects.filter(order=order, status=AppointmentStatus.ACTIVE).first()
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


def undo_allowed(order: Order, actor: Any, now: dt.datetime | None = None) -> bool:
    """May ``actor`` undo the exam's last step? The one who made it, within
    EXAM_UNDO_MINUTES; an admin at any time (audited either way)."""
    if ExamStatus(order.status) not in UNDOABLE or order.status_previous not in UNDOABLE[ExamStatus(order.status)]:
        return False
    if actor is None:
        return False
    if user_can(actor, Action.OVERRIDE_HOURS):
        return True
    if order.status_changed_by_id is None or order.status_changed_by_id != getattr(actor, "pk", None):
        return False
    window = dt.timedelta(minutes=settings.EXAM_UNDO_MINUTES)
    return order.status_changed_at is not None and (now or timezone.now()) - order.status_changed_at <= window


@transaction.atomic
def exam_step_undo(*, order: Order, actor: Any) -> Order:
    """Take back a mistaken "arrived", "start" or "no-show": the exam returns to
    the status it came from. An undone no-show takes its slot back if the slot
    is still free (in whichever of the room's places is free); if not, the exam
    must be booked again."""
    locked = Order.objects.select_for_update(of=("self",)).select_related("procedure", "patient").get(pk=order.pk)
    if not undo_allowed(locked, actor):
        current = ExamStatus(locked.status)
        if current in UNDOABLE and locked.status_previous in UNDOABLE[current]:
            raise PermissionRefused(
                _("Only the person who made this step can undo it, within %(minutes)d minutes; after that an admin.")
                % {"minutes": settings.EXAM_UNDO_MINUTES},
                code="undo_not_allowed",
            )
        raise Conflict(_("There is no step to undo for this exam."), code="nothing_to_undo")
    target = ExamStatus(locked.status_previous)
    undone = locked.status
    if undone == ExamStatus.NO_SHOW:
        _slot_take_back(locked)
    clear = {ExamStatus.ARRIVED: "arrived_at", ExamStatus.IN_PROGRESS: "started_at"}
    fields: dict[str, Any] = {
        "status": target,
        "status_reason": "",
        "status_previous": "",  # no redo: one step back only
        "status_changed_at": timezone.now(),
        "status_changed_by_id": getattr(actor, "pk", None),
        "updated_at": timezone.now(),
    }
    if ExamStatus(undone) in clear:
        fields[clear[ExamStatus(undone)]] = None
    if target == ExamStatus.SCHEDULED:
        fields["arrived_at"] = None
    Order.objects.filter(pk=locked.pk, status=undone).update(**fields)
    for name, value in fields.items():
        setattr(locked, name, value)
    audit_record(
        "status",
        object_type="orders.Order",
        object_id=locked.pk,
        patient_id=patient_id_of(locked),
        summary=f"{locked.accession_number}: undo {undone} -> {target}",
        before={"status": undone},
        after={"status": target, "undo": True},
    )
    outbound_status_queue(order=locked, status=target)
    worklist_item_sync(order=locked)
    return locked


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
    _lock_station(held.station)
    _lock_patient(order.patient_id)
    lane = free_lane(station=held.station, starts_at=held.starts_at, ends_at=held.ends_at)
    if lane is None:
        raise SlotTaken(_("Its slot was given to someone else meanwhile; book the exam again."), code="slot_taken")
    clash = patient_clashes(
        patient_id=order.patient_id, starts_at=held.starts_at, ends_at=held.ends_at, exclude_order_id=order.pk
    ).first()
    if clash is not None and not held.patient_overlap_allowed:
        raise _patient_busy(clash)
    try:
        with transaction.atomic():
            _appointment_set(held, status=AppointmentStatus.ACTIVE, lane=lane, cancel_reason="")
    except IntegrityError as exc:
        raise SlotTaken(_("Its slot was given to someone else meanwhile; book the exam again.")) from exc


def appointment_cancel(*, appointment: Appointment, reason: str, actor: Any = None) -> Order:
    """Cancel the exam this appointment is for: frees the slot, leaves the worklist."""
    return exam_transition(order=appointment.order, to=ExamStatus.CANCELLED, reason=reason, actor=actor)


# --- stations -----------------------------------------------------------------


def station_create(*, opening_hours: list[dict[str, Any]] | None = None, **fields: Any) -> Station:
    with transaction.atomic():
        station = Station(**{k: v for k, v in fields.items() if k in STATION_FIELDS})
        full_clean_or_raise(station)
        station.save()
        if opening_hours is not None:
            station_set_opening_hours(station=station, opening_hours=opening_hours)
    return station


@transaction.atomic
def station_update(*, station: Station, opening_hours: list[dict[str, Any]] | None = None, **fields: Any) -> Station:
    old_ae, old_name, old_room = station.ae_title, station.name, station.room
    for name, value in fields.items():
        if name in STATION_FIELDS:
            setattr(station, name, value)
    full_clean_or_raise(station)
    _lock_station(station)
    in_use = lane_booked_above(station=station, capacity=station.capacity)
    if in_use is not None:
        raise ApplicationError(capacity_refusal(in_use), code="capacity_in_use")
    station.save()
    if opening_hours is not None:
        station_set_opening_hours(station=station, opening_hours=opening_hours)
    if (old_ae, old_name, old_room) != (station.ae_title, station.name, station.room):
        for order in Order.objects.filter(worklist_item__station=station).select_related("patient", "procedure"):
            worklist_item_sync(order=order)
    return station


def station_set_opening_hours(*, station: Station, opening_hours: list[dict[str, Any]]) -> None:
    """Replace the station's weekly opening hours (``weekday``, ``opens``, ``closes``)."""
    rows = []
    for entry in opening_hours:
        row = OpeningHours(station=station, weekday=entry["weekday"], opens=entry["opens"], closes=entry["closes"])
        if row.closes != dt.time(0) and row.closes <= row.opens:
            raise ApplicationError(
                f"Opening hours on weekday {row.weekday}: closing {row.closes:%H:%M} is not after "
                f"opening {row.opens:%H:%M} (use 00:00 for midnight).",
                code="invalid_hours",
            )
        rows.append(row)
    with transaction.atomic():
        OpeningHours.objects.filter(station=station).delete()
        OpeningHours.objects.bulk_create(rows)


def closure_create(*, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, reason: str) -> Closure:
    closure = Closure(station=station, starts_at=starts_at, ends_at=ends_at, reason=reason)
    full_clean_or_raise(closure, exclude=["station"])
    if closure.ends_at <= closure.starts_at:
        raise ApplicationError("A closure must end after it starts.", code="empty_closure")
    closure.save()
    return closure


@dataclass(frozen=True)
class MoveResult:
    appointment: Appointment  # the old appointment
    new: Appointment | None  # where it went, or None
    error: str = ""


def closure_reschedule_affected(*, closure: Closure, actor: Any = None, days: int = 14) -> list[MoveResult]:
    """Machine downtime: move every not-yet-started appointment inside the closure
    to the next free slot of a station that takes the exam (the same station
    after the closure, or another one of its modality), in booking order. Each
    move is its own transaction; one that fails is reported and left in place."""
    reason = _("Station closed: %(reason)s") % {"reason": closure.reason}
    results: list[MoveResult] = []
    for appointment in list(closure_affected_appointments(closure=closure)):
        order = appointment.order
        modality = order.procedure.modality
        candidates = [
            s
            for s in Station.objects.filter(active=True).prefetch_related("opening_hours")
            if s.modality == modality or s.modality in COMPATIBLE_MODALITIES.get(modality, set())
        ]
        slots = next_available_slots(
            stations=candidates,
            duration=appointment.ends_at - appointment.starts_at,
            not_before=max(timezone.now(), appointment.starts_at),
            days=days,
            limit=1,
        )
        if not slots:
            results.append(MoveResult(appointment, None, _("No free slot in the next %(days)d days.") % {"days": days}))
            continue
        station, start, _end = slots[0]
        try:
            new = appointment_reschedule(
                appointment=appointment, station=station, starts_at=start, reason=reason, actor=actor
            )
        except ApplicationError as exc:
            results.append(MoveResult(appointment, None, exc.message))
        else:
            results.append(MoveResult(appointment, new))
    return results


# --- expiry (Celery) ----------------------------------------------------------------


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
