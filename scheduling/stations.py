"""Stations, their opening hours and closures, and moving the exams out of a closure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record, audit_snapshot, audited_save
from mwl_ris.lib.errors import ApplicationError
from mwl_ris.lib.validation import full_clean_or_raise, refuse_unknown
from orders.models import Order
from scheduling.booking import COMPATIBLE_MODALITIES, appointment_reschedule, station_lock
from scheduling.models import Appointment, Closure, OpeningHours, Station
from scheduling.selectors import (
    capacity_refusal,
    closure_affected_appointments,
    lane_booked_above,
    next_available_slots,
)
from worklist.services import worklist_item_sync

if TYPE_CHECKING:
    from accounts.roles import UserLike


class StationFields(TypedDict, total=False):
    """What a client may set on a station."""

    name: str
    name_sw: str
    room: str
    modality: str
    ae_title: str
    ip_address: str | None
    active: bool
    tls_required: bool
    dicom_profile: Model | None  # a dicom_gateway.Profile (a string reference in the model)
    capacity: int
    site: Model | None  # a facility.Site: its edge node serves the station


class OpeningHoursEntry(TypedDict):
    weekday: int
    opens: dt.time
    closes: dt.time


STATION_FIELDS = frozenset(StationFields.__annotations__)


@transaction.atomic
def station_create(*, opening_hours: list[OpeningHoursEntry] | None = None, **fields: Unpack[StationFields]) -> Station:
    refuse_unknown(fields, STATION_FIELDS, what="station")
    station = audited_save(Station(**fields))
    if opening_hours is not None:
        station_set_opening_hours(station=station, opening_hours=opening_hours)
    return station


@transaction.atomic
def station_update(
    *, station: Station, opening_hours: list[OpeningHoursEntry] | None = None, **fields: Unpack[StationFields]
) -> Station:
    """Change a station (``station`` may carry changes already: the admin's form).
    A new AE title, name, room or site reaches the station's worklist items."""
    refuse_unknown(fields, STATION_FIELDS, what="station")
    stored = Station.objects.get(pk=station.pk)
    before = audit_snapshot(stored)
    for name, value in fields.items():
        setattr(station, name, value)
    full_clean_or_raise(station)
    station_lock(station)
    in_use = lane_booked_above(station=station, capacity=station.capacity)
    if in_use is not None:
        raise ApplicationError(capacity_refusal(in_use), code="capacity_in_use")
    station.save()
    audit_record("update", instance=station, before=before)
    if opening_hours is not None:
        station_set_opening_hours(station=station, opening_hours=opening_hours)
    if (stored.ae_title, stored.name, stored.room, stored.site_id) != (
        station.ae_title,
        station.name,
        station.room,
        station.site_id,
    ):
        for order in Order.objects.filter(worklist_item__station=station).select_related("patient", "procedure"):
            worklist_item_sync(order=order)
    return station


def station_set_opening_hours(*, station: Station, opening_hours: list[OpeningHoursEntry]) -> None:
    """Replace the station's weekly opening hours (one audit record: the week before and after)."""
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

    def week(hours: list[OpeningHours]) -> list[str]:
        return sorted(f"{h.weekday} {h.opens:%H:%M}-{h.closes:%H:%M}" for h in hours)

    with transaction.atomic():
        old = week(list(OpeningHours.objects.filter(station=station)))
        OpeningHours.objects.filter(station=station)._raw_delete(OpeningHours.objects.db)
        OpeningHours.objects.bulk_create(rows)
        if old != week(rows):
            audit_record(
                "update",
                object_type="scheduling.OpeningHours",
                object_id=station.pk,
                summary=f"opening hours of {station}",
                before={"opening_hours": old},
                after={"opening_hours": week(rows)},
            )


def closure_create(*, station: Station, starts_at: dt.datetime, ends_at: dt.datetime, reason: str) -> Closure:
    closure = Closure(station=station, starts_at=starts_at, ends_at=ends_at, reason=reason)
    full_clean_or_raise(closure, exclude=["station"])
    if closure.ends_at <= closure.starts_at:
        raise ApplicationError("A closure must end after it starts.", code="empty_closure")
    closure.save()
    audit_record("create", instance=closure)
    return closure


@dataclass(frozen=True)
class MoveResult:
    appointment: Appointment  # the old appointment
    new: Appointment | None  # where it went, or None
    error: str = ""


def closure_reschedule_affected(*, closure: Closure, actor: UserLike | None = None, days: int = 14) -> list[MoveResult]:
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
