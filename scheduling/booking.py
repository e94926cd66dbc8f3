"""Booking and moving exams into station slots.

Double booking is impossible by construction: on PostgreSQL the exclusion
constraint ``appointment_no_overlap`` refuses an overlapping active
appointment whatever the interleaving; on SQLite every transaction begins
IMMEDIATE (settings.py), so the check below and the insert are serialised.
The Python check runs first on both so the refusal can name the clash.
The exam's status step is orders.lifecycle.exam_schedule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.roles import Action, user_can
from audit.services import audit_record
from mwl_ris.lib.errors import ApplicationError, Conflict, PermissionRefused
from orders.lifecycle import check_transition, exam_schedule, exam_transition
from orders.models import ExamStatus, Modality, Order
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.selectors import (
    appointment_clashes,
    booking_rule_violations,
    free_lane,
    patient_clashes,
)
from worklist.services import worklist_item_sync

if TYPE_CHECKING:
    from accounts.roles import UserLike

OVERLAP_CONSTRAINT = "appointment_no_overlap"
PATIENT_OVERLAP_CONSTRAINT = "appointment_patient_no_overlap"
# Stations that may take each other's orders: CR and DX rooms do the same exams.
COMPATIBLE_MODALITIES: dict[str, set[str]] = {Modality.CR: {Modality.DX}, Modality.DX: {Modality.CR}}


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


def patient_busy(clash: Appointment) -> PatientBusy:
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
    *, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, override_reason: str, actor: UserLike | None
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


def appointment_set(appointment: Appointment, **fields: Any) -> None:
    """Change an appointment's status columns in place, with its audit record."""
    before = {k: getattr(appointment, k) for k in fields}
    Appointment.objects.filter(pk=appointment.pk).update(**fields, updated_at=timezone.now())
    audit_record(
        "update",
        object_type="scheduling.Appointment",
        object_id=appointment.pk,
        patient_id=appointment.order.patient.patient_id,
        summary=str(appointment),
        before=before,
        after=fields,
    )
    for name, value in fields.items():
        setattr(appointment, name, value)


def station_lock(station: Station) -> None:
    """Serialise the bookings of one station (bookings on other stations run in
    parallel). Without it, overlapping inserts that reach PostgreSQL's
    exclusion-constraint check at the same instant can deadlock (each waits
    for the other's index entry), and several-way pile-ups repeat that for
    seconds. With it, the check below always sees the committed state and the
    constraint is only the last guard. A no-op on SQLite, where the IMMEDIATE
    transaction already serialises all writers."""
    list(Station.objects.select_for_update().filter(pk=station.pk).values_list("pk", flat=True))


def patient_lock(patient_id: int) -> None:
    """Serialise the bookings of one patient across stations, for the same
    reason as station_lock (the patient's exclusion constraint is the last guard)."""
    list(Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True))


def _patient_overlap_allowed(
    *, order: Order, starts_at: dt.datetime, ends_at: dt.datetime, override_reason: str, actor: UserLike | None
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
        raise patient_busy(clash)
    return True


def _insert_slot(
    *,
    order: Order,
    station: Station,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    override_reason: str,
    actor: UserLike | None,
) -> Appointment:
    station_lock(station)
    patient_lock(order.patient_id)
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
        booked_by_id=getattr(actor, "pk", None),
    )
    appointment.save()
    audit_record("create", instance=appointment, patient_id=order.patient.patient_id)
    return appointment


def _run_booking(
    work: Callable[[], Appointment],
    station: Station,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    patient_id: int,
    order_id: int,
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
                raise patient_busy(clash) from exc
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
    actor: UserLike | None = None,
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
        exam_schedule(order=locked, actor=actor)  # the worklist item follows (orders.lifecycle)
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
    actor: UserLike | None = None,
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
        old.order = order
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
        appointment_set(old, status=AppointmentStatus.RESCHEDULED, cancel_reason=reason[:200])
        new = _insert_slot(
            order=order,
            station=target_station,
            starts_at=starts_at,
            ends_at=ends_at,
            override_reason=override_reason,
            actor=actor,
        )
        appointment_set(old, replaced_by_id=new.pk)
        if order.status != ExamStatus.SCHEDULED:
            exam_schedule(order=order, reason=reason, actor=actor)  # the worklist item follows (orders.lifecycle)
        else:
            worklist_item_sync(order=order)  # same status, new slot: the item follows the appointment
        return new

    return _run_booking(work, target_station, starts_at, ends_at, appointment.order.patient_id, appointment.order_id)


def appointment_cancel(*, appointment: Appointment, reason: str, actor: UserLike | None = None) -> Order:
    """Cancel the exam this appointment is for: frees the slot, leaves the worklist."""
    return exam_transition(order=appointment.order, to=ExamStatus.CANCELLED, reason=reason, actor=actor)
