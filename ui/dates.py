"""Days typed or linked in the web pages: day/month/year as people type them
(01/12/2026, 1.12.2026), or ISO in links (2026-12-01) — the DATE_INPUT_FORMATS
of the project's format modules (mwl_ris/formats), read through Django's own
DateField so there is one list of accepted forms."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

_DAY = forms.DateField(required=False)


def parse_day(text: str | None) -> dt.date | None:
    try:
        return _DAY.clean((text or "").strip())
    except forms.ValidationError:
        return None


def day_or_today(text: str | None) -> dt.date:
    return parse_day(text) or timezone.localdate()
