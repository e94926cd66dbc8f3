"""Reads for the gateway: captured queries and "why isn't my patient on the scanner?"."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from pydicom.dataset import Dataset

from dicom_gateway.encoding import ProfileSettings, format_person_name
from dicom_gateway.find import worklist_queryset
from dicom_gateway.matching import InvalidIdentifier, parse_identifier
from dicom_gateway.models import CapturedQuery, Charset
from orders.models import Order
from scheduling.models import Station
from worklist.models import SERVED_STATUSES, WorklistItem


@dataclass(frozen=True)
class Check:
    rule: str  # status, station, date, modality, <DICOM keyword>, character set, result limit
    ok: bool
    detail: str


@dataclass(frozen=True)
class Explanation:
    served: bool
    query_source: str  # "captured query #12 from CT_ROOM3 at ..." or "typical day-list query of MNH_CT1"
    checks: list[Check]

    def as_dict(self) -> dict[str, Any]:
        return {"served": self.served, "query_source": self.query_source, "checks": [asdict(c) for c in self.checks]}


def captured_query_list(*, calling_ae_title: str | None = None) -> QuerySet[CapturedQuery]:
    qs = CapturedQuery.objects.all()
    return qs.filter(calling_ae_title=calling_ae_title) if calling_ae_title else qs


def _day_list_query(station: Station) -> Dataset:
    """What a modality at this station typically asks: its AE title and today."""
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    item = Dataset()
    item.ScheduledStationAETitle = station.ae_title
    item.ScheduledProcedureStepStartDate = timezone.localdate().strftime("%Y%m%d")
    item.Modality = ""
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def _profile_for(ae_title: str) -> tuple[ProfileSettings, bool]:
    station = Station.objects.filter(ae_title=ae_title, active=True).select_related("dicom_profile").first()
    return (ProfileSettings.from_profile(station.dicom_profile) if station else ProfileSettings()), station is not None


@dataclass(frozen=True)
class ServedItem:
    item: WorklistItem
    name_as_sent: str  # the patient's name as this station's profile sends it


def station_served_worklist(*, station: Station) -> tuple[list[ServedItem], ProfileSettings]:
    """Today's worklist exactly as the gateway serves it to this station: its
    typical day-list query run through the gateway's own parser and filter,
    with the names as the station's profile formats them."""
    parsed = parse_identifier(_day_list_query(station), facility_tz=ZoneInfo(settings.TIME_ZONE))
    profile, known = _profile_for(station.ae_title)
    items = WorklistItem.objects.filter(
        worklist_queryset(parsed, calling_ae=station.ae_title, station_known=known, profile=profile)
    ).order_by("sps_start", "pk")
    return [ServedItem(item, format_person_name(item.patient_name, profile)) for item in items], profile


RULE_NAMES = {
    "ScheduledStationAETitle": "station",
    "ScheduledProcedureStepStartDate/Time": "date",
    "Modality": "modality",
}


def worklist_explain(
    *, order: Order, station: Station | None = None, captured: CapturedQuery | None = None
) -> Explanation:
    """Which rule keeps this order's exam off a modality's worklist: replays the
    modality's last real query (``captured``) or a typical day-list query of
    ``station``, rule by rule, with the gateway's own matching code."""
    if captured is not None:
        identifier = Dataset.from_json(captured.identifier)
        calling = captured.calling_ae_title
        received = timezone.localtime(captured.received_at)
        source = f"captured query #{captured.pk} from {calling} at {received:%Y-%m-%d %H:%M:%S}"
    else:
        station = station or (order.worklist_item.station if hasattr(order, "worklist_item") else None)
        if station is None:
            return Explanation(
                False, "none", [Check("status", False, f"The exam is {order.status}: it was never booked.")]
            )
        identifier = _day_list_query(station)
        calling = station.ae_title
        source = f"typical day-list query of {station.ae_title} for today"
    checks: list[Check] = []
    item = WorklistItem.objects.filter(order=order).first()
    if item is None:
        checks.append(
            Check(
                "status",
                False,
                f"The exam is {order.status}: it has no worklist item (not booked, or cancelled / no-show).",
            )
        )
        return Explanation(False, source, checks)
    served_status = item.sps_status in SERVED_STATUSES
    checks.append(
        Check(
            "status",
            served_status,
            f"Scheduled Procedure Step Status is {item.sps_status}"
            + ("" if served_status else "; only SCHEDULED and ARRIVED steps are served."),
        )
    )
    try:
        parsed = parse_identifier(identifier, facility_tz=ZoneInfo(settings.TIME_ZONE))
    except InvalidIdentifier as exc:
        checks.append(Check("query", False, f"The query itself is invalid (0xA900): {exc}"))
        return Explanation(False, source, checks)
    profile, station_known = _profile_for(calling)
    one = WorklistItem.objects.filter(pk=item.pk)
    for keyword, q in parsed.key_filters.items():
        ok = one.filter(q).exists()
        value = {
            "ScheduledStationAETitle": item.station_ae_title,
            "ScheduledProcedureStepStartDate/Time": f"{item.sps_start_date:%Y%m%d} {item.sps_start_time:%H%M%S}",
            "Modality": item.modality,
        }.get(keyword, "")
        detail = f"The query's {keyword} {'matches' if ok else 'does not match'} the exam" + (
            f" ({value})." if value else "."
        )
        checks.append(Check(RULE_NAMES.get(keyword, keyword), ok, detail))
    if not parsed.station_ae_given and profile.use_calling_ae_as_station and station_known:
        ok = item.station_ae_title == calling
        checks.append(
            Check(
                "station",
                ok,
                f"The query names no station, so {calling}'s own list is served (profile rule); the exam is on "
                f"{item.station_ae_title}.",
            )
        )
    if profile.charset != Charset.UTF8:
        shown = format_person_name(item.patient_name, profile)
        checks.append(
            Check(
                "character set",
                True,
                f"The patient's name is sent as {shown!r} ({profile.charset or 'ASCII'}, profile {profile.name!r}).",
            )
        )
    if profile.max_results:
        total = WorklistItem.objects.filter(
            worklist_queryset(parsed, calling_ae=calling, station_known=station_known, profile=profile)
        ).count()
        ok = total <= profile.max_results
        checks.append(
            Check(
                "result limit",
                ok,
                f"The query matches {total} items; the profile allows {profile.max_results}"
                + ("." if ok else ": the whole query is refused (0xA700)."),
            )
        )
    served = all(c.ok for c in checks)
    return Explanation(served, source, checks)
