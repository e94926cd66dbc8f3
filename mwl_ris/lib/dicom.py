"""DICOM value rules (PS3.5 6.2) used when values are written, so that every
worklist item is valid before a modality ever asks for it."""

from __future__ import annotations

import re
import unicodedata
import uuid

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unidecode import unidecode

AE_MAX = 16
SH_MAX = 16
LO_MAX = 64
UI_MAX = 64
PN_COMPONENT_GROUP_MAX = 64

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_ae_title(value: str) -> None:
    """AE: 1-16 characters of the default repertoire, no backslash or control
    characters, not only spaces (leading/trailing spaces are not significant)."""
    stripped = value.strip(" ")
    if not stripped:
        raise ValidationError(_("An AE title cannot be empty or only spaces."), code="ae_empty")
    if len(value) > AE_MAX:
        raise ValidationError(_("An AE title has at most 16 characters."), code="ae_length")
    if "\\" in value or _CONTROL.search(value):
        raise ValidationError(_("An AE title cannot contain a backslash or control characters."), code="ae_chars")
    if not value.isascii():
        raise ValidationError(
            _("An AE title uses only the DICOM default character repertoire (ASCII)."),
            code="ae_chars",
        )


def validate_short_string(value: str, *, max_length: int = SH_MAX) -> None:
    """SH/LO: no backslash (it separates values) and no control characters."""
    if len(value) > max_length:
        raise ValidationError(_("At most %(n)d characters are allowed."), code="length", params={"n": max_length})
    if "\\" in value or _CONTROL.search(value):
        raise ValidationError(_("Backslashes and control characters are not allowed."), code="chars")


def validate_sh(value: str) -> None:
    validate_short_string(value, max_length=SH_MAX)


def validate_lo(value: str) -> None:
    validate_short_string(value, max_length=LO_MAX)


def validate_uid(value: str) -> None:
    if not value or len(value) > UI_MAX or not _UID_RE.match(value):
        raise ValidationError(_("%(value)s is not a valid DICOM UID."), code="uid", params={"value": value})


def generate_uid(root: str = "") -> str:
    """A new UID: ``2.25.<UUID as integer>`` (PS3.5 B.2) or ``<root>.<digits>``."""
    if not root:
        return f"2.25.{uuid.uuid4().int}"
    validate_uid(root)
    room = UI_MAX - len(root) - 1
    if room < 10:
        raise ValueError(f"UID root {root!r} leaves too little room for unique suffixes")
    suffix = str(uuid.uuid4().int)[:room].lstrip("0") or "1"
    return f"{root}.{suffix}"


def person_name(family: str, given: str = "", middle: str = "", prefix: str = "", suffix: str = "") -> str:
    """A PN value ``Family^Given^Middle^Prefix^Suffix`` with empty trailing
    components removed (PS3.5 6.2.1)."""
    parts = [
        p.replace("^", " ").replace("=", " ").replace("\\", " ").strip()
        for p in (family, given, middle, prefix, suffix)
    ]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


def person_name_from_text(text: str) -> str:
    """Turn a free-text name into PN: already ``^``-separated text is kept,
    otherwise the whole text goes in the family-name component (we cannot know
    the order a user typed the names in)."""
    return _CONTROL.sub(" ", text).replace("\\", " ").strip()


def normalise_for_search(text: str) -> str:
    """Case- and accent-insensitive search form: transliterated to ASCII
    (Unidecode: "Søren Dubé" -> "soren dube"), casefolded, PN separators and
    runs of spaces collapsed to one space. A scheduler typing on a Swahili or
    English keyboard finds every name."""
    folded = unidecode(unicodedata.normalize("NFC", text)).casefold()
    folded = re.sub(r"[\^=,]+", " ", folded)
    return re.sub(r"\s+", " ", folded).strip()
