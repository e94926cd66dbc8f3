"""C-FIND identifier -> one Django Q over WorklistItem (PS3.4 C.2.2.2 and
Annex K). Pure: no I/O. See docs/conformance.md for every matching choice.

Matching types: universal (empty value or "*"), single value, wildcard
("*", "?": characters, not bytes, since values are decoded first), range
(DA, TM and the combined SPS start date + time, as real dates/datetimes),
list of UID, multiple values ("A\\B" matches either) and sequence matching
inside the Scheduled Procedure Step Sequence. Person names match
case-insensitively; a name without "=" is matched against the alphabetic
group of the stored name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Q
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicom_gateway.keys import QUERY_META, SPS_LEVEL, SPS_SEQUENCE, TOP_LEVEL, Key

END_OF_DAY = dt.time(23, 59, 59, 999999)
_TM_RE = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")
_DA_RE = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")
_TZ_RE = re.compile(r"^([+-])(\d{2})(\d{2})$")


class InvalidIdentifier(ValueError):
    """The identifier cannot be a Modality Worklist query (-> 0xA900)."""


# PS3.5 6.2: the longest value each text VR may hold, in characters (PN: per
# component group; dates and times are checked by their parsers). Longer
# values are refused before any SQL is built, so a query cannot become
# unbounded work (a 128,000-character wildcard was a regular expression
# that ran for a minute in PostgreSQL).
VR_MAX_CHARS = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DS": 16,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64,
    "SH": 16,
    "ST": 1024,
    "UI": 64,
}


def check_values(identifier: Dataset) -> None:
    """Every text value in the identifier (nested items too) is one its VR
    allows: no NUL character (PS3.5 6.1.2: not in the default repertoire;
    PostgreSQL cannot store it either) and no longer than the VR's maximum."""
    for element in identifier.iterall():
        limit = VR_MAX_CHARS.get(element.VR)
        if limit is None and element.VR not in ("DA", "DT", "TM", "UC", "UT", "UR"):
            continue
        for value in _values(element):
            name = element.keyword or str(element.tag)
            if "\x00" in value:
                raise InvalidIdentifier(f"{name} contains a NUL character")
            if limit is None:
                continue
            parts = value.split("=") if element.VR == "PN" else [value]
            if any(len(part) > limit for part in parts):
                raise InvalidIdentifier(f"{name} is longer than {element.VR} allows ({limit} characters)")


@dataclass
class ParsedQuery:
    """What one C-FIND asks for: the filter and the shape of the answer."""

    filters: Q
    top_keys: list[str]  # requested top-level keywords (return keys), in query order
    sps_keys: list[str] | None  # requested SPS keywords; None: no SPS sequence requested
    unsupported: list[str] = field(default_factory=list)  # -> 0xFF01, returned empty
    station_ae_given: bool = False  # the query names a Scheduled Station AE Title
    summary: dict[str, str] = field(default_factory=dict)  # keyword -> matching type (for logs: no values)
    key_filters: dict[str, Q] = field(default_factory=dict)  # keyword -> its own filter (for explanations)


def parse_da(text: str) -> dt.date:
    match = _DA_RE.match(text.strip())
    if not match:
        raise InvalidIdentifier(f"{text!r} is not a DICOM date (YYYYMMDD)")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise InvalidIdentifier(f"{text!r} is not a valid date") from exc


def parse_tm(text: str) -> dt.time:
    """HH, HHMM, HHMMSS or HHMMSS.FFFFFF; missing parts are zero (a bound of
    "0930" means 09:30:00)."""
    match = _TM_RE.match(text.strip())
    if not match:
        raise InvalidIdentifier(f"{text!r} is not a DICOM time (HHMMSS)")
    hour, minute, second = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    micro = int((match[4] or "0").ljust(6, "0"))
    try:
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError as exc:
        raise InvalidIdentifier(f"{text!r} is not a valid time") from exc


def parse_tz_offset(text: str) -> dt.tzinfo:
    match = _TZ_RE.match(text.strip())
    if not match:
        raise InvalidIdentifier(f"Timezone Offset From UTC {text!r} is not &ZZXX")
    minutes = int(match[2]) * 60 + int(match[3])
    return dt.timezone(dt.timedelta(minutes=minutes if match[1] == "+" else -minutes))


def _split_range(text: str) -> tuple[str, str] | None:
    if "-" not in text:
        return None
    low, _, high = text.partition("-")
    if "-" in high:
        raise InvalidIdentifier(f"{text!r} has more than one '-'")
    if not low.strip() and not high.strip():
        raise InvalidIdentifier("a range needs at least one bound")
    return low.strip(), high.strip()


def _values(element: DataElement) -> list[str]:
    value = element.value
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list) else [value]
    return [str(v) for v in items if v is not None and str(v) != ""]


def _wildcard_regex(value: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)


def string_q(column: str, value: str, *, person_name: bool = False) -> Q:
    """Single value / wildcard matching of one string value. Leading and
    trailing spaces are not significant."""
    value = value.strip(" ")
    if person_name:
        value = "=".join(group.rstrip("^ ") for group in value.split("="))
    if value in ("", "*") or set(value) == {"*"}:
        return Q()
    has_wildcards = "*" in value or "?" in value
    if person_name:
        if not has_wildcards and "=" in value:
            return Q(**{f"{column}__iexact": value})
        if value.endswith("*") and "*" not in value[:-1] and "?" not in value:
            return Q(**{f"{column}__istartswith": value[:-1]})
        # Without "=", the query names the alphabetic group: the stored
        # ideographic/phonetic groups may follow.
        tail = "" if "=" in value else "(=.*)?"
        return Q(**{f"{column}__iregex": f"^{_wildcard_regex(value)}{tail}$"})
    if not has_wildcards:
        return Q(**{column: value})
    if value.endswith("*") and "*" not in value[:-1] and "?" not in value:
        return Q(**{f"{column}__startswith": value[:-1]})
    return Q(**{f"{column}__regex": f"^{_wildcard_regex(value)}$"})


def _other_station_q(value: str) -> Q:
    """Items imported with several Scheduled Station AE Titles keep the extra
    ones in ``other_station_ae_titles`` ("\\AA33\\"). The ``> ''`` condition is
    the partial index's own predicate, so PostgreSQL can use that small index
    for this branch and the day-list index for the main one."""
    value = value.strip(" ")
    if "*" in value or "?" in value:
        # a wildcard never crosses the backslash between two AE titles
        inner = "".join("[^\\\\]*" if c == "*" else "[^\\\\]" if c == "?" else re.escape(c) for c in value)
        return Q(other_station_ae_titles__gt="", other_station_ae_titles__regex=f"\\\\{inner}\\\\")
    return Q(other_station_ae_titles__gt="", other_station_ae_titles__contains=f"\\{value}\\")


def _any_of(parts: list[Q]) -> Q:
    result = Q()
    for index, part in enumerate(parts):
        if not part:  # one universal value: the whole key is universal
            return Q()
        result = part if index == 0 else result | part
    return result


def _range_q(column: str, text: str, parse: Callable[[str], object]) -> Q:
    """Single value or range (closed or open) on a date or time column; an
    empty stored value never matches."""
    bounds = _split_range(text)
    if bounds is None:
        return Q(**{column: parse(text)})
    low, high = bounds
    q = Q(**{f"{column}__isnull": False})
    if low:
        q &= Q(**{f"{column}__gte": parse(low)})
    if high:
        q &= Q(**{f"{column}__lte": parse(high)})
    return q


def _key_q(key: Key, element: DataElement) -> tuple[Q, str]:
    """The filter for one matching key, and its matching type for the log."""
    assert key.column is not None
    values = _values(element)
    if not values:
        return Q(), "universal"
    if key.vr == "UI":
        uids = [v.strip() for v in values if v.strip()]
        return (
            (Q(**{f"{key.column}__in": uids}), "uid-list") if len(uids) > 1 else (Q(**{key.column: uids[0]}), "single")
        )
    if key.vr in ("DA", "TM"):
        parse = parse_da if key.vr == "DA" else parse_tm
        return _range_q(key.column, values[0], parse), ("range" if "-" in values[0] else "single")
    parts = [string_q(key.column, v, person_name=key.vr == "PN") for v in values]
    if key.keyword == "ScheduledStationAETitle":
        parts = [p | _other_station_q(v) if p else p for p, v in zip(parts, values, strict=True)]
    kind = "wildcard" if any("*" in v or "?" in v for v in values) else "single"
    if len(values) > 1:
        kind = "multi-value"
    combined = _any_of(parts)
    return combined, (kind if combined else "universal")


def _combined_datetime_q(date_text: str, time_text: str, tz: dt.tzinfo) -> Q:
    """SPS Start Date + Time both given: one datetime range (PS3.4 C.2.2.2.5.1)."""
    date_bounds = _split_range(date_text) or (date_text, date_text)
    time_bounds = _split_range(time_text) or (time_text, time_text)
    q = Q()
    if date_bounds[0]:
        start_time = parse_tm(time_bounds[0]) if time_bounds[0] else dt.time(0)
        q &= Q(sps_start__gte=dt.datetime.combine(parse_da(date_bounds[0]), start_time, tzinfo=tz))
    elif time_bounds[0]:
        parse_tm(time_bounds[0])  # validate; an open date start leaves no lower bound
    if date_bounds[1]:
        end_time = parse_tm(time_bounds[1]) if time_bounds[1] else END_OF_DAY
        q &= Q(sps_start__lte=dt.datetime.combine(parse_da(date_bounds[1]), end_time, tzinfo=tz))
    elif time_bounds[1]:
        parse_tm(time_bounds[1])
    return q


def _date_only_in_other_zone_q(date_text: str, tz: dt.tzinfo) -> Q:
    """A date range in the caller's time zone (Timezone Offset From UTC differs
    from the facility's): compare instants, not local dates."""
    low, high = _split_range(date_text) or (date_text, date_text)
    q = Q()
    if low:
        q &= Q(sps_start__gte=dt.datetime.combine(parse_da(low), dt.time(0), tzinfo=tz))
    if high:
        q &= Q(sps_start__lte=dt.datetime.combine(parse_da(high), END_OF_DAY, tzinfo=tz))
    return q


def _element_text(ds: Dataset, keyword: str) -> str:
    element = ds.data_element(keyword) if keyword in ds else None
    if element is None:
        return ""
    values = _values(element)
    return values[0].strip() if values else ""


def _sps_item(identifier: Dataset) -> Dataset | None:
    if SPS_SEQUENCE not in identifier:
        return None
    element = identifier.data_element(SPS_SEQUENCE)
    if element is None or element.VR != "SQ":
        raise InvalidIdentifier("Scheduled Procedure Step Sequence is not a sequence")
    items = list(element.value or [])
    if len(items) > 1:
        raise InvalidIdentifier("Scheduled Procedure Step Sequence must hold at most one item")
    return items[0] if items else Dataset()


def parse_identifier(identifier: Dataset, *, facility_tz: ZoneInfo) -> ParsedQuery:
    """Turn a decoded C-FIND identifier into filters and the answer's shape."""
    check_values(identifier)
    query_tz: dt.tzinfo = facility_tz
    offset_text = _element_text(identifier, "TimezoneOffsetFromUTC")
    if offset_text:
        query_tz = parse_tz_offset(offset_text)
    filters = Q()
    unsupported: list[str] = []
    summary: dict[str, str] = {}
    key_filters: dict[str, Q] = {}
    top_keys: list[str] = []

    for element in identifier:
        if element.tag.is_private or element.tag.element == 0:
            continue  # private attributes and group lengths are ignored
        keyword = element.keyword
        if keyword in QUERY_META or keyword == SPS_SEQUENCE:
            continue
        key = TOP_LEVEL.get(keyword)
        if key is None:
            unsupported.append(keyword or str(element.tag))
            continue
        top_keys.append(keyword)
        if key.vr == "SQ" and element.VR != "SQ":
            raise InvalidIdentifier(f"{keyword} must be a sequence")
        if not key.matchable:
            if key.vr != "SQ" and _values(element):
                unsupported.append(keyword)  # a value we cannot match on
            continue
        q, kind = _key_q(key, element)
        filters &= q
        summary[keyword] = kind
        if q:
            key_filters[keyword] = q

    sps = _sps_item(identifier)
    sps_keys: list[str] | None = None
    station_ae_given = False
    if sps is not None:
        sps_keys = []
        for element in sps:
            if element.tag.is_private or element.tag.element == 0:
                continue
            keyword = element.keyword
            key = SPS_LEVEL.get(keyword)
            if key is None:
                unsupported.append(f"{SPS_SEQUENCE}.{keyword or element.tag}")
                continue
            sps_keys.append(keyword)
            if keyword in ("ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime"):
                continue  # below, together
            if not key.matchable:
                if key.vr != "SQ" and _values(element):
                    unsupported.append(f"{SPS_SEQUENCE}.{keyword}")
                continue
            q, kind = _key_q(key, element)
            filters &= q
            summary[f"SPS.{keyword}"] = kind
            if q:
                key_filters[keyword] = q
            if keyword == "ScheduledStationAETitle" and _values(element):
                station_ae_given = True  # "*" too: the modality asks for every station
        date_text = _element_text(sps, "ScheduledProcedureStepStartDate")
        time_text = _element_text(sps, "ScheduledProcedureStepStartTime")
        same_zone = query_tz is facility_tz
        when = Q()
        if date_text and time_text:
            when = _combined_datetime_q(date_text, time_text, query_tz)
            summary["SPS.StartDateTime"] = "combined-range"
        elif date_text:
            when = (
                _range_q("sps_start_date", date_text, parse_da)
                if same_zone
                else _date_only_in_other_zone_q(date_text, query_tz)
            )
            summary["SPS.StartDate"] = "range" if "-" in date_text else "single"
        elif time_text:
            when = _range_q("sps_start_time", time_text, parse_tm)
            summary["SPS.StartTime"] = "range" if "-" in time_text else "single"
        if when:
            filters &= when
            key_filters["ScheduledProcedureStepStartDate/Time"] = when
    return ParsedQuery(
        filters=filters,
        top_keys=top_keys,
        sps_keys=sps_keys,
        unsupported=unsupported,
        station_ae_given=station_ae_given,
        summary=summary,
        key_filters=key_filters,
    )
