"""No two active appointments may overlap in one station (PostgreSQL).

An exclusion constraint over (station, [starts_at, ends_at)) with btree_gist,
limited to active appointments so cancelled / no-show / rescheduled ones free
their slot. It is what makes double booking impossible under concurrency; the
booking service maps its violation (SQLSTATE 23P01) to 409 Conflict.

SQLite has no exclusion constraints: there the booking service's check runs
inside an IMMEDIATE (write-locked) transaction instead (see settings.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

CREATE = """
ALTER TABLE scheduling_appointment
ADD CONSTRAINT appointment_no_overlap
EXCLUDE USING gist (
    station_id WITH =,
    tstzrange(starts_at, ends_at, '[)') WITH &&
) WHERE (status = 'active')
"""
DROP = "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap"


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]
    operations = [BtreeGistExtension(), migrations.RunPython(forwards, backwards)]
