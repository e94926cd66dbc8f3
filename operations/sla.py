"""The SLA, measured from the system's own records: C-FIND answer times (the gateway's
audit records of each query), update acknowledgements (HL7: from storing a message to its
ACK; web: UpdateTiming), and the gateway's availability (its heartbeats and its
associations). Shown on the SLA page for the last 24 hours and 30 days."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import AuditRecord
from dicom_gateway.models import AssociationOutcome, AssociationRecord
from hl7_interface.models import InboundMessage
from monitoring.models import ServiceHeartbeat, UpdateTiming

# The targets (seconds), as the hospitals' MWL contracts state them.
CFIND_P95_TARGET = 5.0
ERROR_P95_TARGET = 3.0
UPDATE_P99_TARGET = 2.0
AVAILABILITY_TARGET = 99.9
# Web updates that are bookings (the API's and the pages' views).
BOOKING_VIEWS = (
    "appointment-list",  # the API: POST books
    "appointment-detail",
    "appointment-reschedule",
    "appointment-cancel",
    "ui:book",
    "ui:appointment-reschedule",
    "ui:appointment-cancel",
)
SUCCESS_STATUSES = (0x0000, 0xFE00)  # an answer (with or without matches) and a cancelled one
CACHE_SECONDS = 300


class _PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(f) WITHIN GROUP (ORDER BY x); elsewhere computed in Python."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float):
        super().__init__(expression)
        self.extra["fraction"] = repr(float(fraction))


def _interpolated(values: Sequence[float], fraction: float) -> float | None:
    """percentile_cont's definition (linear between the two nearest ranks), for SQLite."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentile(queryset: QuerySet[Any], expression: Any, fraction: float) -> tuple[float | None, int]:
    """The ``fraction`` percentile of ``expression`` over ``queryset``, and how many values."""
    if connection.vendor == "postgresql":
        row = queryset.aggregate(value=_PercentileCont(expression, fraction), n=Count("pk"))
        return row["value"], row["n"]
    values = [v for v in queryset.annotate(_v=expression).values_list("_v", flat=True) if v is not None]
    return _interpolated(values, fraction), len(values)


@dataclass(frozen=True)
class Measure:
    label: Any  # lazy text
    value: float | None  # seconds or percent; None: nothing measured
    count: int
    target: float
    unit: str  # "s" or "%"
    higher_is_better: bool = False

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


@dataclass(frozen=True)
class Window:
    label: Any
    start: dt.datetime
    end: dt.datetime
    measures: list[Measure]
    associations: dict[str, int]
    gaps: list[tuple[dt.datetime, dt.datetime]]


def _ms_seconds() -> Any:
    return Cast(KeyTextTransform("ms", "after"), FloatField()) / 1000.0


def _cfind(start: dt.datetime, end: dt.datetime) -> tuple[Measure, Measure]:
    queries = AuditRecord.objects.filter(at__gte=start, at__lt=end, action="c-find")
    status = Cast(KeyTextTransform("status", "after"), FloatField())
    answered = queries.annotate(_s=status).filter(_s__in=SUCCESS_STATUSES)
    failed = queries.annotate(_s=status).exclude(_s__in=SUCCESS_STATUSES)
    p95, n = percentile(answered, _ms_seconds(), 0.95)
    e95, en = percentile(failed, _ms_seconds(), 0.95)
    return (
        Measure(_("C-FIND answer, 95th percentile"), p95, n, CFIND_P95_TARGET, "s"),
        Measure(_("C-FIND error answer, 95th percentile"), e95, en, ERROR_P95_TARGET, "s"),
    )


def _updates(start: dt.datetime, end: dt.datetime) -> list[Measure]:
    hl7 = InboundMessage.objects.filter(received_at__gte=start, received_at__lt=end, processed_at__isnull=False)
    took = ExpressionWrapper(F("processed_at") - F("received_at"), output_field=DurationField())
    if connection.vendor == "postgresql":
        from django.db.models.functions import Extract

        seconds: Any = Extract(took, "epoch")
        h99, hn = percentile(hl7, seconds, 0.99)
    else:
        values = [(p - r).total_seconds() for r, p in hl7.values_list("received_at", "processed_at") if p]
        h99, hn = _interpolated(values, 0.99), len(values)
    timings = UpdateTiming.objects.filter(at__gte=start, at__lt=end, status__lt=500)
    b99, bn = percentile(timings.filter(view__in=BOOKING_VIEWS), F("ms") / 1000.0, 0.99)
    w99, wn = percentile(timings, F("ms") / 1000.0, 0.99)
    return [
        Measure(_("HL7 message to ACK, 99th percentile"), h99, hn, UPDATE_P99_TARGET, "s"),
        Measure(_("Booking answered, 99th percentile"), b99, bn, UPDATE_P99_TARGET, "s"),
        Measure(_("Any web update answered, 99th percentile"), w99, wn, UPDATE_P99_TARGET, "s"),
    ]


def gaps(
    service: str, start: dt.datetime, end: dt.datetime, slack: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Stretches of [start, end) when no run of ``service`` was seen (a run counts up to its last
    heartbeat plus ``slack``, unless it stopped cleanly then). Before the first run ever: not counted."""
    first = (
        ServiceHeartbeat.objects.filter(service=service)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if first is None:
        return [(start, end)]
    start = max(start, first)
    spans = sorted(
        (s, ls if stopped else ls + slack)
        for s, ls, stopped in ServiceHeartbeat.objects.filter(
            service=service, started_at__lt=end, last_seen__gte=start - slack
        ).values_list("started_at", "last_seen", "stopped")
    )
    found, cursor = [], start
    for span_start, span_end in spans:
        if span_start > cursor:
            found.append((cursor, min(span_start, end)))
        cursor = max(cursor, span_end)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return [(a, b) for a, b in found if b > a]


def _availability(
    start: dt.datetime, end: dt.datetime, slack: dt.timedelta
) -> tuple[Measure, list[Any], dict[str, int]]:
    down = gaps("mwl_gateway", start, end, slack)
    total = (end - start).total_seconds()
    lost = sum((b - a).total_seconds() for a, b in down)
    counts = dict(
        AssociationRecord.objects.filter(at__gte=start, at__lt=end)
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .values_list("outcome", "n")
    )
    associations = {o.value: counts.get(o.value, 0) for o in AssociationOutcome}
    measure = Measure(
        _("Gateway available"),
        100.0 * (total - lost) / total if total else None,
        len(down),
        AVAILABILITY_TARGET,
        "%",
        True,
    )
    return measure, down, associations


def sla_window(label: Any, start: dt.datetime, end: dt.datetime, slack: dt.timedelta) -> Window:
    cfind, errors = _cfind(start, end)
    availability, down, associations = _availability(start, end, slack)
    return Window(label, start, end, [cfind, errors, *_updates(start, end), availability], associations, down)


def sla_report(*, now: dt.datetime | None = None, use_cache: bool = True) -> list[Window]:
    """The last 24 hours and the last 30 days (the 30 days cached for CACHE_SECONDS)."""
    from django.conf import settings

    now = now or timezone.now()
    slack = dt.timedelta(seconds=3 * settings.HEARTBEAT_SECONDS)
    day = sla_window(_("Last 24 hours"), now - dt.timedelta(hours=24), now, slack)
    key = "operations.sla.30d"
    month = cache.get(key) if use_cache else None
    if month is None:
        month = sla_window(_("Last 30 days"), now - dt.timedelta(days=30), now, slack)
        if use_cache:
            cache.set(key, month, CACHE_SECONDS)
    return [day, month]
