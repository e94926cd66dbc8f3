"""The exclusion constraints of migration 0005 (kept apart so they can be imported)."""

from __future__ import annotations

from typing import Any

STATION_OLD = "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap"
STATION_NEW = """
ALTER TABLE scheduling_appointment
ADD CONSTRAINT appointment_no_overlap
EXCLUDE USING gist (
    station_id WITH =,
    lane WITH =,
    tstzrange(starts_at, ends_at, '[)') WITH &&
) WHERE (status = 'active')
"""
STATION_BACK = """
ALTER TABLE scheduling_appointment
ADD CONSTRAINT appointment_no_overlap
EXCLUDE USING gist (
    station_id WITH =,
    tstzrange(starts_at, ends_at, '[)') WITH &&
) WHERE (status = 'active')
"""
PATIENT_NEW = """
ALTER TABLE scheduling_appointment
ADD CONSTRAINT appointment_patient_no_overlap
EXCLUDE USING gist (
    patient_id WITH =,
    tstzrange(starts_at, ends_at, '[)') WITH &&
) WHERE (status = 'active' AND NOT patient_overlap_allowed)
"""
PATIENT_DROP = "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_patient_no_overlap"


def constraints_forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(STATION_OLD)
        schema_editor.execute(STATION_NEW)
        schema_editor.execute(PATIENT_NEW)


def constraints_backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PATIENT_DROP)
        schema_editor.execute(STATION_OLD)
        schema_editor.execute(STATION_BACK)
