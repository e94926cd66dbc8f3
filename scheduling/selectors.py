"""Reads for stations and appointments."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

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
        reasons.append(_("Station %(ae)s is not active.") % {"ae": station.ae_title})
    local_start = timezone.localtime(starts_at)
    intervals = station_opening_intervals(station=station, day=local_start.date())
    if not any(opens <= starts_at and ends_at <= closes for opens, closes in intervals):
        shown = ", ".join(f"{timezone.localtime(o):%H:%M}-{timezone.localtime(c):%H:%M}" for o, c in intervals) or _(
            "closed all day"
        )
        reasons.append(
            _("Outside the station's opening hours on %(day)s (%(hours)s).")
            % {"day": local_start.strftime("%A %Y-%m-%d"), "hours": shown}
        )
    closures = Closure.objects.filter(station=station, starts_at__lt=ends_at, ends_at__gt=starts_at)
    for closure in closures:
        reasons.append(
            _("The station is closed from %(start)s to %(end)s: %(reason)s.")
            % {
                "start": f"{timezone.localtime(closure.starts_at):%Y-%m-%d %H:%M}",
                "end": f"{timezone.localtime(closure.ends_at):%Y-%m-%d %H:%M}",
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
    intervals = station_opening_intervals(station=station, day=day)
    if not intervals:
        return []
    window_start, window_end = intervals[0][0], intervals[-1][1]
    busy = [
        (a.starts_at, a.ends_at)
        for a in Appointment.objects.filter(
            station=station, status=AppointmentStatus.ACTIVE, starts_at__lt=window_end, ends_at__gt=window_start
        )
    ] + [
        (c.starts_at, c.ends_at)
        for c in Closure.objects.filter(station=station, starts_at__lt=window_end, ends_at__gt=window_start)
    ]
    slots: list[tuple[dt.datetime, dt.datetime]] = []
    for opens, closes in intervals:
        candidate = opens
        while candidate + duration <= closes and len(slots) < limit:
            end = candidate + duration
            if candidate >= not_before and not any(b0 < end and candidate < b1 for b0, b1 in busy):
                slots.append((candidate, end))
            candidate += step
    return slots
