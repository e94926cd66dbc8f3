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


@pytest.mark.audit_unchecked  # it checks the records itself
def test_a_change_in_the_django_admin_is_recorded_with_what_changed(admin_user: Any, ct_station: Any) -> None:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from audit.models import AuditRecord
    from hl7_interface.models import Destination

    admin_user.is_staff = admin_user.is_superuser = True  # Django's admin site, as seed_demo's admin
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    form = client.get("/admin/hl7_interface/destination/add/").context["adminform"].form
    data = {name: form.initial.get(name, form.fields[name].initial) for name in form.fields}
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    data |= {"name": "HIS", "host": "127.0.0.1", "port": "2576", "active": "on"}
    response = client.post("/admin/hl7_interface/destination/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    destination = Destination.objects.get(name="HIS")
    created = AuditRecord.objects.get(object_type="hl7_interface.Destination", action="create")
    assert created.object_id == str(destination.pk)
    assert created.after is not None
    assert created.after["port"] == 2576

    # a user given a role in the admin: the group change is recorded
    tech = User.objects.create_user("newtech", password="x")
    page = client.get(f"/admin/auth/user/{tech.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields if form.initial.get(name) is not None}
    data = {k: v for k, v in data.items() if not isinstance(v, list | tuple)}
    data |= {"groups": [str(Group.objects.get(name="technologist").pk)], "is_active": "on"}
    data |= {"date_joined_0": "01/12/2026", "date_joined_1": "07:00:00"}
    response = client.post(f"/admin/auth/user/{tech.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    record = AuditRecord.objects.filter(object_type="auth.User", object_id=str(tech.pk), after__has_key="groups").get()
    assert record.before == {"groups": []}
    assert record.after == {"groups": ["technologist"]}
