"""MPPS steps and the audit trail over the REST API."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from dicom_gateway.models import PerformedProcedureStep, PpsStatus
from orders.models import ExamStatus
from scheduling.models import Appointment

pytestmark = pytest.mark.django_db


def test_an_unmatched_step_is_listed_and_linked(api_as: Any, technologist: User, appointment: Appointment) -> None:
    step = PerformedProcedureStep.objects.create(
        sop_instance_uid="1.2.3.7", status=PpsStatus.COMPLETED, calling_ae_title="CT_ROOM3"
    )
    client = api_as(technologist)
    listed = client.get("/api/v1/mpps/?unmatched=true").json()["results"]
    assert [row["id"] for row in listed] == [step.pk]
    linked = client.post(f"/api/v1/mpps/{step.pk}/link/", {"order": appointment.order_id}, format="json")
    assert linked.status_code == 200, linked.content
    assert linked.json()["order"] == appointment.order_id
    assert linked.json()["exam_follow_problem"] == ""
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.COMPLETED
    again = client.post(f"/api/v1/mpps/{step.pk}/link/", {"order": appointment.order_id}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "already_linked"
    assert client.get("/api/v1/mpps/?unmatched=true").json()["results"] == []


def test_a_radiologist_cannot_link(api_as: Any, radiologist: User, appointment: Appointment) -> None:
    step = PerformedProcedureStep.objects.create(sop_instance_uid="1.2.3.8", status=PpsStatus.IN_PROGRESS)
    response = api_as(radiologist).post(f"/api/v1/mpps/{step.pk}/link/", {"order": appointment.order_id}, format="json")
    assert response.status_code == 403


def test_the_audit_trail_is_for_admins_only(
    api_as: Any, scheduler: User, admin_user: User, appointment: Appointment
) -> None:
    assert api_as(scheduler).get("/api/v1/audit/").status_code == 403
    body = api_as(admin_user).get(f"/api/v1/audit/?patient_id={appointment.order.patient.patient_id}").json()
    assert body["count"] >= 3
    assert {row["patient_id"] for row in body["results"]} == {appointment.order.patient.patient_id}
