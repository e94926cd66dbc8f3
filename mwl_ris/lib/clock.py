"""The time of day as a patient reads it.

Swahili counts the hours from sunrise (06:00 is saa 12 asubuhi, 07:00 saa 1
asubuhi), and many patients read a bare "saa 08:30" as 14:30. Patient texts in
Swahili therefore give the Swahili clock with the period of the day, and the
24-hour time in brackets: ``saa 2:30 asubuhi (08:30)``. Staff screens keep the
24-hour clock alone. Written by hand: no maintained library knows this clock.
"""

from __future__ import annotations

import datetime as dt

# (first hour of the period, its name), in order through the day
PERIODS = [(0, "usiku"), (4, "alfajiri"), (6, "asubuhi"), (12, "mchana"), (16, "jioni"), (19, "usiku")]


def swahili_hour(hour: int) -> int:
    """1..12, counted from 07:00 = 1 (and 19:00 = 1)."""
    return (hour - 6) % 12 or 12


def swahili_period(hour: int) -> str:
    return [name for first, name in PERIODS if hour >= first][-1]


def patient_time(moment: dt.datetime | dt.time, language: str) -> str:
    """``saa 2:30 asubuhi (08:30)`` in Swahili, ``08:30`` otherwise."""
    hhmm = f"{moment.hour:02d}:{moment.minute:02d}"
    if not language.startswith("sw"):
        return hhmm
    return f"saa {swahili_hour(moment.hour)}:{moment.minute:02d} {swahili_period(moment.hour)} ({hhmm})"
