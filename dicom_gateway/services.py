"""Writes for modality profiles."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import audit_record, audited_save
from dicom_gateway.models import Profile
from mwl_ris.lib.validation import refuse_unknown

PROFILE_FIELDS = frozenset(f.name for f in Profile._meta.concrete_fields if not f.primary_key)

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


def profiles_install_ready_made(profile_model: Any = Profile) -> None:
    """Create the ready-made profiles that do not exist yet (by name); a
    migration passes its historical model."""
    for values in READY_MADE_PROFILES:
        profile, created = profile_model.objects.get_or_create(name=values["name"], defaults=values)
        if created and profile_model is Profile:  # a migration's run is recorded by the migration itself
            audit_record("create", instance=profile)


@transaction.atomic
def profile_create(**fields: Any) -> Profile:
    """A new modality profile (the fields of dicom_gateway.models.Profile)."""
    refuse_unknown(fields, PROFILE_FIELDS, what="profile")
    return audited_save(Profile(**fields))


@transaction.atomic
def profile_update(*, profile: Profile, **fields: Any) -> Profile:
    refuse_unknown(fields, PROFILE_FIELDS, what="profile")
    return audited_save(profile, fields)
