from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from orders.models import Order, Procedure
from patients.models import Patient
from scheduling.models import Appointment

pytestmark = pytest.mark.django_db


def test_the_catalogue_is_readable_by_all_and_changed_by_admins(
    api_as: Any, technologist: User, scheduler: User, admin_user: User, ct_head: Procedure
) -> None:
    listing = api_as(technologist).get("/api/v1/procedures/", {"modality": "CT"}).json()
    assert [p["code"] for p in listing["results"]] == ["CTHEAD"]
    new = {"code": "MRBRAIN", "name": "MRI Brain", "modality": "MR", "default_duration_minutes": 45}
    assert api_as(scheduler).post("/api/v1/procedures/", new, format="json").status_code == 403
    created = api_as(admin_user).post("/api/v1/procedures/", new, format="json")
    assert created.status_code == 201, created.json()
    duplicate = api_as(admin_user).post("/api/v1/procedures/", new, format="json")
    assert duplicate.status_code == 400
    bad = api_as(admin_user).post("/api/v1/procedures/", {**new, "code": "X", "modality": "ZZ"}, format="json")
    assert bad.status_code == 400
    assert "modality" in bad.json()
    patched = api_as(admin_user).patch(f"/api/v1/procedures/{ct_head.pk}/", {"active": False}, format="json")
    assert patched.json()["active"] is False


def test_a_scheduler_enters_an_order(api_as: Any, scheduler: User, patient: Patient, ct_head: Procedure) -> None:
    response = api_as(scheduler).post(
        "/api/v1/orders/",
        {"patient": patient.pk, "procedure": ct_head.pk, "priority": "urgent", "reason": "RTA"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "requested"
    assert body["accession_number"] == "A2612010001"
    assert body["modality"] == "CT"
    assert body["allowed_transitions"] == ["cancelled", "scheduled"]


def test_order_input_errors_are_400(api_as: Any, scheduler: User, patient: Patient) -> None:
    response = api_as(scheduler).post(
        "/api/v1/orders/", {"patient": patient.pk, "procedure": 999, "priority": "soon"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"procedure", "priority"}


def test_a_technologist_cannot_enter_orders(
    api_as: Any, technologist: User, patient: Patient, ct_head: Procedure
) -> None:
    response = api_as(technologist).post(
        "/api/v1/orders/", {"patient": patient.pk, "procedure": ct_head.pk}, format="json"
    )
    assert response.status_code == 403


def test_the_queue_of_unscheduled_orders(
    api_as: Any, scheduler: User, make_order: Any, appointment: Appointment
) -> None:
    waiting = make_order()
    listing = api_as(scheduler).get("/api/v1/orders/", {"status": "requested"}).json()
    assert [o["id"] for o in listing["results"]] == [waiting.pk]


def test_a_technologist_moves_the_exam_along_and_bad_steps_get_409(
    api_as: Any, technologist: User, appointment: Appointment
) -> None:
    client = api_as(technologist)
    url = f"/api/v1/orders/{appointment.order_id}/status/"
    assert client.post(url, {"status": "arrived"}, format="json").json()["status"] == "arrived"
    refused = client.post(url, {"status": "completed"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_transition"
    assert refused.json()["allowed"] == ["cancelled", "in_progress", "no_show", "scheduled"]
    assert client.post(url, {"status": "in_progress"}, format="json").status_code == 200
    assert client.post(url, {"status": "completed"}, format="json").json()["status"] == "completed"


def test_cancelling_needs_the_scheduler_role(
    api_as: Any, technologist: User, scheduler: User, radiologist: User, appointment: Appointment
) -> None:
    url = f"/api/v1/orders/{appointment.order_id}/status/"
    body = {"status": "cancelled", "reason": "duplicate request"}
    assert api_as(radiologist).post(url, {"status": "arrived"}, format="json").status_code == 403
    assert api_as(technologist).post(url, body, format="json").status_code == 403
    assert api_as(scheduler).post(url, body, format="json").json()["status"] == "cancelled"
    assert Order.objects.get(pk=appointment.order_id).status == "cancelled"


def test_scheduled_is_not_a_status_you_can_post(api_as: Any, scheduler: User, order: Order) -> None:
    response = api_as(scheduler).post(f"/api/v1/orders/{order.pk}/status/", {"status": "scheduled"}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()
