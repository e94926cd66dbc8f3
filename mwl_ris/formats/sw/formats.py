"""Swahili: the same day/month/year and 24-hour clock as the English pages
(Django ships no Swahili formats and falls back to month/day/year, with
"mchana" in place of 12:00). Patient texts add the Swahili clock themselves."""

from __future__ import annotations

from mwl_ris.formats.en.formats import (  # noqa: F401 - the same convention in both languages
    DATE_FORMAT,
    DATE_INPUT_FORMATS,
    DATETIME_FORMAT,
    DATETIME_INPUT_FORMATS,
    DECIMAL_SEPARATOR,
    FIRST_DAY_OF_WEEK,
    MONTH_DAY_FORMAT,
    NUMBER_GROUPING,
    SHORT_DATE_FORMAT,
    SHORT_DATETIME_FORMAT,
    THOUSAND_SEPARATOR,
    TIME_FORMAT,
    YEAR_MONTH_FORMAT,
)
