"""The audit trail: what gets recorded and by whom, the hash chain, and the
verification that names the first edited or deleted row."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from audit.models import AuditExport, AuditRecord, ChainHead
from audit.services import (
    audit_export_check,
    audit_export_closed_days,
    audit_prune,
    audit_record,
    audit_seal,
    audit_verify,
)
from orders.models import ExamStatus, Order
from scheduling.models import Appointment, Station
from tests.conftest import DAR, at

pytestmark = pytest.mark.django_db


@pytest.mark.audit_unchecked
def test_a_booking_through_the_api_is_recorded_as_the_user_did_it(
    api_as: Any, scheduler: User, order: Order, ct_station: Station
) -> None:
    AuditRecord.objects.all()._raw_delete(AuditRecord.objects.db)
    response = api_as(scheduler).post(
        "/api/v1/appointments/",
        {"order": order.pk, "station": ct_station.pk, "starts_at": "2026-12-01T09:00:00+03:00"},
        format="json",
        REMOTE_ADDR="10.0.0.7",
    )
    assert response.status_code == 201, response.content
    records = list(AuditRecord.objects.order_by("id"))
    assert {(r.action, r.object_type) for r in records} >= {
        ("create", "scheduling.Appointment"),
        ("status", "orders.Order"),
    }
    for record in records:
        assert (record.interface, record.actor, record.role, record.ip) == ("api", "sched", "scheduler", "10.0.0.7")
        assert record.patient_id == "MNH0001"
    status = next(r for r in records if r.action == "status")
    assert status.before == {"status": "requested"}
    assert status.after is not None
    assert status.after["status"] == "scheduled"


def test_an_update_records_only_what_changed(patient: Any) -> None:
    from patients.services import patient_update

    patient_update(patient=patient, phone="0754 000 111")
    record = AuditRecord.objects.filter(object_type="patients.Patient", action="update").get()
    assert record.before == {"phone": "+255712345678"}
    assert record.after == {"phone": "+255754000111"}
    assert (record.interface, record.actor) == ("system", "")


def test_records_are_append_only_in_the_application(patient: Any) -> None:
    record = AuditRecord.objects.first()
    assert record is not None
    record.summary = "changed"
    with pytest.raises(PermissionError):
        record.save()
    with pytest.raises(PermissionError):
        record.delete()


def test_sealing_chains_every_record_once(appointment: Appointment) -> None:
    total = AuditRecord.objects.count()
    assert total >= 4
    assert audit_seal() == total
    assert audit_seal() == 0  # a second run changes nothing
    seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    result = audit_verify()
    assert (result.ok, result.checked) == (True, total)


def _sealed(appointment: Appointment) -> list[AuditRecord]:
    from orders.lifecycle import exam_transition

    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED)
    audit_seal()
    return list(AuditRecord.objects.order_by("seq"))


def test_an_edited_row_is_found_and_named(appointment: Appointment) -> None:
    records = _sealed(appointment)
    victim = records[2]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditrecord SET actor = 'someone-else' WHERE id = %s", [victim.pk])
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == victim.seq
    assert result.first_broken_id == victim.pk
    with pytest.raises(CommandError, match=f"BROKEN at record #{victim.seq}"):
        call_command("audit_verify")


@pytest.mark.audit_unchecked
def test_an_edit_that_recomputes_the_row_hash_is_found_by_its_mac(appointment: Appointment) -> None:
    from audit.services import record_hash, record_row

    records = _sealed(appointment)
    victim = records[1]
    victim_row = record_row(victim)
    victim_row["summary"] = "nothing happened"
    forged = record_hash(victim_row)  # even with the key's chain hash, the MAC of the content gives it away
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditrecord SET summary = %s, hash = %s WHERE id = %s",
            ["nothing happened", forged, victim.pk],
        )
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == victim.seq
    assert "MAC does not match" in result.detail


@pytest.mark.audit_unchecked
def test_a_deleted_row_is_found_and_named(appointment: Appointment) -> None:
    records = _sealed(appointment)
    victim = records[3]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditrecord WHERE id = %s", [victim.pk])
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == victim.seq
    assert "missing" in result.detail


@pytest.mark.audit_unchecked
def test_a_deleted_tail_is_found(appointment: Appointment) -> None:
    records = _sealed(appointment)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditrecord WHERE seq >= %s", [records[-2].seq])
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == records[-2].seq


def test_the_command_reports_an_intact_chain(appointment: Appointment, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("audit_verify")
    assert "audit chain OK" in capsys.readouterr().out


def _days_of_records(frozen_clock: Any, days: list[dt.date]) -> None:
    for day in days:
        for hour in (8, 23):
            audit_record("note", summary=f"{day} {hour}", at=dt.datetime.combine(day, dt.time(hour), tzinfo=DAR))


def test_closed_days_are_exported_once_and_pruned_only_after_verification(
    frozen_clock: Any, tmp_path: Path, db: None
) -> None:
    today = dt.date(2026, 12, 1)
    days = [dt.date(2026, 11, 27), dt.date(2026, 11, 28), dt.date(2026, 11, 29)]
    _days_of_records(frozen_clock, days)
    audit_record("note", summary="today", at=at(6))
    with override_settings(AUDIT_ARCHIVE_DIR=str(tmp_path)):
        exports = audit_export_closed_days(today=today)
        assert [e.day for e in exports] == [*days, dt.date(2026, 11, 30)]
        assert [e.count for e in exports] == [2, 2, 2, 0]
        assert audit_export_closed_days(today=today) == []  # idempotent
        first = Path(exports[0].path)
        with gzip.open(first, "rt") as handle:
            lines = [json.loads(line) for line in handle]
        assert [row["summary"] for row in lines] == ["2026-11-27 8", "2026-11-27 23"]
        assert all(audit_export_check(e) == "" for e in exports)
        # retention 2 days: 27 and 28 November go from the database, the chain still verifies
        assert audit_prune(retention_days=2, today=today) == 4
        assert audit_prune(retention_days=2, today=today) == 0
        assert not AuditRecord.objects.filter(at__lt=dt.datetime(2026, 11, 29, tzinfo=DAR)).exists()
        assert audit_verify().ok
        assert AuditExport.objects.filter(pruned_at__isnull=False).count() == 2


def test_a_tampered_archive_stops_the_prune(frozen_clock: Any, tmp_path: Path, db: None) -> None:
    _days_of_records(frozen_clock, [dt.date(2026, 11, 27)])
    with override_settings(AUDIT_ARCHIVE_DIR=str(tmp_path)):
        (export,) = audit_export_closed_days(today=dt.date(2026, 11, 28))
        path = Path(export.path)
        with gzip.open(path, "rt") as handle:
            rows = [json.loads(line) for line in handle]
        rows[0]["actor"] = "nobody"
        with gzip.open(path, "wt") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
        assert "SHA-256 differs" in audit_export_check(export)
        assert audit_prune(retention_days=0, today=dt.date(2026, 11, 30)) == 0
    assert AuditRecord.objects.count() == 2


@pytest.mark.audit_unchecked
def test_the_chain_head_guards_against_a_wiped_table(appointment: Appointment) -> None:
    _sealed(appointment)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditrecord")
    result = audit_verify()
    assert not result.ok
    assert ChainHead.objects.get().last_seq > 0
