"""The guard that makes a forgotten audit record a test failure (tests/audit_watch.py) can fail."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from audit.services import audit_record
from orders.models import Procedure
from tests.audit_watch import ROOT, AuditWatch, watched_models

pytestmark = [pytest.mark.django_db, pytest.mark.audit_unchecked]  # each test runs a watch of its own

# Code run under a file name of the RIS's own (as a service's write would be).
AS_RIS_CODE = str(ROOT / "orders" / "services.py")


def _ris(code: str, **names: Any) -> None:
    exec(compile(code, AS_RIS_CODE, "exec"), {"Procedure": Procedure, "audit_record": audit_record, **names})  # noqa: S102


def _procedure_values(code: str) -> dict[str, Any]:
    return {"code": code, "name": "CT head", "modality": "CT", "default_duration_minutes": 15}


def test_a_write_by_the_ris_without_its_audit_record_is_reported() -> None:
    watch = AuditWatch()
    watch.start()
    try:
        _ris("Procedure.objects.create(**values)", values=_procedure_values("X1"))
    finally:
        watch.stop()
    missing = watch.unaudited()
    assert [(w.label, w.kind) for w in missing] == [("orders.Procedure", "save")]
    assert missing[0].where.startswith("orders/services.py:")


def test_the_same_write_with_its_record_passes() -> None:
    watch = AuditWatch()
    watch.start()
    try:
        _ris(
            "p = Procedure.objects.create(**values)\naudit_record('create', instance=p)",
            values=_procedure_values("X2"),
        )
    finally:
        watch.stop()
    assert watch.writes
    assert not watch.unaudited()


def test_a_rolled_back_write_and_a_write_by_test_code_are_not_the_rises() -> None:
    watch = AuditWatch()
    watch.start()
    try:
        Procedure.objects.create(**_procedure_values("X3"))  # test code: a fixture's row
        with pytest.raises(IntegrityError), transaction.atomic():
            _ris(
                "Procedure.objects.create(**values)\nraise IntegrityError('refused')",
                values=_procedure_values("X4"),
                IntegrityError=IntegrityError,
            )
    finally:
        watch.stop()
    assert len(watch.writes) == 1  # the RIS's write, rolled back
    assert watch.unaudited() == []


def test_every_model_of_the_ris_is_watched_or_exempt_with_a_reason() -> None:
    labels = {m._meta.label for m in watched_models()}
    assert {"patients.Patient", "orders.Order", "scheduling.Appointment", "auth.User", "auth.Group"} <= labels
    assert "worklist.WorklistItem" not in labels
