"""From raw bytes to plain data: decode by MSH-18, parse with python-hl7, and
read the fields the RIS uses (IHE Radiology RAD-1/RAD-2 mapping, docs/hl7.md).
Pure: no database access. Problems raise ``Rejected`` (ACK AR: the message
cannot be read or is not supported) or ``Unappliable`` (ACK AE: it was read
but a value is wrong)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import hl7
from django.conf import settings
from hl7.datatypes import parse_datetime

# HL7 table 0357 (message error condition codes) used in ERR-3.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
INTERNAL_ERROR = "207"

ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL_ERROR: "Application internal error",
}

# MSH-18 (HL7 table 0211) → Python codec. Empty MSH-18 means ASCII in the
# standard; HL7_DEFAULT_CHARSET (UTF-8 by default, a superset of ASCII)
# decides, so an undeclared UTF-8 feed still works.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/5": "iso8859-5",
    "8859/7": "iso8859-7",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
}

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
ADT_EVENTS = frozenset({"A01", "A04", "A05", "A08", "A31", "A40"})
SUPPORTED_TYPES = {"ADT": ADT_EVENTS, "ORM": frozenset({"O01"}), "OMI": frozenset({"O23"})}
ORDER_CONTROLS = frozenset({"NW", "CA", "DC", "XO", "SC"})


class Rejected(Exception):
    """ACK AR: the message cannot be parsed or is not supported."""

    def __init__(self, message: str, *, code: str, location: str = ""):
        super().__init__(message)
        self.message, self.code, self.location = message, code, location


class Unappliable(Exception):
    """ACK AE: the message was read, but it cannot be applied."""

    def __init__(self, message: str, *, code: str, location: str = ""):
        super().__init__(message)
        self.message, self.code, self.location = message, code, location


@dataclass(frozen=True)
class Envelope:
    """What the MSH segment says about the message."""

    field_separator: str
    encoding_characters: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_code: str
    trigger_event: str
    control_id: str
    processing_id: str
    version: str
    charset: str  # MSH-18 as sent
    codec: str

    @property
    def sender(self) -> str:
        return f"{self.sending_application}|{self.sending_facility}"

    @property
    def message_type(self) -> str:
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code


def normalise_segments(text: str) -> str:
    """Segments end with CR; senders on other systems use LF or CRLF."""
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\n ") + "\r"


def _msh_fields(raw: bytes) -> list[str]:
    """MSH fields read before decoding (MSH is ASCII): index n is MSH-n."""
    head = raw.lstrip(b"\r\n \t")
    if not head.startswith(b"MSH") or len(head) < 8:
        raise Rejected("Not an HL7 v2 message: it does not begin with an MSH segment.", code=SEGMENT_SEQUENCE_ERROR)
    line = head.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r", 1)[0].decode("latin-1")
    if len(line) < 8:
        raise Rejected(
            "The MSH segment is too short to hold its field separator and encoding characters (MSH-1, MSH-2).",
            code=SEGMENT_SEQUENCE_ERROR,
            location="MSH-1",
        )
    separator = line[3]
    parts = line.split(separator)
    return ["MSH", separator, *parts[1:]]


def _check_encoding_characters(separator: str, encoding: str) -> None:
    # Component, repetition, escape, subcomponent (and v2.7's truncation):
    # four or five distinct punctuation characters, none the field separator.
    chars = separator + encoding
    if len(encoding) not in (4, 5) or len(set(chars)) != len(chars) or any(c.isalnum() or c.isspace() for c in chars):
        raise Rejected(
            f"MSH-1/MSH-2 encoding characters {chars!r} are not valid (expected e.g. '|^~\\&').",
            code=DATA_TYPE_ERROR,
            location="MSH-2",
        )


def decode(raw: bytes) -> tuple[Envelope, hl7.Message, str]:
    """Decode ``raw`` per MSH-18, parse it, and check that it is a message we take.
    Returns the envelope, the parsed message and its text."""
    fields = _msh_fields(raw)

    def msh(n: int) -> str:
        return fields[n] if n < len(fields) else ""

    _check_encoding_characters(fields[1], msh(2))
    component = msh(2)[0]
    declared = msh(18).split(msh(2)[1])[0].strip().upper()
    codec = CHARSETS.get(declared or settings.HL7_DEFAULT_CHARSET.upper())
    if codec is None:
        raise Rejected(
            f"Character set {declared!r} (MSH-18) is not supported; use ASCII, 8859/1 or UNICODE UTF-8.",
            code=TABLE_VALUE_NOT_FOUND,
            location="MSH-18",
        )
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise Rejected(
            f"The message is not valid {declared or settings.HL7_DEFAULT_CHARSET} (byte {exc.start}); "
            "declare its character set in MSH-18.",
            code=DATA_TYPE_ERROR,
            location="MSH-18",
        ) from exc
    text = normalise_segments(text)
    try:
        message = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises assorted errors on broken structure
        raise Rejected(f"The message cannot be parsed: {exc}.", code=SEGMENT_SEQUENCE_ERROR) from exc
    type_parts = msh(9).split(component)
    envelope = Envelope(
        field_separator=fields[1],
        encoding_characters=msh(2),
        sending_application=msh(3).split(component)[0],
        sending_facility=msh(4).split(component)[0],
        receiving_application=msh(5).split(component)[0],
        receiving_facility=msh(6).split(component)[0],
        message_code=type_parts[0].strip().upper(),
        trigger_event=(type_parts[1] if len(type_parts) > 1 else "").strip().upper(),
        control_id=msh(10).strip(),
        processing_id=msh(11).split(component)[0],
        version=msh(12).split(component)[0].strip(),
        charset=declared,
        codec=codec,
    )
    if not envelope.message_code:
        raise Rejected("MSH-9 (message type) is empty.", code=REQUIRED_FIELD_MISSING, location="MSH-9")
    if not envelope.control_id:
        raise Rejected("MSH-10 (message control ID) is empty.", code=REQUIRED_FIELD_MISSING, location="MSH-10")
    if envelope.version not in SUPPORTED_VERSIONS:
        raise Rejected(
            f"HL7 version {envelope.version or '(empty)'} (MSH-12) is not supported; "
            f"supported: {', '.join(SUPPORTED_VERSIONS)}.",
            code=UNSUPPORTED_VERSION,
            location="MSH-12",
        )
    events = SUPPORTED_TYPES.get(envelope.message_code)
    if events is None:
        raise Rejected(
            f"Message type {envelope.message_code} is not supported (ADT, ORM^O01 and OMI^O23 are).",
            code=UNSUPPORTED_MESSAGE_TYPE,
            location="MSH-9",
        )
    if envelope.trigger_event not in events:
        raise Rejected(
            f"Event {envelope.message_type} is not supported "
            f"({', '.join(sorted(envelope.message_code + '^' + e for e in events))} are).",
            code=UNSUPPORTED_EVENT_CODE,
            location="MSH-9",
        )
    return envelope, message, text


def peek_envelope(raw: bytes) -> dict[str, str]:
    """Best-effort MSH fields of a message that could not be decoded, for the
    inbox and the NACK: never raises."""
    try:
        fields = _msh_fields(raw)
    except Rejected:
        return {}
    get = fields.__getitem__
    n = len(fields)
    comp = fields[2][0] if n > 2 and fields[2] else "^"
    return {
        "sending_application": get(3).split(comp)[0] if n > 3 else "",
        "sending_facility": get(4).split(comp)[0] if n > 4 else "",
        "receiving_application": get(5).split(comp)[0] if n > 5 else "",
        "receiving_facility": get(6).split(comp)[0] if n > 6 else "",
        "message_type": "^".join(get(9).split(comp)[:2]) if n > 9 else "",
        "control_id": get(10).strip()[:64] if n > 10 else "",
        "version": get(12).split(comp)[0][:16] if n > 12 else "",
        "trigger_event": [*get(9).split(comp), "", ""][1] if n > 9 else "",
    }


# --- reading fields ------------------------------------------------------------


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
