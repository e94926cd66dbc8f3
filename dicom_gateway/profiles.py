"""A station's modality profile as the gateway uses it, and the text rules it
sets: character set (transliteration) and person-name format."""

from __future__ import annotations

from dataclasses import dataclass

from unidecode import unidecode

from dicom_gateway.models import Charset, NameFormat, Profile


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
    pending_status_for_unsupported_keys: bool = False  # the 0xFF00 quirk (models.Profile)

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
            pending_status_for_unsupported_keys=profile.pending_status_for_unsupported_keys,
        )


def transliterate(text: str, charset: str) -> str:
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
    name = "=".join(transliterate(g, profile.charset) for g in groups)
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
