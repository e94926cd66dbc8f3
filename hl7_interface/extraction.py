"""The fields the RIS uses, read from a parsed message into plain data
(IHE Radiology RAD-1/RAD-2 mapping, docs/hl7.md): patients from PID/MRG,
orders from ORC/OBR. Pure: no database access; a wrong value raises
errors.Unappliable."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import hl7
from django.conf import settings
from hl7.datatypes import parse_datetime

from hl7_interface.envelope import Envelope
from hl7_interface.errors import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE_ERROR,
    TABLE_VALUE_NOT_FOUND,
    Unappliable,
)

ORDER_CONTROLS = frozenset({"NW", "CA", "DC", "XO", "SC"})


class Segment:
    """1-based field access that returns '' for anything absent (python-hl7
    raises IndexError for a component below a leaf)."""

    def __init__(self, segment: hl7.Segment, repetition_separator: str):
        self._segment = segment
        self._rep = repetition_separator
        self.name = str(segment[0])

    def get(self, field_no: int, component: int = 1, repetition: int = 1, subcomponent: int = 1) -> str:
        try:
            value = self._segment.extract_field(1, field_no, repetition, component, subcomponent)
        except IndexError:
            return ""
        return str(value).strip()

    def repetitions(self, field_no: int) -> int:
        try:
            raw = str(self._segment(field_no))
        except IndexError:
            return 0
        return len(raw.split(self._rep)) if raw else 0


def segments(message: hl7.Message, envelope: Envelope) -> list[Segment]:
    rep = envelope.encoding_characters[1]
    return [Segment(s, rep) for s in message]


def parse_timestamp(value: str, location: str) -> dt.datetime | None:
    """HL7 TS/DTM → aware datetime; without an offset it is facility local time."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except (ValueError, TypeError) as exc:
        raise Unappliable(
            f"{location} {value!r} is not a valid HL7 date/time.", code=DATA_TYPE_ERROR, location=location
        ) from exc
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    return parsed


@dataclass
class PatientData:
    patient_id: str
    issuer: str
    family_name: str
    given_name: str = ""
    middle_name: str = ""
    birth_date: dt.date | None = None
    birth_date_precision: str = "day"
    sex: str = ""
    phone: str = ""
    address: str = ""
    other_ids: list[dict[str, str]] = field(default_factory=list)


@dataclass
class OrderData:
    control: str  # ORC-1
    order_status: str  # ORC-5
    placer_number: str
    filler_number: str
    service_code: str
    service_text: str
    coding_system: str
    requested_at: dt.datetime | None
    priority: str
    reason: str
    control_reason: str  # ORC-16
    referring_physician: str
    placer_field_1: str
    placer_field_2: str


# PID-3 identifier type codes (HL7 table 0203) and authorities → identifier kinds.
NHIF_TYPES = {"NH", "NHIF"}
NATIONAL_ID_TYPES = {"NI", "NN", "NNTZA", "NIDA"}


def _identifier_kind(type_code: str, authority: str) -> str:
    if type_code.upper() in NHIF_TYPES or "NHIF" in authority.upper():
        return "nhif"
    if type_code.upper() in NATIONAL_ID_TYPES or "NIDA" in authority.upper():
        return "nida"
    return "other"


def _identifiers(seg: Segment, field_no: int) -> list[tuple[str, str, str]]:
    """CX repetitions as (value, assigning authority, identifier type code)."""
    out = []
    for r in range(1, seg.repetitions(field_no) + 1):
        value = seg.get(field_no, 1, r)
        if value:
            out.append((value, seg.get(field_no, 4, r), seg.get(field_no, 5, r)))
    return out


def _pick_patient_id(
    ids: list[tuple[str, str, str]], location: str
) -> tuple[tuple[str, str, str], list[tuple[str, str, str]]]:
    """The Patient ID: the identifier from HL7_PATIENT_ID_AUTHORITY when set,
    else the first of type MR/PI/PT, else the first that is not an NHIF or
    national ID number."""
    if not ids:
        raise Unappliable(
            f"{location} (patient identifier list) is empty.", code=REQUIRED_FIELD_MISSING, location=location
        )
    authority = settings.HL7_PATIENT_ID_AUTHORITY
    chosen = None
    if authority:
        chosen = next((i for i in ids if i[1].upper() == authority.upper()), None)
    chosen = chosen or next((i for i in ids if i[2].upper() in {"MR", "PI", "PT"}), None)
    chosen = chosen or next((i for i in ids if _identifier_kind(i[2], i[1]) == "other"), None)
    chosen = chosen or ids[0]
    return chosen, [i for i in ids if i is not chosen]


def _person_name(seg: Segment, field_no: int, repetition: int = 1) -> str:
    """XCN (doctors): ID^Family^Given^Middle → DICOM PN Family^Given^Middle."""
    parts = [seg.get(field_no, c, repetition) for c in (2, 3, 4)]
    name = "^".join(parts).rstrip("^")
    if not name:
        name = seg.get(field_no, 1, repetition)  # some senders put the whole name in component 1
    return name[:64]


def _birth_date(value: str) -> tuple[dt.date | None, str]:
    digits = value.strip()[:8]
    if not digits:
        return None, "day"
    try:
        if len(digits) >= 8:
            return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])), "day"
        if len(digits) >= 6:
            return dt.date(int(digits[:4]), int(digits[4:6]), 1), "month"
        if len(digits) == 4:
            return dt.date(int(digits), 1, 1), "year"
    except ValueError:
        pass
    raise Unappliable(f"PID-7 birth date {value!r} is not a valid date.", code=DATA_TYPE_ERROR, location="PID-7")


SEX = {"M": "M", "F": "F", "O": "O", "A": "O", "U": "", "N": ""}


def patient_from_pid(pid: Segment) -> PatientData:
    (patient_id, issuer, _type), others = _pick_patient_id(_identifiers(pid, 3), "PID-3")
    # The legal name (type L) when several are sent, else the first.
    rep = next((r for r in range(1, pid.repetitions(5) + 1) if pid.get(5, 7, r).upper() == "L"), 1)
    family = pid.get(5, 1, rep)
    if not family:
        raise Unappliable("PID-5 (patient name) has no family name.", code=REQUIRED_FIELD_MISSING, location="PID-5")
    birth_date, precision = _birth_date(pid.get(7))
    sex = pid.get(8).upper()
    if sex not in SEX:
        raise Unappliable(f"PID-8 sex {sex!r} is not in HL7 table 0001.", code=TABLE_VALUE_NOT_FOUND, location="PID-8")
    address = ", ".join(p for p in (pid.get(11, c) for c in (1, 2, 3, 4, 6)) if p)
    phone = pid.get(13, 1) or pid.get(13, 12) or (pid.get(13, 6) + pid.get(13, 7))
    return PatientData(
        patient_id=patient_id[:64],
        issuer=issuer[:64],
        family_name=family[:64],
        given_name=pid.get(5, 2, rep)[:64],
        middle_name=pid.get(5, 3, rep)[:64],
        birth_date=birth_date,
        birth_date_precision=precision,
        sex=SEX[sex],
        phone=phone,
        address=address,
        other_ids=[{"kind": _identifier_kind(t, a), "issuer": a[:64], "value": v[:64]} for v, a, t in others],
    )


def prior_patient_from_mrg(mrg: Segment) -> tuple[str, str]:
    (patient_id, issuer, _type), _ = _pick_patient_id(_identifiers(mrg, 1), "MRG-1")
    return patient_id, issuer


PRIORITIES = {"S": "stat", "A": "urgent", "STAT": "stat", "ASAP": "urgent", "URGENT": "urgent"}


def orders_from(segs: list[Segment]) -> list[OrderData]:
    """One OrderData per ORC, with the OBR and TQ1 that follow it."""
    groups: list[dict[str, Segment]] = []
    for seg in segs:
        if seg.name == "ORC":
            groups.append({"ORC": seg})
        elif seg.name in ("OBR", "TQ1") and groups and seg.name not in groups[-1]:
            groups[-1][seg.name] = seg
    if not groups:
        raise Unappliable("The message has no ORC segment.", code=SEGMENT_SEQUENCE_ERROR, location="ORC")
    pv1 = next((s for s in segs if s.name == "PV1"), None)
    orders = []
    for group in groups:
        orc, obr, tq1 = group["ORC"], group.get("OBR"), group.get("TQ1")
        control = orc.get(1).upper()
        if control not in ORDER_CONTROLS:
            raise Unappliable(
                f"Order control {control or '(empty)'} (ORC-1) is not supported; NW, CA, DC, XO and SC are.",
                code=TABLE_VALUE_NOT_FOUND,
                location="ORC-1",
            )
        if obr is None and control in ("NW", "XO"):
            raise Unappliable(
                "A new or changed order needs an OBR segment.", code=SEGMENT_SEQUENCE_ERROR, location="OBR"
            )

        def obr_get(*args: int, obr: Segment | None = obr) -> str:
            return obr.get(*args) if obr is not None else ""

        requested_at = None
        for value, location in (
            (tq1.get(7) if tq1 else "", "TQ1-7"),
            (orc.get(7, 4), "ORC-7.4"),
            (obr_get(27, 4), "OBR-27.4"),
            (obr_get(6), "OBR-6"),
        ):
            if value:
                requested_at = parse_timestamp(value, location)
                break
        priority_code = ((tq1.get(9) if tq1 else "") or orc.get(7, 6) or obr_get(27, 6) or obr_get(5)).upper()
        referring = ""
        if pv1 is not None:
            referring = _person_name(pv1, 8)
        referring = referring or (_person_name(obr, 16) if obr is not None else "") or _person_name(orc, 12)
        orders.append(
            OrderData(
                control=control,
                order_status=orc.get(5).upper(),
                placer_number=(orc.get(2) or obr_get(2))[:64],
                filler_number=(orc.get(3) or obr_get(3))[:64],
                service_code=obr_get(4, 1),
                service_text=obr_get(4, 2),
                coding_system=obr_get(4, 3),
                requested_at=requested_at,
                priority=PRIORITIES.get(priority_code, "routine"),
                reason=obr_get(13) or obr_get(31, 2) or obr_get(31, 1),
                control_reason=orc.get(16, 2) or orc.get(16, 1),
                referring_physician=referring,
                placer_field_1=obr_get(18),
                placer_field_2=obr_get(19),
            )
        )
    return orders
