from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from orders.lifecycle import exam_transition
from orders.models import ExamStatus
from scheduling.booking import appointment_book
from scheduling.models import Appointment
from scheduling.stations import station_create
from tests.conftest import at

pytestmark = pytest.mark.django_db
URL = "/api/v1/worklist/"


def test_the_worklist_filters_by_ae_title_date_modality_and_status(
    api_as: Any, radiologist: User, appointment: Appointment, make_order: Any
) -> None:
    other_station = station_create(name="CT 2", modality="CT", ae_title="CT_TWO")
    tomorrow = appointment_book(order=make_order(), station=other_station, starts_at=at(9, day=2))
    exam_transition(order=tomorrow.order, to=ExamStatus.ARRIVED)
    client = api_as(radiologist)

    def accessions(**params: Any) -> list[str]:
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return [i["accession_number"] for i in response.json()["results"]]

    first, second = appointment.order.accession_number, tomorrow.order.accession_number
    assert accessions() == [first, second]
    assert accessions(station_ae_title="CT_TWO") == [second]
    assert accessions(date="2026-12-01") == [first]
    assert accessions(date_from="2026-12-02") == [second]
    assert accessions(modality="CT") == [first, second]
    assert accessions(modality="MR") == []
    assert accessions(status="ARRIVED") == [second]
    item = client.get(URL, {"station_ae_title": "CT_ROOM3"}).json()["results"][0]
    assert item["patient_name"] == "Mwakyusa^Neema^Joseph"
    assert item["sps_start_date"] == "2026-12-01"
    assert item["sps_start_time"] == "09:00:00"
    assert "patient_name_search" not in item


def test_the_worklist_is_read_only(api_as: Any, admin_user: User) -> None:
    assert api_as(admin_user).post(URL, {}, format="json").status_code == 405
