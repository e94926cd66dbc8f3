"""Likely duplicate patients are shown before saving (desk, API) or kept for an
admin to review (HL7), and an admin merges or keeps both from the web pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from hl7_interface.inbox import message_receive
from patients.models import Patient, PossibleDuplicate
from patients.selectors import patient_likely_duplicates
from patients.services import LikelyDuplicate, patient_create
from tests.conftest import client_for
from tests.hl7_interface.conftest import adt, pid
from tests.ui.test_views import browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def rehema(db: None) -> Patient:
    return patient_create(
        family_name="Mushi",
        given_name="Rehema",
        birth_date=dt.date(1990, 4, 2),
        sex="F",
        phone="0754 111 222",
        identifiers=[{"kind": "nhif", "value": "NH777"}],
    )


def test_the_same_name_in_another_order_and_spelling_with_the_birth_date_is_a_candidate(rehema: Patient) -> None:
    found = patient_likely_duplicates(family_name="REHEMA", given_name="mushi", birth_date=dt.date(1990, 4, 2))
    assert [c.patient for c in found] == [rehema]
    assert found[0].reasons == ("the same name and birth date",)
    assert patient_likely_duplicates(family_name="Mushi", given_name="Rehema", birth_date=dt.date(1991, 4, 2)) == []


def test_a_year_only_birth_date_matches_the_year(rehema: Patient) -> None:
    found = patient_likely_duplicates(
        family_name="Mushi", given_name="Rehema", birth_date=dt.date(1990, 1, 1), birth_date_precision="year"
    )
    assert [c.patient for c in found] == [rehema]


def test_phone_and_nhif_are_candidates_whatever_the_name(rehema: Patient) -> None:
    found = patient_likely_duplicates(
        family_name="Kimaro", phone="+255754111222", identifiers=[{"kind": "nhif", "value": "nh777"}]
    )
    assert [(c.patient, c.reasons) for c in found] == [(rehema, ("the same phone number", "NHIF card number"))]


def test_the_desk_sees_the_candidates_before_saving_and_may_still_register(scheduler: User, rehema: Patient) -> None:
    client = browser(scheduler)
    form = {"family_name": "Mushi", "given_name": "Rehema", "sex": "F", "birth_date": "02/04/1990"}
    form |= {"birth_date_precision": "day", "phone": "", "language": "sw"}
    shown = client.post("/patients/new/", form)
    assert shown.status_code == 409
    html = shown.content.decode()
    assert "This patient may already be registered" in html
    assert rehema.patient_id in html
    assert f'href="/patients/{rehema.pk}/"' in html  # "use this patient"
    assert Patient.objects.count() == 1  # nothing saved yet
    registered = client.post("/patients/new/", form | {"confirm_new": "1"})
    assert registered.status_code == 302
    twin = Patient.objects.exclude(pk=rehema.pk).get()
    flag = PossibleDuplicate.objects.get()
    assert (flag.patient, flag.candidate, flag.flagged_via) == (twin, rehema, "ui")


def test_the_api_answers_409_with_the_candidates_unless_told_to_register(scheduler: User, rehema: Patient) -> None:
    api = client_for(scheduler)
    body = {"family_name": "Mushi", "given_name": "Rehema", "birth_date": "1990-04-02"}
    refused = api.post("/api/v1/patients/", body, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "possible_duplicate"
    assert [c["patient_id"] for c in refused.json()["candidates"]] == [rehema.patient_id]
    created = api.post("/api/v1/patients/", body | {"allow_duplicate": True}, format="json")
    assert created.status_code == 201, created.content
    assert PossibleDuplicate.objects.filter(candidate=rehema, flagged_via="api").count() == 1


def test_an_hl7_registration_of_an_unknown_id_is_kept_and_flagged(rehema: Patient) -> None:
    message = adt("A04", "D1", pid_segment=pid(patient_id="HIS555", family="Mushi", given="Rehema", birth="19900402"))
    reply = message_receive(raw=message.encode(), peer="127.0.0.1:5000")
    assert b"MSA|AA" in reply
    flag = PossibleDuplicate.objects.get()
    assert (flag.patient.patient_id, flag.candidate, flag.flagged_via) == ("HIS555", rehema, "hl7")


def test_an_admin_merges_a_flagged_pair_or_keeps_both(admin_user: User, rehema: Patient, make_order: Any) -> None:
    twin = patient_create(family_name="Mushi", given_name="Rehema", birth_date=dt.date(1990, 4, 2), via="ui")
    other = patient_create(family_name="Mushi", given_name="Rehema", birth_date=dt.date(1990, 4, 2), via="ui")
    make_order(patient=twin)
    client = browser(admin_user)
    page = client.get("/patients/duplicates/").content.decode()
    assert twin.patient_id in page
    assert other.patient_id in page
    merged = client.post(f"/patients/{twin.pk}/merge/", {"into": rehema.patient_id})
    assert merged.status_code == 302
    twin.refresh_from_db()
    assert twin.merged_into == rehema
    assert rehema.orders.count() == 1
    flag = PossibleDuplicate.objects.get(patient=twin, candidate=rehema)
    assert flag.resolution == "merged"
    for left in PossibleDuplicate.objects.filter(resolved_at__isnull=True, patient=other):
        client.post(f"/patients/duplicates/{left.pk}/different/")
    assert "No possible duplicates to review" in client.get("/patients/duplicates/").content.decode()


def test_only_admins_merge(scheduler: User, rehema: Patient) -> None:
    twin = patient_create(family_name="Mushi", given_name="Rehema", birth_date=dt.date(1990, 4, 2))
    assert browser(scheduler).get("/patients/duplicates/").status_code == 403
    assert browser(scheduler).post(f"/patients/{twin.pk}/merge/", {"into": rehema.patient_id}).status_code == 403


def test_a_refusal_loses_nothing_typed(rehema: Patient) -> None:
    with pytest.raises(LikelyDuplicate) as refused:
        patient_create(family_name="Mushi", given_name="Rehema", birth_date=dt.date(1990, 4, 2), duplicates="refuse")
    assert refused.value.http_status == 409
    assert Patient.objects.count() == 1
