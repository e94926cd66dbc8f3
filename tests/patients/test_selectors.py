from __future__ import annotations

import pytest

from patients.models import IdentifierKind, Patient
from patients.selectors import patient_list
from patients.services import patient_create, patient_merge

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(patient: Patient) -> dict[str, Patient]:
    return {
        "neema": patient,
        "amelie": patient_create(patient_id="X77", family_name="Dubé", given_name="Amélie", phone="+255754000111"),
        "juma": patient_create(
            patient_id="MNH0100",
            family_name="Juma",
            given_name="Hamisi",
            identifiers=[{"kind": IdentifierKind.NHIF, "value": "NHIF-4455"}],
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("neema", ["neema"]),
        ("NEEMA mwak", ["neema"]),
        ("amelie dube", ["amelie"]),
        ("Dubé", ["amelie"]),
        ("mnh0", ["neema", "juma"]),
        ("MNH00", ["neema"]),
        ("nhif-4455", ["juma"]),
        ("0754 000 111", ["amelie"]),
        ("+255712345678", ["neema"]),
        ("ham", ["juma"]),
        ("zzz", []),
    ],
)
def test_search_finds_patients_by_name_id_identifier_and_phone(
    people: dict[str, Patient], query: str, expected: list[str]
) -> None:
    found = {p.pk for p in patient_list(q=query)}
    assert found == {people[name].pk for name in expected}


def test_merged_patients_are_hidden_unless_asked_for(people: dict[str, Patient]) -> None:
    patient_merge(source=people["juma"], target=people["neema"])
    assert people["juma"] not in patient_list()
    assert people["juma"] in patient_list(include_merged=True)
