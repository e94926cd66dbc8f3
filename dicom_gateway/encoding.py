"""Worklist rows -> response datasets carrying exactly the requested keys,
in the station profile's character set and name format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from unidecode import unidecode

from dicom_gateway.keys import SPS_LEVEL, SPS_SEQUENCE, TOP_LEVEL, Key
from dicom_gateway.matching import ParsedQuery
from dicom_gateway.models import Charset, NameFormat, Profile

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


@dataclass(frozen=True)
class ProfileSettings:
    """A snapshot of a Profile: read once, used for every response without I/O."""

    name: str = "default (UTF-8)"
    charset: str = Charset.UTF8.value
    name_format: str = NameFormat.FULL.value
    name_max_length: int | None = None
    max_results: int | None = None
    use_calling_ae_as_station: bool = True
    include_code_sequences: bool = True

    @classmethod
    def from_profile(cls, profile: Profile | None) -> ProfileSettings:
        if profile is None:
            return cls()
        return cls(
            name=profile.name,
            charset=str(profile.charset),
            name_format=str(profile.name_format),
            name_max_length=profile.name_max_length,
            max_results=profile.max_results,
            use_calling_ae_as_station=profile.use_calling_ae_as_station,
            include_code_sequences=profile.include_code_sequences,
        )


def _transliterate(text: str, charset: str) -> str:
    if charset == Charset.UTF8 or not text:
        return text
    if charset == Charset.LATIN1:
        try:
            text.encode("latin-1")
            return text
        except UnicodeEncodeError:
            return "".join(ch if ord(ch) < 256 else unidecode(ch) for ch in text)
    return unidecode(text)  # default repertoire: ASCII


def format_person_name(value: str, profile: ProfileSettings) -> str:
    """Apply the profile's name format, character set and length limit."""
    if not value:
        return ""
    groups = value.split("=")
    # Ideographic/phonetic groups cannot be shown by a Latin-1 or ASCII scanner.
    if profile.name_format != NameFormat.FULL or profile.charset != Charset.UTF8:
        groups = groups[:1]
    if profile.name_format == NameFormat.FAMILY_GIVEN:
        groups = ["^".join(groups[0].split("^")[:2])]
    name = "=".join(_transliterate(g, profile.charset) for g in groups)
    limit = profile.name_max_length
    if limit and len(name) > limit:
        components = name.split("=")[0].split("^")
        kept: list[str] = []
        for component in components:
            candidate = "^".join([*kept, component])
            if len(candidate) > limit:
                break
            kept.append(component)
        name = "^".join(kept) if kept else components[0][:limit]
    return name


def _value(key: Key, row: dict[str, Any], profile: ProfileSettings) -> Any:
    raw = row.get(key.column) if key.column else None
    if raw is None or raw == "":
        return None if key.vr in ("US", "DS") else ""
    if key.vr == "DA":
        return raw.strftime("%Y%m%d") if isinstance(raw, dt.date) else str(raw)
    if key.vr == "TM":
        return raw.strftime("%H%M%S") if isinstance(raw, dt.time) else str(raw)
    if key.vr == "PN":
        return format_person_name(str(raw), profile)
    return _transliterate(str(raw), profile.charset)


def _code_item(value: str, scheme: str, meaning: str, profile: ProfileSettings) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = _transliterate(meaning, profile.charset)
    return item


def _sequence(keyword: str, row: dict[str, Any], profile: ProfileSettings) -> list[Dataset]:
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


def _set(ds: Dataset, key: Key, row: dict[str, Any], profile: ProfileSettings) -> None:
    if key.vr == "SQ":
        setattr(ds, key.keyword, _sequence(key.keyword, row, profile))
    elif key.keyword in ("ScheduledProcedureStepEndDate", "ScheduledProcedureStepEndTime"):
        end = row.get("sps_end")
        if end is None:
            setattr(ds, key.keyword, "")
        else:
            local = timezone.localtime(end)
            setattr(ds, key.keyword, local.strftime("%Y%m%d" if key.vr == "DA" else "%H%M%S"))
    else:
        setattr(ds, key.keyword, _value(key, row, profile))


def build_response(row: dict[str, Any], parsed: ParsedQuery, profile: ProfileSettings) -> Dataset:
    """One pending response: every requested key (Type 2 keys we lack come
    back empty), unsupported keys empty, nothing that was not asked for."""
    ds = EncodedDataset()
    if profile.charset:
        ds.SpecificCharacterSet = str(profile.charset)
    for keyword in parsed.top_keys:
        _set(ds, TOP_LEVEL[keyword], row, profile)
    sps_unsupported = [n.split(".", 1)[1] for n in parsed.unsupported if n.startswith(SPS_SEQUENCE + ".")]
    if parsed.sps_keys is not None:
        item = Dataset()
        for keyword in parsed.sps_keys or list(SPS_LEVEL):  # an empty item asks for all of them
            _set(item, SPS_LEVEL[keyword], row, profile)
        for keyword in sps_unsupported:
            if tag_for_keyword(keyword) is not None:
                setattr(item, keyword, None)
        ds.ScheduledProcedureStepSequence = [item]
    for keyword in parsed.unsupported:
        if tag_for_keyword(keyword) is not None:
            setattr(ds, keyword, None)  # present and empty, with status 0xFF01
    return ds
