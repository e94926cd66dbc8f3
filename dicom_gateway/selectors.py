"""Reads for the gateway: captured queries and "why isn't my patient on the scanner?"."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydicom.dataset import Dataset

from dicom_gateway.encoding import ProfileSettings, format_person_name
from dicom_gateway.find import worklist_queryset
from dicom_gateway.matching import InvalidIdentifier, parse_identifier
from dicom_gateway.models import (
    AssociationOutcome,
    AssociationRecord,
    CapturedQuery,
    Charset,
    PerformedProcedureStep,
)
from orders.models import Order
from scheduling.models import Station
from worklist.models import SERVED_STATUSES, WorklistItem


@dataclass(frozen=True)
class Check:
    rule: str  # status, station, date, modality, <DICOM keyword>, character set, result limit
    ok: bool
    detail: str  # in the active language (the API's clients get English)

    @property
    def rule_label(self) -> str:
        return str(RULE_LABELS.get(self.rule, self.rule))


# The rules as the page names them (the API keeps the codes).
RULE_LABELS = {
    "status": gettext_lazy("status"),
    "station": gettext_lazy("station"),
    "date": gettext_lazy("date"),
    "modality": gettext_lazy("modality"),
    "query": gettext_lazy("query"),
    "character set": gettext_lazy("character set"),
    "result limit": gettext_lazy("result limit"),
}


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
        source = _("captured query #%(pk)s from %(ae)s at %(when)s") % {
            "pk": captured.pk,
            "ae": calling,
            "when": f"{received:%d/%m/%Y %H:%M:%S}",
        }
    else:
        station = station or (order.worklist_item.station if hasattr(order, "worklist_item") else None)
        if station is None:
            return Explanation(
                False,
                _("none"),
                [
                    Check(
                        "status",
                        False,
                        _("The exam is %(status)s: it was never booked.") % {"status": order.get_status_display()},
                    )
                ],
            )
        identifier = _day_list_query(station)
        calling = station.ae_title
        source = _("typical day-list query of %(ae)s for today") % {"ae": station.ae_title}
    checks: list[Check] = []
    item = WorklistItem.objects.filter(order=order).first()
    if item is None:
        checks.append(
            Check(
                "status",
                False,
                _("The exam is %(status)s: it has no worklist item (not booked, or cancelled / no-show).")
                % {"status": order.get_status_display()},
            )
        )
        return Explanation(False, source, checks)
    served_status = item.sps_status in SERVED_STATUSES
    checks.append(
        Check(
            "status",
            served_status,
            (
                _("Scheduled Procedure Step Status is %(status)s.")
                if served_status
                else _("Scheduled Procedure Step Status is %(status)s; only SCHEDULED and ARRIVED steps are served.")
            )
            % {"status": item.sps_status},
        )
    )
    try:
        parsed = parse_identifier(identifier, facility_tz=ZoneInfo(settings.TIME_ZONE))
    except InvalidIdentifier as exc:
        checks.append(Check("query", False, _("The query itself is invalid (0xA900): %(error)s") % {"error": exc}))
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
        detail = (
            _("The query's %(key)s matches the exam") if ok else _("The query's %(key)s does not match the exam")
        ) % {"key": keyword} + (f" ({value})." if value else ".")
        checks.append(Check(RULE_NAMES.get(keyword, keyword), ok, detail))
    if not parsed.station_ae_given and profile.use_calling_ae_as_station and station_known:
        ok = item.station_ae_title == calling
        checks.append(
            Check(
                "station",
                ok,
                _(
                    "The query names no station, so %(calling)s's own list is served (profile rule); "
                    "the exam is on %(station)s."
                )
                % {"calling": calling, "station": item.station_ae_title},
            )
        )
    if profile.charset != Charset.UTF8:
        shown = format_person_name(item.patient_name, profile)
        checks.append(
            Check(
                "character set",
                True,
                _("The patient's name is sent as '%(name)s' (%(charset)s, profile '%(profile)s').")
                % {"name": shown, "charset": profile.charset or "ASCII", "profile": profile.name},
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
                (
                    _("The query matches %(total)d items; the profile allows %(limit)d.")
                    if ok
                    else _(
                        "The query matches %(total)d items; the profile allows %(limit)d: "
                        "the whole query is refused (0xA700)."
                    )
                )
                % {"total": total, "limit": profile.max_results},
            )
        )
    served = all(c.ok for c in checks)
    return Explanation(served, source, checks)


# --- which scanners use the worklist ---------------------------------------------------------

EMPTY_STREAK = 3  # this many latest queries, all answered with no match: "queries return nothing"


@dataclass(frozen=True)
class StationUsage:
    """What the gateway last heard from a station's AE title."""

    ae_title: str
    last_association: Any  # datetime | None (accepted associations)
    last_query: Any  # datetime | None
    last_query_matches: int | None
    last_mpps: Any  # datetime | None
    recent_queries: int  # captured (at most MWL_CAPTURE_PER_AE)
    recent_empty: int  # of which answered with no match

    @property
    def never_queried(self) -> bool:
        return self.last_query is None

    @property
    def queries_return_nothing(self) -> bool:
        return self.recent_queries >= EMPTY_STREAK and self.recent_empty == self.recent_queries

    @property
    def warning(self) -> str:
        if self.never_queried:
            return _("Never queried the worklist: is the scanner set up with this AE title and the RIS's address?")
        if self.queries_return_nothing:
            return _("Its last %(count)d queries returned nothing: compare the scanner's query with the explainer.") % {
                "count": self.recent_queries
            }
        return ""


def station_usage(stations: list[Station]) -> dict[str, StationUsage]:
    """Per AE title: the last accepted association, the last C-FIND (with its match count)
    and the last MPPS. A few indexed queries per station: for the stations page and ris_check."""
    titles = [s.ae_title for s in stations]
    associations = dict(
        AssociationRecord.objects.filter(calling_ae_title__in=titles, outcome=AssociationOutcome.ACCEPTED)
        .values("calling_ae_title")
        .annotate(last=Max("at"))
        .values_list("calling_ae_title", "last")
    )
    mpps = dict(
        PerformedProcedureStep.objects.filter(calling_ae_title__in=titles)
        .values("calling_ae_title")
        .annotate(last=Max("updated_at"))
        .values_list("calling_ae_title", "last")
    )
    usage = {}
    for title in titles:
        queries = list(
            CapturedQuery.objects.filter(calling_ae_title=title)
            .order_by("-received_at", "-pk")
            .values_list("received_at", "matches", "status")[: settings.MWL_CAPTURE_PER_AE]
        )
        usage[title] = StationUsage(
            ae_title=title,
            last_association=associations.get(title),
            last_query=queries[0][0] if queries else None,
            last_query_matches=queries[0][1] if queries else None,
            last_mpps=mpps.get(title),
            recent_queries=len(queries),
            recent_empty=sum(1 for _at, matches, code in queries if matches == 0 and code == 0),
        )
    return usage
