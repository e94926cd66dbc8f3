"""System checks: the accession number template must render valid SH values."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError
from django.utils import timezone

from mwl_ris.lib.dicom import validate_sh
from orders.accession import render_accession


@register()
def check_accession_format(app_configs: Any, **kwargs: Any) -> list[Error]:
    template = settings.ACCESSION_FORMAT
    try:
        sample = render_accession(
            template=template, prefix=settings.ACCESSION_PREFIX, day=timezone.localdate(), seq=9999
        )
    except (KeyError, ValueError, IndexError) as exc:
        return [
            Error(
                f"ACCESSION_FORMAT={template!r} cannot be rendered: {exc}",
                hint="Use only {prefix}, {date:...} and {seq:0Nd}, e.g. {prefix}{date:%y%m%d}{seq:04d}.",
                id="ris.orders.E001",
            )
        ]
    if "{seq" not in template:
        return [Error("ACCESSION_FORMAT has no {seq}: numbers would repeat.", id="ris.orders.E002")]
    try:
        validate_sh(sample)
    except ValidationError:
        return [
            Error(
                f"ACCESSION_FORMAT renders {sample!r}, not a valid DICOM SH (max 16 characters).",
                hint="Shorten the prefix or the date part.",
                id="ris.orders.E003",
            )
        ]
    return []
