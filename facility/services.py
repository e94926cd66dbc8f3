"""Reading and changing the facility's details."""

from __future__ import annotations

import io
from typing import TypedDict, Unpack

from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from audit.services import audit_record, audited_save
from facility.models import LOGO_MAX_BYTES, LOGO_TYPES, Facility, Site
from mwl_ris.lib.validation import FieldErrors, full_clean_or_raise, refuse_unknown
from worklist.services import worklist_items_sync_facility


class FacilityFields(TypedDict, total=False):
    name: str
    department: str
    department_sw: str
    address: str
    phone: str
    email: str


FIELDS = tuple(FacilityFields.__annotations__)


def facility_get() -> Facility:
    """The facility's details (unsaved and empty until an admin first fills them in)."""
    return Facility.objects.filter(pk=1).first() or Facility(pk=1)


def _checked_logo(data: bytes) -> str:
    """The logo's content type, if it really is a PNG or JPEG image of sensible size."""
    if len(data) > LOGO_MAX_BYTES:
        raise FieldErrors({"logo": [_("The logo may be at most %(kb)d KB.") % {"kb": LOGO_MAX_BYTES // 1024}]})
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FieldErrors({"logo": [_("The logo must be a PNG or JPEG image.")]}) from exc
    if kind not in LOGO_TYPES:
        raise FieldErrors({"logo": [_("The logo must be a PNG or JPEG image.")]})
    return LOGO_TYPES[kind]


@transaction.atomic
def facility_update(
    *, logo: bytes | None = None, remove_logo: bool = False, **fields: Unpack[FacilityFields]
) -> Facility:
    refuse_unknown(fields, FIELDS, what="facility")
    facility, created = Facility.objects.select_for_update().get_or_create(pk=1)
    if created:
        audit_record("create", instance=facility, summary="Facility details first saved")
    before = {name: getattr(facility, name) for name in FIELDS}
    for name in FIELDS:
        if name in fields:
            setattr(facility, name, (fields[name] or "").strip())  # type: ignore[literal-required]
    if logo is not None:
        facility.logo_content_type = _checked_logo(logo)
        facility.logo = logo
    elif remove_logo:
        facility.logo, facility.logo_content_type = None, ""
    full_clean_or_raise(facility)
    facility.save()
    if any(before[name] != getattr(facility, name) for name in ("name", "department", "address")):
        worklist_items_sync_facility()  # the worklist serves them as Institution Name, Address, Department
    after = {name: getattr(facility, name) for name in FIELDS}
    audit_record(
        "update",
        object_type="facility.Facility",
        object_id=facility.pk,
        summary="Facility details changed",
        before=before,
        after={**after, "logo": "new" if logo is not None else ("removed" if remove_logo else "unchanged")},
    )
    return facility


@transaction.atomic
def site_save(*, code: str, name: str = "", edge_ae_title: str | None = None) -> Site:
    """Create the site with this code, or change its name or edge AE title (audited)."""
    site = Site.objects.filter(code=code.upper()).first() or Site(code=code.upper(), name=name or code.upper())
    changes: dict[str, str] = {}
    if name:
        changes["name"] = name
    if edge_ae_title is not None:
        changes["edge_ae_title"] = edge_ae_title
    return audited_save(site, changes)
