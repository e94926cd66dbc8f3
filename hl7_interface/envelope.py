"""From raw bytes to a parsed message: the MSH checks (encoding characters,
version, supported message types), decoding by MSH-18 and parsing with
python-hl7. Pure: no database access; what cannot be read raises
errors.Rejected. Reading the fields the RIS uses is extraction.py's."""

from __future__ import annotations

from dataclasses import dataclass

import hl7
from django.conf import settings

from hl7_interface.errors import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE_ERROR,
    TABLE_VALUE_NOT_FOUND,
    UNSUPPORTED_EVENT_CODE,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_VERSION,
    Rejected,
)

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
# NMQ^N01 (network management query): a connectivity test (ris_check sends one); stored, answered AA,
# applied to nothing.
SUPPORTED_TYPES = {
    "ADT": ADT_EVENTS,
    "ORM": frozenset({"O01"}),
    "OMI": frozenset({"O23"}),
    "NMQ": frozenset({"N01"}),
}


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
