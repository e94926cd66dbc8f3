"""Days typed or linked in the web pages: day/month/year as people type them
(01/12/2026, 1.12.2026), or ISO in links (2026-12-01)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

DAY_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y")


def parse_day(text: str | None) -> dt.date | None:
    value = (text or "").strip()
    for pattern in DAY_FORMATS:
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def day_or_today(text: str | None) -> dt.date:
    return parse_day(text) or timezone.localdate()
