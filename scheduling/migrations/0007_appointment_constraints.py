"""After 0004-0005: the copied patient becomes required, with its foreign key
and index, then the two exclusion constraints. A migration of its own
(PostgreSQL refuses to alter a table in the transaction that updated its rows)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

from scheduling.migrations._capacity_sql import constraints_backwards, constraints_forwards


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0006_swahili_names")]

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
