"""HL7 acknowledgements (original mode: MSA AA / AE / AR, with ERR on errors).

Built as text here rather than with python-hl7's ``Message.create_ack``: that
needs a parsed message, and the messages we reject most often (bad MSH, wrong
encoding characters, truncated frames) cannot be parsed."""

from __future__ import annotations

import itertools
import os

from django.conf import settings
from django.utils import timezone

from hl7_interface.errors import ERROR_TEXT

_sequence = itertools.count(1)


def escape(value: str, separators: str = "|^~\\&") -> str:
    """HL7 escape sequences for the delimiter characters in a value."""
    field, component, repetition, escape_char, subcomponent = (separators[i] for i in range(5))
    out = value.replace(escape_char, f"{escape_char}E{escape_char}")
    for char, code in ((field, "F"), (component, "S"), (repetition, "R"), (subcomponent, "T")):
        out = out.replace(char, f"{escape_char}{code}{escape_char}")
    return out.replace("\r", " ").replace("\n", " ")


def timestamp() -> str:
    return timezone.localtime().strftime("%Y%m%d%H%M%S%z")


def control_id_next(prefix: str = "R") -> str:
    """A control ID unique across processes and restarts."""
    return f"{prefix}{timezone.now():%y%m%d%H%M%S}{os.getpid() % 100000:05d}{next(_sequence) % 10000:04d}"


def build_ack(
    *,
    code: str,
    acknowledged: dict[str, str],
    text: str = "",
    error_code: str = "",
    location: str = "",
    charset: str = "",
) -> str:
    """An ACK for the message described by ``acknowledged`` (the keys of
    ``envelope.peek_envelope``). ``location`` is like ``PID-7``."""
    trigger = acknowledged.get("trigger_event", "")
    version = acknowledged.get("version") or "2.5.1"
    msh = [
        "MSH",
        "^~\\&",
        escape(acknowledged.get("receiving_application") or settings.HL7_APPLICATION),
        escape(acknowledged.get("receiving_facility") or settings.HL7_FACILITY),
        escape(acknowledged.get("sending_application", "")),
        escape(acknowledged.get("sending_facility", "")),
        timestamp(),
        "",
        f"ACK^{escape(trigger)}^ACK" if trigger else "ACK",
        control_id_next("A"),
        "P",
        escape(version),
    ]
    if charset:
        msh += ["", "", "", "", "", escape(charset)]
    segments = ["|".join(msh), "|".join(["MSA", code, escape(acknowledged.get("control_id", "")), escape(text[:80])])]
    if code != "AA":
        segment, _, field_no = location.partition("-")
        field_no = field_no.split(".")[0]
        error = f"{error_code}^{escape(ERROR_TEXT.get(error_code, ''))}^HL70357" if error_code else ""
        # ERR-1 (v2.3/2.4 location + code), ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 user message.
        error_text = escape(ERROR_TEXT.get(error_code, ""))
        eld = f"{segment}^1^{field_no}^{error_code}&{error_text}" if segment else ""
        erl = f"{segment}^1^{field_no}" if segment else ""
        segments.append("|".join(["ERR", eld, erl, error, "E", "", "", "", escape(text)]))
    return "\r".join(segments) + "\r"
