"""Second half of 0004: the copied patient becomes required, then the two
exclusion constraints (a separate migration, because PostgreSQL refuses to
alter a table in the transaction that just updated its rows' foreign keys)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

from scheduling.migrations._capacity_sql import constraints_backwards, constraints_forwards


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0004_capacity_lanes_patient_clash")]

    operations = [
        migrations.AlterField(
            model_name="appointment",
            name="patient",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="appointments",
                to="patients.patient",
            ),
        ),
        migrations.AddConstraint(
            model_name="appointment",
            constraint=models.CheckConstraint(
                condition=models.Q(("lane__gte", 1), ("lane__lte", 20)), name="appointment_lane_in_range"
            ),
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(fields=["patient", "starts_at"], name="appt_patient_time_idx"),
        ),
        migrations.RunPython(constraints_forwards, constraints_backwards),
    ]
