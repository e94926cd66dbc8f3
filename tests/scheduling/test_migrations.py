"""The upgrade of a database that already holds appointments (PostgreSQL): the
patient is copied from the order, a patient already booked in two places is
kept and marked allowed, and both exclusion constraints are created."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from orders.services import order_create, procedure_create
from patients.models import Patient
from patients.services import patient_create
from tests.conftest import requires_postgres

BEFORE = [("scheduling", "0003_station_dicom_profile")]


def latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_upgrading_keeps_old_clashes_and_creates_both_constraints() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        # patients and orders are at their latest schema; only scheduling is old
        patient = patient_create(patient_id="OLD1", family_name="Old", given_name="Clash").pk
        procedure = procedure_create(code="X", name="X", modality="CT", default_duration_minutes=30)
        orders = [order_create(patient=Patient.objects.get(pk=patient), procedure=procedure).pk for _ in (1, 2)]
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO scheduling_station (name, room, modality, ae_title, active)"
                " VALUES ('A', '', 'CT', 'A1', true), ('B', '', 'CT', 'B1', true) RETURNING id"
            )
            stations = [row[0] for row in cursor.fetchall()]
            for order, station in zip(orders, stations, strict=True):
                cursor.execute(
                    "INSERT INTO scheduling_appointment (order_id, station_id, starts_at, ends_at, status,"
                    " override_reason, cancel_reason, created_at, updated_at) VALUES (%s, %s,"
                    " '2026-12-02 09:00+03', '2026-12-02 09:30+03', 'active', '', '', now(), now())",
                    [order, station],
                )
        executor = MigrationExecutor(connection)
        executor.migrate(latest())
        with connection.cursor() as cursor:
            cursor.execute("SELECT patient_id, lane, patient_overlap_allowed FROM scheduling_appointment ORDER BY id")
            assert cursor.fetchall() == [(patient, 1, False), (patient, 1, True)]
            cursor.execute("SELECT conname FROM pg_constraint WHERE conname LIKE 'appointment_%%no_overlap'")
            assert sorted(r[0] for r in cursor.fetchall()) == [
                "appointment_no_overlap",
                "appointment_patient_no_overlap",
            ]
    finally:
        MigrationExecutor(connection).migrate(latest())
