"""Copy each appointment's patient from its order; where a patient was already
booked in two places at once (the demo data was), keep the later appointment
and mark it allowed, so that the exclusion constraint of 0007 can be created.
Its own migration (its own transaction): see 0004."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def copy_patient_and_allow_old_clashes(apps: Any, schema_editor: Any) -> None:
    Appointment = apps.get_model("scheduling", "Appointment")
    Order = apps.get_model("orders", "Order")
    patients = dict(Order.objects.filter(appointments__isnull=False).values_list("pk", "patient_id").distinct())
    rows = list(Appointment.objects.order_by("starts_at", "pk"))
    for row in rows:
        row.patient_id = patients[row.order_id]
    Appointment.objects.bulk_update(rows, ["patient_id"], batch_size=1000)
    # The later of two overlapping active appointments of one patient is kept, allowed.
    last_end: dict[int, Any] = {}
    allowed = []
    for row in rows:
        if row.status != "active":
            continue
        if row.patient_id in last_end and row.starts_at < last_end[row.patient_id]:
            allowed.append(row.pk)
        last_end[row.patient_id] = max(row.ends_at, last_end.get(row.patient_id, row.ends_at))
    Appointment.objects.filter(pk__in=allowed).update(patient_overlap_allowed=True)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0004_capacity_lanes_patient_clash")]
    operations = [migrations.RunPython(copy_patient_and_allow_old_clashes, migrations.RunPython.noop)]
