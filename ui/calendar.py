"""The station calendar as the scheduler sees it: a day grid (stations across,
15-minute rows down) and a week overview (stations down, days across).

Presentation only: which slots are free comes from scheduling.selectors, so the
grid shows exactly what the booking service will accept. Built by hand because
no calendar library renders a server-side, accessible table of *our* rules
(opening hours, closures, the procedure's duration); the grid is a plain
<table> that works without JavaScript and with a screen reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus, Closure, Station
from scheduling.selectors import station_free_slots, station_opening_intervals

STEP = dt.timedelta(minutes=15)
# The window shown when no station of the view is open at all that day.
DEFAULT_DAY = (dt.time(7), dt.time(20))


@dataclass
class Cell:
    kind: str  # "appointment", "closed", "closure", "free", "past"
    rowspan: int = 1
    appointments: list[Appointment] = field(default_factory=list)
    closure: Closure | None = None
    bookable: bool = False  # a slot of the order's duration starts here and fits
    start: dt.datetime | None = None
    station: Station | None = None


@dataclass(frozen=True)
class Column:
    """One column of the day grid: a station, or one of its places (lanes) when
    the room takes several patients at once."""

    station: Station
    lane: int


@dataclass
class DayGrid:
    day: dt.date
    stations: list[Station]
    columns: list[Column]
    times: list[dt.datetime]
    # rows[i][j]: the cell of column j at times[i], or None where a cell above spans it
    rows: list[list[Cell | None]]

    @property
    def has_lanes(self) -> bool:
        return any(s.capacity > 1 for s in self.stations)

    @property
    def table(self) -> list[tuple[dt.datetime, list[Cell | None]]]:
        return list(zip(self.times, self.rows, strict=True))


def _local(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=timezone.get_current_timezone())


def _floor(moment: dt.datetime, origin: dt.datetime) -> int:
    return int((moment - origin) // STEP)


def day_grid(*, stations: list[Station], day: dt.date, duration: dt.timedelta | None = None) -> DayGrid:
    """The grid of one local day. With ``duration`` (booking an order), every row
    where a slot of that length is free is marked bookable."""
    tz = timezone.get_current_timezone()
    midnight = _local(day, dt.time(0))
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    opening = {s.pk: station_opening_intervals(station=s, day=day) for s in stations}
    appointments = list(
        Appointment.objects.filter(
            station__in=stations,
            status=AppointmentStatus.ACTIVE,
            starts_at__lt=next_midnight,
            ends_at__gt=midnight,
        )
        .select_related("order__patient", "order__procedure")
        .order_by("starts_at")
    )
    closures = list(Closure.objects.filter(station__in=stations, starts_at__lt=next_midnight, ends_at__gt=midnight))

    # The visible window: from the earliest opening to the latest closing of the
    # day (a station open around the clock: the whole day), widened to bookings.
    intervals = [iv for s in stations for iv in opening[s.pk]]
    if intervals:
        first, last = min(o for o, _ in intervals), max(c for _, c in intervals)
    else:
        first, last = _local(day, DEFAULT_DAY[0]), _local(day, DEFAULT_DAY[1])
    for appt in appointments:
        first, last = min(first, max(appt.starts_at, midnight)), max(last, min(appt.ends_at, next_midnight))
    first = midnight + STEP * _floor(first, midnight)
    count = max(1, -(-(last - first) // STEP))
    times = [first + STEP * i for i in range(count)]

    # When booking: where a slot of the order's length starts, and in which place
    # of the room the booking service would put it (the lowest free one).
    bookable: dict[tuple[int, int], set[dt.datetime]] = {}
    if duration is not None:
        for s in stations:
            mine = [a for a in appointments if a.station_id == s.pk]
            for start, end in station_free_slots(station=s, day=day, duration=duration, step=STEP, limit=200):
                busy = {a.lane for a in mine if a.starts_at < end and start < a.ends_at}
                lane = next((n for n in range(1, s.capacity + 1) if n not in busy), 1)
                bookable.setdefault((s.pk, lane), set()).add(start)

    now = timezone.now()
    grid_columns = [Column(s, lane) for s in stations for lane in range(1, s.capacity + 1)]
    columns: list[list[Cell | None]] = []
    for col in grid_columns:
        s = col.station
        column: list[Cell | None] = []
        for t in times:
            end = t + STEP
            closure = next((c for c in closures if c.station_id == s.pk and c.starts_at < end and t < c.ends_at), None)
            if closure is not None:
                cell = Cell("closure", closure=closure, start=t, station=s)
            elif not any(o <= t and end <= c for o, c in opening[s.pk]):
                cell = Cell("closed", start=t, station=s)
            elif end <= now:
                cell = Cell("past", start=t, station=s)
            else:
                cell = Cell("free", start=t, bookable=t in bookable.get((s.pk, col.lane), set()), station=s)
            column.append(cell)
        # Appointments cover every row they overlap; touching ones share a block.
        block: Cell | None = None
        block_end = -1
        for appt in (a for a in appointments if a.station_id == s.pk and a.lane == col.lane):
            top = max(0, _floor(appt.starts_at, first))
            bottom = min(len(times) - 1, _floor(appt.ends_at - dt.timedelta(microseconds=1), first))
            if block is not None and top <= block_end:
                block.appointments.append(appt)
                block_end = max(block_end, bottom)
                block.rowspan = block_end - _row_of(column, block) + 1
            else:
                block = Cell("appointment", appointments=[appt], rowspan=bottom - top + 1, start=times[top], station=s)
                column[top] = block
                block_end = bottom
            for i in range(top + 1, block_end + 1):
                column[i] = None
        columns.append(column)
    rows = [[columns[j][i] for j in range(len(grid_columns))] for i in range(len(times))]
    return DayGrid(day=day, stations=stations, columns=grid_columns, times=times, rows=rows)


def _row_of(column: list[Cell | None], cell: Cell) -> int:
    return next(i for i, c in enumerate(column) if c is cell)


@dataclass
class WeekCell:
    day: dt.date
    hours: list[tuple[dt.datetime, dt.datetime]]
    appointments: list[Appointment]
    closures: list[Closure]
    first_free: tuple[dt.datetime, dt.datetime] | None = None

    @property
    def all_day(self) -> bool:
        """Open around the clock this day (not "00:00-00:00", which reads as closed)."""
        return len(self.hours) == 1 and self.hours[0][1] - self.hours[0][0] >= dt.timedelta(days=1)


@dataclass
class WeekRow:
    station: Station
    cells: list[WeekCell]


def week_days(day: dt.date) -> list[dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return [monday + dt.timedelta(days=i) for i in range(7)]


def week_grid(*, stations: list[Station], day: dt.date, duration: dt.timedelta | None = None) -> list[WeekRow]:
    """One row per station, one cell per day (Monday to Sunday): opening hours,
    bookings, closures and, when booking, the first free slot of the day."""
    days = week_days(day)
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(days[0], dt.time(0), tzinfo=tz)
    end = start + dt.timedelta(days=7)
    appointments = list(
        Appointment.objects.filter(
            station__in=stations, status=AppointmentStatus.ACTIVE, starts_at__lt=end, starts_at__gte=start
        )
        .select_related("order__patient", "order__procedure")
        .order_by("starts_at")
    )
    closures = list(Closure.objects.filter(station__in=stations, starts_at__lt=end, ends_at__gt=start))
    now = timezone.now()
    rows = []
    for s in stations:
        cells = []
        for d in days:
            day_start = dt.datetime.combine(d, dt.time(0), tzinfo=tz)
            day_end = day_start + dt.timedelta(days=1)
            cell = WeekCell(
                day=d,
                hours=station_opening_intervals(station=s, day=d),
                appointments=[
                    a for a in appointments if a.station_id == s.pk and timezone.localtime(a.starts_at).date() == d
                ],
                closures=[
                    c for c in closures if c.station_id == s.pk and c.starts_at < day_end and day_start < c.ends_at
                ],
            )
            if duration is not None and day_end > now:
                slots = station_free_slots(station=s, day=d, duration=duration, step=STEP, limit=1)
                cell.first_free = slots[0] if slots else None
            cells.append(cell)
        rows.append(WeekRow(station=s, cells=cells))
    return rows
