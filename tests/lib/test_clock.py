"""The Swahili clock on patient texts."""

from __future__ import annotations

import datetime as dt

import pytest

from mwl_ris.lib.clock import patient_time


@pytest.mark.parametrize(
    ("hhmm", "expected"),
    [
        ("08:30", "saa 2:30 asubuhi (08:30)"),
        ("06:00", "saa 12:00 asubuhi (06:00)"),
        ("07:15", "saa 1:15 asubuhi (07:15)"),
        ("12:00", "saa 6:00 mchana (12:00)"),
        ("14:45", "saa 8:45 mchana (14:45)"),
        ("16:00", "saa 10:00 jioni (16:00)"),
        ("18:59", "saa 12:59 jioni (18:59)"),
        ("19:00", "saa 1:00 usiku (19:00)"),
        ("00:00", "saa 6:00 usiku (00:00)"),
        ("05:10", "saa 11:10 alfajiri (05:10)"),
    ],
)
def test_the_swahili_clock_counts_from_sunrise_and_names_the_period(hhmm: str, expected: str) -> None:
    assert patient_time(dt.time.fromisoformat(hhmm), "sw") == expected


def test_other_languages_get_the_24_hour_clock() -> None:
    assert patient_time(dt.datetime(2026, 12, 2, 14, 5), "en") == "14:05"
