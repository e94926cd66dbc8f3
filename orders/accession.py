"""Accession numbers from the configurable template ACCESSION_FORMAT.

The template is a ``str.format`` string with ``{prefix}``, ``{date}`` (the
local date, so ``{date:%y%m%d}`` works) and ``{seq}`` (a counter). The counter
belongs to the *scope*: the template rendered with the counter left out, so
``A{date:%y%m%d}{seq:04d}`` counts per day and ``RIS{seq:08d}`` counts for ever.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from mwl_ris.lib.dicom import SH_MAX, validate_sh
from mwl_ris.lib.errors import ApplicationError


class _Placeholder:
    def __format__(self, spec: str) -> str:
        return "#"


def render_accession(*, template: str, prefix: str, day: dt.date, seq: int | None) -> str:
    value: Any = _Placeholder() if seq is None else seq
    return template.format(prefix=prefix, date=day, seq=value)


def accession_scope(*, template: str, prefix: str, day: dt.date) -> str:
    return render_accession(template=template, prefix=prefix, day=day, seq=None)


def counter_next(*, scope: str) -> int:
    """Increment and return the named counter. The UPDATE takes the row lock,
    so concurrent callers are serialised until the caller's transaction ends."""
    from orders.models import Counter

    Counter.objects.get_or_create(scope=scope)
    Counter.objects.filter(scope=scope).update(value=F("value") + 1)
    return Counter.objects.values_list("value", flat=True).get(scope=scope)


def accession_number_next() -> str:
    """Take the next number of today's scope. Must run inside the caller's
    transaction: the counter row stays locked until it commits, and the unique
    constraint on Order.accession_number is the final guard."""
    template, prefix = settings.ACCESSION_FORMAT, settings.ACCESSION_PREFIX
    day = timezone.localdate()
    scope = accession_scope(template=template, prefix=prefix, day=day)[:32]
    seq = counter_next(scope=scope)
    number = render_accession(template=template, prefix=prefix, day=day, seq=seq)
    try:
        validate_sh(number)
    except ValidationError as exc:
        raise ApplicationError(
            f"The accession number scheme produced {number!r}, which is not a valid DICOM SH "
            f"(at most {SH_MAX} characters): widen or change ACCESSION_FORMAT.",
            code="accession_scheme",
        ) from exc
    return number
