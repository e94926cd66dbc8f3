"""Worklist rows -> response datasets carrying exactly the requested keys,
in the station profile's character set and name format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.utils import timezone
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dicom_gateway.attributes import Element, element
from dicom_gateway.fastencode import encode_elements
from dicom_gateway.keys import SPS_LEVEL, SPS_SEQUENCE, TOP_LEVEL, Key
from dicom_gateway.matching import ParsedQuery
from dicom_gateway.models import Charset, NameFormat
from dicom_gateway.profiles import ProfileSettings, format_person_name, transliterate

# The WorklistItem columns a response can need (fetched with .values()).
COLUMNS = sorted(
    {k.column for k in (*TOP_LEVEL.values(), *SPS_LEVEL.values()) if k.column}
    | {
        "pk",
        "requested_procedure_code_value",
        "requested_procedure_coding_scheme",
        "requested_procedure_code_meaning",
        "protocol_code_value",
        "protocol_coding_scheme",
        "protocol_code_meaning",
        "sps_end",
        "other_station_ae_titles",
        "attributes",
        "updated_at",  # part of the response cache key (find.py)
    }
)


class EncodedDataset(Dataset):
    """A response identifier that keeps its encoding per transfer syntax, so a
    cached response is encoded once however often modalities ask for it (see
    accel.install_encode_cache). Never changed after it is built."""

    def encoded(self, key: tuple[bool, bool, bool], encode: Any) -> bytes | None:
        encodings: dict[tuple[bool, bool, bool], bytes] = self.__dict__.setdefault("_encodings", {})
        data = encodings.get(key)
        if data is None:
            data = encode(self, *key)
            if data is not None:
                encodings[key] = data
        return data


class PreEncodedResponse:
    """A response kept as its neutral elements and encoded by fastencode (the
    accel path: no pydicom objects per item; accel.install_encode_cache hands
    pynetdicom its bytes). A transfer syntax fastencode does not write gets the
    pydicom Dataset built and encoded as on the other path."""

    def __init__(self, elements: list[Element], charset: str) -> None:
        self._elements = elements
        self._charset = charset
        self._encodings: dict[tuple[bool, bool, bool], bytes] = {}

    def __len__(self) -> int:
        return len(self._elements)

    def dataset(self) -> Dataset:
        return _fill(Dataset(), self._elements)

    def encoded(self, key: tuple[bool, bool, bool], encode: Any) -> bytes | None:
        data = self._encodings.get(key)
        if data is None:
            implicit, little, deflated = key
            data = (
                None
                if deflated
                else encode_elements(self._elements, self._charset, implicit_vr=implicit, little_endian=little)
            )
            if data is None:
                data = encode(self.dataset(), *key)
            if data is not None:
                self._encodings[key] = data
        return data


def tm_text(value: dt.time) -> str:
    """TM as stored: HHMMSS, with the fraction when there is one (093015.5)."""
    text = value.strftime("%H%M%S")
    return f"{text}.{value.microsecond:06d}".rstrip("0") if value.microsecond else text


def _value(key: Key, row: dict[str, Any], profile: ProfileSettings) -> Any:
    raw = row.get(key.column) if key.column else None
    if key.keyword == "ScheduledStationAETitle" and row.get("other_station_ae_titles"):
        return str(raw) + row["other_station_ae_titles"].rstrip("\\")  # an imported "AA32\\AA33", as imported
    if raw is None or raw == "":
        return None if key.vr in ("US", "DS") else ""
    if key.vr == "DA":
        return raw.strftime("%Y%m%d") if isinstance(raw, dt.date) else str(raw)
    if key.vr == "TM":
        return tm_text(raw) if isinstance(raw, dt.time) else str(raw)
    if key.vr == "PN":
        return format_person_name(str(raw), profile)
    return transliterate(str(raw), profile.charset)


def _code_item(value: str, scheme: str, meaning: str, profile: ProfileSettings) -> list[Element]:
    return [
        (0x00080100, "CodeValue", "SH", value),
        (0x00080102, "CodingSchemeDesignator", "SH", scheme),
        (0x00080104, "CodeMeaning", "LO", transliterate(meaning, profile.charset)),
    ]


def _sequence(keyword: str, row: dict[str, Any], profile: ProfileSettings) -> list[list[Element]]:
    if not profile.include_code_sequences:
        return []
    if keyword == "RequestedProcedureCodeSequence" and row["requested_procedure_code_value"]:
        return [
            _code_item(
                row["requested_procedure_code_value"],
                row["requested_procedure_coding_scheme"],
                row["requested_procedure_code_meaning"],
                profile,
            )
        ]
    if keyword == "ScheduledProtocolCodeSequence" and row["protocol_code_value"]:
        return [
            _code_item(row["protocol_code_value"], row["protocol_coding_scheme"], row["protocol_code_meaning"], profile)
        ]
    return []


CODE_SEQUENCES = ("RequestedProcedureCodeSequence", "ScheduledProtocolCodeSequence")
TAGS = {k.keyword: int(tag_for_keyword(k.keyword)) for k in (*TOP_LEVEL.values(), *SPS_LEVEL.values())}  # type: ignore[arg-type]


def _key_element(key: Key, row: dict[str, Any], profile: ProfileSettings) -> Element:
    tag = TAGS[key.keyword]
    if key.column is not None:
        return tag, key.keyword, key.vr, _value(key, row, profile)
    attributes = row.get("attributes") or {}
    if key.keyword in attributes and not (key.keyword in CODE_SEQUENCES and not profile.include_code_sequences):
        return element(key.keyword, attributes[key.keyword], profile)
    if key.vr == "SQ":
        return tag, key.keyword, key.vr, _sequence(key.keyword, row, profile)
    if key.keyword in ("ScheduledProcedureStepEndDate", "ScheduledProcedureStepEndTime"):
        end = row.get("sps_end")
        if end is None:
            return tag, key.keyword, key.vr, ""
        local = timezone.localtime(end)
        return tag, key.keyword, key.vr, local.strftime("%Y%m%d") if key.vr == "DA" else tm_text(local.time())
    return element(key.keyword, None, profile)


def _empty(keyword: str, profile: ProfileSettings) -> Element | None:
    """A key outside the model: present and empty (status 0xFF01)."""
    return element(keyword, None, profile) if tag_for_keyword(keyword) is not None else None


# An entry of a response plan: (tag, keyword, VR, how to get the value from a row).
Entry = tuple[int, str, str, Callable[[dict[str, Any]], Any]]


def _producer(key: Key, profile: ProfileSettings) -> Callable[[dict[str, Any]], Any]:
    """How one key's value comes out of a row, decided once per query shape."""
    column = key.column
    plain = profile.charset == Charset.UTF8 and profile.name_format == NameFormat.FULL and not profile.name_max_length
    if (
        column is not None
        and plain
        and key.vr not in ("DA", "TM", "US", "DS")
        and key.keyword != "ScheduledStationAETitle"
    ):
        # UTF-8, full names, no length limit: the stored text is the value
        return lambda row: row[column] or ""
    return lambda row: _key_element(key, row, profile)[3]


def _constant(value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda row: value


def _entries(keys: list[Key], unsupported: list[str], profile: ProfileSettings) -> tuple[Entry, ...]:
    entries: dict[int, Entry] = {}
    for key in keys:
        entries[TAGS[key.keyword]] = (TAGS[key.keyword], key.keyword, key.vr, _producer(key, profile))
    for name in unsupported:
        empty = _empty(name, profile)
        if empty is not None:
            entries[empty[0]] = (empty[0], empty[1], empty[2], _constant(empty[3]))
    return tuple(sorted(entries.values(), key=lambda entry: entry[0]))


def _step(entries: tuple[Entry, ...]) -> Callable[[dict[str, Any]], Any]:
    """The Scheduled Procedure Step Sequence's value: its one item."""
    return lambda row: [[(tag, keyword, vr, produce(row)) for tag, keyword, vr, produce in entries]]


@lru_cache(maxsize=512)
def _response_plan(
    top_keys: tuple[str, ...], sps_keys: tuple[str, ...] | None, unsupported: tuple[str, ...], profile: ProfileSettings
) -> tuple[Entry, ...]:
    """The elements of every response to one query shape, in tag order, each
    with its producer: the per-row work is one call per element."""
    top = [TOP_LEVEL[k] for k in top_keys]
    top_unsupported = [n for n in unsupported if not n.startswith(SPS_SEQUENCE + ".")]
    entries = list(_entries(top, top_unsupported, profile))
    if profile.charset:
        entries.append((0x00080005, "SpecificCharacterSet", "CS", _constant(str(profile.charset))))
    if sps_keys is not None:
        sps = [SPS_LEVEL[k] for k in sps_keys or SPS_LEVEL]  # an empty item asks for all of them
        sps_unsupported = [n.split(".", 1)[1] for n in unsupported if n.startswith(SPS_SEQUENCE + ".")]
        entries.append((0x00400100, SPS_SEQUENCE, "SQ", _step(_entries(sps, sps_unsupported, profile))))
    return tuple(sorted(entries, key=lambda entry: entry[0]))


def response_elements(row: dict[str, Any], parsed: ParsedQuery, profile: ProfileSettings) -> list[Element]:
    """One pending response in the neutral form, in tag order: every requested
    key (Type 2 keys we lack come back empty), unsupported keys empty, nothing
    that was not asked for."""
    plan = _response_plan(
        tuple(parsed.top_keys),
        tuple(parsed.sps_keys) if parsed.sps_keys is not None else None,
        tuple(parsed.unsupported),
        profile,
    )
    return [(tag, keyword, vr, produce(row)) for tag, keyword, vr, produce in plan]


def _fill(ds: Dataset, elements: list[Element]) -> Dataset:
    for _tag, keyword, vr, value in elements:
        if vr == "SQ":
            setattr(ds, keyword, [_fill(Dataset(), item) for item in value])
        else:
            setattr(ds, keyword, value)
    return ds


def build_response(row: dict[str, Any], parsed: ParsedQuery, profile: ProfileSettings) -> Dataset:
    """One pending response as a pydicom Dataset (the path on pynetdicom's public API)."""
    return _fill(EncodedDataset(), response_elements(row, parsed, profile))


def build_preencoded_response(row: dict[str, Any], parsed: ParsedQuery, profile: ProfileSettings) -> PreEncodedResponse:
    """The same response for the accel path: encoded by fastencode when sent."""
    return PreEncodedResponse(response_elements(row, parsed, profile), profile.charset)
