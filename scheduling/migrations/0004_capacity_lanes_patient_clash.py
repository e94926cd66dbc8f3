"""A station takes ``capacity`` patients at once; a patient is in one place at a time.

- ``Station.capacity`` (default 1) and ``Appointment.lane`` (1..capacity): the
  station's exclusion constraint becomes (station, lane, time range), so at
  most ``capacity`` active appointments overlap in one station, whatever the
  interleaving of concurrent bookings.
- ``Appointment.patient`` (the order's patient, copied because a constraint
  sees only its own table) and the exclusion constraint
  ``appointment_patient_no_overlap`` over (patient, time range) for active
  appointments not explicitly allowed by an admin (``patient_overlap_allowed``).

Existing databases may already hold a patient in two places at once (the demo
data did): those appointments are kept and marked allowed, so the constraint
can be created; the audit trail of how they came about is unchanged.
"""

from __future__ import annotations

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0003_station_dicom_profile"),
        ("patients", "0005_phone_e164"),
        ("orders", "0003_ui_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="station",
            name="capacity",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="How many patients the room takes at once (two ultrasound machines: 2).",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(20),
                ],
                verbose_name="patients at a time",
            ),
        ),
        migrations.AddField(
            model_name="appointment",
            name="lane",
            field=models.PositiveSmallIntegerField(default=1, verbose_name="place in the room"),
        ),
        migrations.AddField(
            model_name="appointment",
            name="patient_overlap_allowed",
            field=models.BooleanField(
                default=False, verbose_name="patient booked elsewhere at the same time (allowed)"
            ),
        ),
        migrations.AddField(
            model_name="appointment",
            name="patient",
            # no constraint nor index yet: PostgreSQL refuses to build an index in the
            # transaction that queued the new foreign key's checks of the existing rows
            field=models.ForeignKey(
                editable=False,
                null=True,
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="appointments",
                to="patients.patient",
            ),
        ),
    ]
