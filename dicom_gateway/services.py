"""Writes for modality profiles."""

from __future__ import annotations

from typing import Any

# Ready-made profiles for the common cases (also created by migration 0002).
READY_MADE_PROFILES: list[dict[str, Any]] = [
    {"name": "Modern UTF-8 scanner", "charset": "ISO_IR 192", "name_format": "full"},
    {"name": "Latin-1 scanner", "charset": "ISO_IR 100", "name_format": "alphabetic"},
    {
        "name": "ASCII-only 20-character scanner",
        "charset": "",
        "name_format": "family_given",
        "name_max_length": 20,
        "max_results": 200,
    },
]


def profiles_install_ready_made(profile_model: Any = None) -> None:
    """Create the ready-made profiles that do not exist yet (by name)."""
    if profile_model is None:
        from dicom_gateway.models import Profile as profile_model
    for values in READY_MADE_PROFILES:
        profile_model.objects.get_or_create(name=values["name"], defaults=values)
