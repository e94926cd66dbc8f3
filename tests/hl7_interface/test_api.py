"""The inbox over REST: the review queue and reprocessing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from hl7_interface.inbox import message_receive
from hl7_interface.models import InboundMessage
from orders.models import Order, Procedure
from scheduling.models import Station
from tests.hl7_interface.conftest import orm

pytestmark = pytest.mark.django_db


def test_the_review_queue_lists_errors_and_a_scheduler_can_reprocess_a_corrected_message(
    api_as: Any, scheduler: User, technologist: User, ct_station: Station, ct_head: Procedure
) -> None:
    bad = orm("NW", "C1", code="UNKNOWN")
    message_receive(raw=bad.encode(), peer="p")
    message_receive(raw=orm("NW", "C2", placer="P2").encode(), peer="p")
    queue = api_as(technologist).get("/api/v1/hl7-messages/?status=error").json()
    assert [m["control_id"] for m in queue["results"]] == ["C1"]
    pk = queue["results"][0]["id"]
    assert "UNKNOWN" in queue["results"][0]["error"]

    refused = api_as(technologist).post(f"/api/v1/hl7-messages/{pk}/reprocess/", {}, format="json")
    assert refused.status_code == 403

    fixed = bad.replace("UNKNOWN^", "CTHEAD^")
    response = api_as(scheduler).post(f"/api/v1/hl7-messages/{pk}/reprocess/", {"text": fixed}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "processed"
    assert Order.objects.filter(placer_order_number="PLC1001").exists()

    again = api_as(scheduler).post(f"/api/v1/hl7-messages/{pk}/reprocess/", {}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "not_in_error"


def test_a_correction_must_keep_the_control_id(api_as: Any, scheduler: User) -> None:
    message_receive(raw=orm("NW", "C1", code="UNKNOWN").encode(), peer="p")
    pk = InboundMessage.objects.get().pk
    response = api_as(scheduler).post(f"/api/v1/hl7-messages/{pk}/reprocess/", {"text": orm("NW", "C9")}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "control_id_changed"


def test_code_map_changes_need_the_admin_role(
    api_as: Any, scheduler: User, admin_user: User, ct_head: Procedure
) -> None:
    body = {"code": "70450", "coding_system": "C4", "procedure": ct_head.pk}
    assert api_as(scheduler).post("/api/v1/hl7-code-map/", body, format="json").status_code == 403
    assert api_as(admin_user).post("/api/v1/hl7-code-map/", body, format="json").status_code == 201
