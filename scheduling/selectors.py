"""Reads for stations and appointments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from orders.models import ExamStatus
from scheduling.models import Appointment, AppointmentStatus, Closure, OpeningHours, Station

MIDNIGHT = dt.time(0, 0)


def appointment_clashes(
    *, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, exclude_pk: int | None = None
) -> QuerySet[Appointment]:
    """Active appointments of the station overlapping [starts_at, ends_at)."""
    qs = Appointment.objects.filter(
        station=station,
        status=AppointmentStatus.ACTIVE,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    ).select_related("order", "station")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.order_by("starts_at")


def patient_clashes(
    *, patient_id: int, starts_at: dt.datetime, ends_at: dt.datetime, exclude_order_id: int | None = None
) -> QuerySet[Appointment]:
    """The patient's active appointments overlapping [starts_at, ends_at) (a
    patient cannot be in two rooms at once)."""
    qs = Appointment.objects.filter(
        patient_id=patient_id,
        status=AppointmentStatus.ACTIVE,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    ).select_related("order", "station")
    if exclude_order_id is not None:
        qs = qs.exclude(order_id=exclude_order_id)
    return qs.order_by("starts_at")


def lane_booked_above(*, station: Station, capacity: int) -> Appointment | None:
    """The first active, not yet ended appointment in a place above ``capacity``:
    what keeps the room from taking fewer patients at a time."""
    return (
        Appointment.objects.filter(
            station=station, status=AppointmentStatus.ACTIVE, ends_at__gt=timezone.now(), lane__gt=capacity
        )
        .order_by("starts_at")
        .select_related("order")
        .first()
    )


def capacity_refusal(appointment: Appointment) -> str:
    return _(
        "The room cannot take fewer than %(lanes)d patients at a time yet: place %(lanes)d is booked "
        "on %(start)s (accession %(accession)s). Move that appointment first."
    ) % {
        "lanes": appointment.lane,
        "start": formats.date_format(timezone.localtime(appointment.starts_at), "SHORT_DATETIME_FORMAT"),
        "accession": appointment.order.accession_number,
    }


def free_lane(*, station: Station, starts_at: dt.datetime, ends_at: dt.datetime) -> int | None:
    """The lowest of the station's places (1..capacity) free for the whole of
    [starts_at, ends_at), or None when all are taken at some moment of it."""
    used = set(
        appointment_clashes(station=station, starts_at=starts_at, ends_at=ends_at).values_list("lane", flat=True)
    )
    return next((lane for lane in range(1, station.capacity + 1) if lane not in used), None)


def _opening_intervals(
    station: Station, day: dt.date, hours: list[OpeningHours]
) -> list[tuple[dt.datetime, dt.datetime]]:
    tz = timezone.get_current_timezone()
    intervals = []
    for row in hours:
        if row.weekday != day.weekday():
            continue
        opens = dt.datetime.combine(day, row.opens, tzinfo=tz)
        closes_day = day + dt.timedelta(days=1) if row.closes == MIDNIGHT else day
        closes = dt.datetime.combine(closes_day, row.closes, tzinfo=tz)
        intervals.append((opens, closes))
    return sorted(intervals)


def station_opening_intervals(*, station: Station, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The station's opening intervals on a local date; a station without any
    opening hours is open all day."""
    hours = list(station.opening_hours.all())
    if not hours:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(day, MIDNIGHT, tzinfo=tz)
        return [(start, dt.datetime.combine(day + dt.timedelta(days=1), MIDNIGHT, tzinfo=tz))]
    return _opening_intervals(station, day, hours)


def _opening_with_overnight(*, station: Station, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The day's opening intervals, where one runs to midnight joined with the
    next day's interval that starts then: an exam at 23:45 on a station open
    around the clock (or overnight) may end after midnight."""
    intervals = station_opening_intervals(station=station, day=day)
    if intervals and intervals[-1][1].time() == MIDNIGHT and intervals[-1][1].date() > day:
        following = station_opening_intervals(station=station, day=day + dt.timedelta(days=1))
        if following and following[0][0] == intervals[-1][1]:
            intervals = [*intervals[:-1], (intervals[-1][0], following[0][1])]
    return intervals


def booking_rule_violations(
    *, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime | None = None
) -> list[str]:
    """Why a booking would break the station's rules (empty when it would not).
    These can be overridden, with a reason, by a user allowed to; overlaps cannot."""
    reasons: list[str] = []
    now = now or timezone.now()
    if ends_at <= now:
        reasons.append(_("The appointment would be over before now."))
    if not station.active:
        reasons.append(_("%(station)s is not in use (inactive).") % {"station": station.display_name})
    local_start = timezone.localtime(starts_at)
    intervals = station_opening_intervals(station=station, day=local_start.date())
    if not any(
        opens <= starts_at and ends_at <= closes
        for opens, closes in _opening_with_overnight(station=station, day=local_start.date())
    ):
        shown = ", ".join(f"{timezone.localtime(o):%H:%M}-{timezone.localtime(c):%H:%M}" for o, c in intervals) or _(
            "closed all day"
        )
        reasons.append(
            _("Outside the station's opening hours on %(day)s (%(hours)s).")
            % {"day": formats.date_format(local_start, "l j F Y"), "hours": shown}
        )
    closures = Closure.objects.filter(station=station, starts_at__lt=ends_at, ends_at__gt=starts_at)
    for closure in closures:
        reasons.append(
            _("The station is closed from %(start)s to %(end)s: %(reason)s.")
            % {
                "start": formats.date_format(timezone.localtime(closure.starts_at), "SHORT_DATETIME_FORMAT"),
                "end": formats.date_format(timezone.localtime(closure.ends_at), "SHORT_DATETIME_FORMAT"),
                "reason": closure.reason,
            }
        )
    return reasons


def station_free_slots(
    *,
    station: Station,
    day: dt.date,
    duration: dt.timedelta,
    step: dt.timedelta = dt.timedelta(minutes=15),
    not_before: dt.datetime | None = None,
    limit: int = 50,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Free slots of ``duration`` on a local date, on a ``step`` grid, inside
    opening hours, outside closures and active appointments: "next available"."""
    not_before = not_before or timezone.now()
    intervals = _opening_with_overnight(station=station, day=day)
    if not intervals:
        return []
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), MIDNIGHT, tzinfo=timezone.get_current_timezone())
    window_start, window_end = intervals[0][0], intervals[-1][1]
    # What each of the station's places (lanes) holds, and the closures, which hold them all.
    lanes: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {lane: [] for lane in range(1, station.capacity + 1)}
    for lane, a0, a1 in Appointment.objects.filter(
        station=station, status=AppointmentStatus.ACTIVE, starts_at__lt=window_end, ends_at__gt=window_start
    ).values_list("lane", "starts_at", "ends_at"):
        lanes.setdefault(lane, []).append((a0, a1))
    closed = [
        (c.starts_at, c.ends_at)
        for c in Closure.objects.filter(station=station, starts_at__lt=window_end, ends_at__gt=window_start)
    ]

    def free(start: dt.datetime, end: dt.datetime) -> bool:
        if any(b0 < end and start < b1 for b0, b1 in closed):
            return False
        return any(
            not any(b0 < end and start < b1 for b0, b1 in lanes[lane]) for lane in range(1, station.capacity + 1)
        )

    slots: list[tuple[dt.datetime, dt.datetime]] = []
    for opens, closes in intervals:
        candidate = opens
        while candidate + duration <= closes and candidate < day_end and len(slots) < limit:
            end = candidate + duration
            if candidate >= not_before and free(candidate, end):
                slots.append((candidate, end))
            candidate += step
    return slots


def station_list(*, modality: str | None = None, active_only: bool = True) -> QuerySet[Station]:
    qs = Station.objects.prefetch_related("opening_hours").select_related("site")
    if active_only:
        qs = qs.filter(active=True)
    return qs.filter(modality=modality) if modality else qs


def next_available_slots(
    *,
    stations: list[Station],
    duration: dt.timedelta,
    not_before: dt.datetime | None = None,
    days: int = 14,
    limit: int = 6,
) -> list[tuple[Station, dt.datetime, dt.datetime]]:
    """The earliest free slots of ``duration`` across ``stations``, soonest first,
    looking ``days`` ahead: the scheduler's "next available"."""
    not_before = not_before or timezone.now()
    first_day = timezone.localtime(not_before).date()
    found: list[tuple[Station, dt.datetime, dt.datetime]] = []
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        for station in stations:
            for start, end in station_free_slots(
                station=station, day=day, duration=duration, not_before=not_before, limit=limit
            ):
                found.append((station, start, end))
        if len(found) >= limit:
            break
    found.sort(key=lambda slot: (slot[1], slot[0].ae_title))
    return found[:limit]


def station_day_appointments(*, stations: list[Station], day: dt.date) -> QuerySet[Appointment]:
    """Appointments starting on a local date at these stations that belong on a
    day list: the active ones (done or not) and the no-shows."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, MIDNIGHT, tzinfo=tz)
    return (
        Appointment.objects.filter(
            station__in=stations,
            starts_at__gte=start,
            starts_at__lt=start + dt.timedelta(days=1),
            status__in=[AppointmentStatus.ACTIVE, AppointmentStatus.NO_SHOW],
        )
        .select_related("order__patient", "order__procedure", "station")
        .order_by("starts_at", "station__name", "pk")
    )


def closure_affected_appointments(*, closure: Closure) -> QuerySet[Appointment]:
    """Active appointments of the closure's station inside the downtime whose exam
    has not started: the ones to move elsewhere."""
    return (
        appointment_clashes(station=closure.station, starts_at=closure.starts_at, ends_at=closure.ends_at)
        .filter(order__status__in=[ExamStatus.SCHEDULED, ExamStatus.ARRIVED])
        .select_related("order__patient", "order__procedure")
    )


@dataclass
class ModalitySummary:
    modality: str
    booked: int = 0
    waiting: int = 0  # arrived, not started
    in_progress: int = 0
    done: int = 0
    no_show: int = 0
    cancelled: int = 0
    wait_total_minutes: float = 0.0
    wait_count: int = 0
    longest_current_wait: int | None = None  # minutes

    @property
    def average_wait(self) -> int | None:
        return round(self.wait_total_minutes / self.wait_count) if self.wait_count else None


def day_summary(*, day: dt.date) -> list[ModalitySummary]:
    """Per modality, the exams booked on a local date and how far they got, with
    the waiting time (arrived → started) of those started and of those still waiting."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, MIDNIGHT, tzinfo=tz)
    rows = Appointment.objects.filter(
        starts_at__gte=start,
        starts_at__lt=start + dt.timedelta(days=1),
        status__in=[AppointmentStatus.ACTIVE, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED],
    ).values_list("station__modality", "order__status", "order__arrived_at", "order__started_at", "status")
    now = timezone.now()
    summaries: dict[str, ModalitySummary] = {}
    for modality, status, arrived_at, started_at, appointment_status in rows:
        summary = summaries.setdefault(modality, ModalitySummary(modality))
        if appointment_status == AppointmentStatus.CANCELLED or status == ExamStatus.CANCELLED:
            summary.cancelled += 1
            continue
        summary.booked += 1
        if status == ExamStatus.NO_SHOW:
            summary.no_show += 1
        elif status == ExamStatus.ARRIVED:
            summary.waiting += 1
            if arrived_at:
                minutes = int((now - arrived_at).total_seconds() // 60)
                summary.longest_current_wait = max(summary.longest_current_wait or 0, minutes)
        elif status == ExamStatus.IN_PROGRESS:
            summary.in_progress += 1
        elif status in (ExamStatus.COMPLETED, ExamStatus.DISCONTINUED):
            summary.done += 1
        if arrived_at and started_at:
            summary.wait_total_minutes += (started_at - arrived_at).total_seconds() / 60
            summary.wait_count += 1
    return sorted(summaries.values(), key=lambda s: s.modality)


def station_next_free(
    *, stations: list[Station], duration: dt.timedelta = dt.timedelta(minutes=15), days: int = 7
) -> dict[int, tuple[dt.datetime, dt.datetime] | None]:
    """The next free slot of ``duration`` per station, looking ``days`` ahead."""
    result: dict[int, tuple[dt.datetime, dt.datetime] | None] = {}
    for station in stations:
        slots = next_available_slots(stations=[station], duration=duration, days=days, limit=1)
        result[station.pk] = (slots[0][1], slots[0][2]) if slots else None
    return result


def no_show_allowed_from(appointment: Appointment) -> dt.datetime:
    """When the patient of this appointment may be marked as not come: its start plus the grace."""
    return appointment.starts_at + dt.timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)
