from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from patients.models import Patient

pytestmark = pytest.mark.django_db
URL = "/api/v1/patients/"


def test_anonymous_requests_are_refused(api_as: Any) -> None:
    assert api_as(None).get(URL).status_code == 401


def test_a_scheduler_registers_a_patient_with_an_nhif_number(api_as: Any, scheduler: User) -> None:
    response = api_as(scheduler).post(
        URL,
        {
            "family_name": "Mushi",
            "given_name": "Rehema",
            "birth_date": "1990-05-17",
            "sex": "F",
            "phone": "0713 111 222",
            "identifiers": [{"kind": "nhif", "value": "102030405060"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["patient_id"] == "RIS0000001"
    assert body["phone"] == "+255713111222"
    assert body["dicom_name"] == "Mushi^Rehema"
    assert body["identifiers"] == [{"kind": "nhif", "issuer": "", "value": "102030405060"}]


def test_bad_input_gets_400_with_field_messages(api_as: Any, scheduler: User) -> None:
    client = api_as(scheduler)
    response = client.post(URL, {"given_name": "Rehema", "sex": "X"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"family_name", "sex"}
    response = client.post(URL, {"family_name": "Mushi", "phone": "12"}, format="json")
    assert response.status_code == 400
    assert "phone" in response.json()
    assert Patient.objects.count() == 0


def test_a_birth_date_in_the_future_is_refused(api_as: Any, scheduler: User) -> None:
    response = api_as(scheduler).post(URL, {"family_name": "Mushi", "birth_date": "2031-05-17"}, format="json")
    assert response.status_code == 400
    assert response.json()["birth_date"] == ["The birth date cannot be in the future."]
    today = api_as(scheduler).post(URL, {"family_name": "Mushi", "birth_date": "2026-12-01"}, format="json")
    assert today.status_code == 201  # born today (the frozen clock's day) is fine
    assert Patient.objects.count() == 1


@pytest.mark.parametrize("role", ["technologist", "radiologist"])
def test_other_roles_may_read_but_not_register(api_as: Any, role: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(role)
    client = api_as(user)
    assert client.get(URL).status_code == 200
    assert client.post(URL, {"family_name": "Mushi"}, format="json").status_code == 403


def test_search_and_update(api_as: Any, scheduler: User, patient: Patient) -> None:
    client = api_as(scheduler)
    found = client.get(URL, {"q": "neema mwak"}).json()
    assert [p["patient_id"] for p in found["results"]] == ["MNH0001"]
    response = client.patch(f"{URL}{patient.pk}/", {"given_name": "Neema Grace"}, format="json")
    assert response.status_code == 200
    assert response.json()["dicom_name"] == "Mwakyusa^Neema Grace^Joseph"


def test_merge_needs_the_admin_role_and_moves_the_patient(
    api_as: Any, scheduler: User, admin_user: User, patient: Patient
) -> None:
    survivor = Patient.objects.create(patient_id="MNH0002", issuer="MNH", family_name="Mwakyusa")
    url = f"{URL}{patient.pk}/merge/"
    assert api_as(scheduler).post(url, {"into": survivor.pk}, format="json").status_code == 403
    response = api_as(admin_user).post(url, {"into": survivor.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["patient_id"] == "MNH0002"
    again = api_as(admin_user).post(url, {"into": survivor.pk}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_merged"


def test_session_authentication_works_for_the_browser(client: Any, scheduler: User) -> None:
    client.force_login(scheduler)
    assert client.get(URL).status_code == 200
