""" "Why isn't my patient on the scanner?": each rule, and the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pydicom.dataset import Dataset

from dicom_gateway.models import CapturedQuery, Profile
from dicom_gateway.selectors import worklist_explain
from orders.lifecycle import exam_transition
from orders.models import ExamStatus
from scheduling.stations import station_update
from tests.dicom_gateway.conftest import Worklist, mwl_query

pytestmark = pytest.mark.django_db


def capture(calling: str, query: Dataset) -> CapturedQuery:
    return CapturedQuery.objects.create(
        calling_ae_title=calling,
        peer="127.0.0.1:1",
        identifier=query.to_json_dict(),
        matches=0,
        status=0,
        duration_ms=1.0,
        received_at=timezone.now(),
    )


def failed(explanation: Any) -> list[str]:
    return [c.rule for c in explanation.checks if not c.ok]


def test_an_exam_on_todays_list_is_explained_as_served(worklist: Worklist) -> None:
    explanation = worklist_explain(order=worklist.orders["neema"], station=worklist.ct)
    assert explanation.served
    assert failed(explanation) == []
    assert "day-list query of CT_ROOM3" in explanation.query_source


def test_the_wrong_day_is_named(worklist: Worklist) -> None:
    explanation = worklist_explain(order=worklist.orders["amelie"], station=worklist.ct)  # booked tomorrow
    assert not explanation.served
    assert failed(explanation) == ["date"]


def test_the_wrong_station_is_named(worklist: Worklist) -> None:
    explanation = worklist_explain(order=worklist.orders["neema"], station=worklist.us)
    assert failed(explanation) == ["station"]


def test_a_started_or_cancelled_exam_is_named(worklist: Worklist) -> None:
    assert failed(worklist_explain(order=worklist.orders["petro"], station=worklist.ct)) == ["status"]
    cancelled = worklist_explain(order=worklist.orders["doto"], station=worklist.ct)
    assert failed(cancelled) == ["status"]
    assert "cancelled" in cancelled.checks[0].detail


def test_the_modalitys_real_query_is_replayed_key_by_key(worklist: Worklist) -> None:
    query = capture("CT_ROOM3", mwl_query({"PatientName": "SMITH*"}, sps={"Modality": "CT"}))
    explanation = worklist_explain(order=worklist.orders["neema"], captured=query)
    assert failed(explanation) == ["PatientName"]
    assert f"#{query.pk} from CT_ROOM3" in explanation.query_source


def test_a_query_without_station_gets_the_calling_stations_list(worklist: Worklist) -> None:
    query = capture("US_ROOM4", mwl_query(sps={"Modality": ""}))
    explanation = worklist_explain(order=worklist.orders["neema"], captured=query)
    assert failed(explanation) == ["station"]
    assert "profile rule" in next(c.detail for c in explanation.checks if c.rule == "station")


def test_character_set_and_result_limit_of_the_profile(worklist: Worklist) -> None:
    profile = Profile.objects.create(name="tiny ascii", charset="", max_results=1)
    station_update(station=worklist.ct, dicom_profile=profile)
    query = capture("CT_ROOM3", mwl_query(sps={"ScheduledStationAETitle": "CT_ROOM3"}))
    explanation = worklist_explain(order=worklist.orders["amelie"], captured=query)
    checks = {c.rule: c for c in explanation.checks}
    assert "'Dube^Amelie'" in checks["character set"].detail
    assert not checks["result limit"].ok
    assert "0xA700" in checks["result limit"].detail


def test_the_explain_api_uses_the_stations_last_captured_query(
    api_as: Any, scheduler: User, worklist: Worklist
) -> None:
    capture("CT_ROOM3", mwl_query({"PatientID": "NOT-HER"}, sps={"ScheduledStationAETitle": "CT_ROOM3"}))
    response = api_as(scheduler).get(
        "/api/v1/worklist-explain/", {"order": worklist.orders["neema"].pk, "station": worklist.ct.pk}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["served"] is False
    assert [c["rule"] for c in body["checks"] if not c["ok"]] == ["PatientID"]
    assert api_as(scheduler).get("/api/v1/worklist-explain/", {"order": 99999}).status_code == 400


def test_an_exam_that_was_never_booked(worklist: Worklist) -> None:
    from orders.services import order_create

    neema = worklist.orders["neema"]
    explanation = worklist_explain(
        order=order_create(patient=neema.patient, procedure=neema.procedure), station=worklist.ct
    )
    assert failed(explanation) == ["status"]
    exam_transition(order=worklist.orders["baraka"], to=ExamStatus.IN_PROGRESS)
    assert failed(worklist_explain(order=worklist.orders["baraka"], station=worklist.ct)) == ["status"]


def test_profiles_are_read_by_all_and_changed_by_admins(
    api_as: Any, technologist: User, admin_user: User, worklist: Worklist
) -> None:
    body = {"name": "Old Philips CT", "charset": "ISO_IR 100", "name_format": "alphabetic", "max_results": 50}
    assert api_as(technologist).post("/api/v1/profiles/", body, format="json").status_code == 403
    created = api_as(admin_user).post("/api/v1/profiles/", body, format="json")
    assert created.status_code == 201, created.json()
    bad = api_as(admin_user).post("/api/v1/profiles/", {**body, "name": "x", "charset": "KOI8"}, format="json")
    assert bad.status_code == 400
    assert "charset" in bad.json()
    station = api_as(admin_user).patch(
        f"/api/v1/stations/{worklist.ct.pk}/", {"dicom_profile": created.json()["id"]}, format="json"
    )
    assert station.json()["dicom_profile"] == created.json()["id"]
    listing = api_as(technologist).get("/api/v1/captured-queries/", {"calling_ae_title": "CT_ROOM3"})
    assert listing.status_code == 200
