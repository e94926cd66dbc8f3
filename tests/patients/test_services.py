from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from mwl_ris.lib.errors import ApplicationError, Conflict
from mwl_ris.lib.validation import FieldErrors
from orders.models import Order
from patients.models import IdentifierKind, Patient, PatientIdentifier, PatientMerge
from patients.selectors import patient_list
from patients.services import patient_create, patient_merge, patient_update
from scheduling.models import Appointment
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def test_registration_normalises_the_phone_and_keeps_names_as_entered() -> None:
    patient = patient_create(family_name="  Dubé ", given_name="Amélie", phone="0754-123 456")
    assert patient.family_name == "Dubé"
    assert patient.phone == "+255754123456"
    assert patient.name_search == "dube amelie"


@pytest.mark.parametrize("phone", ["12345", "+2547123", "07123456", "+999 712 345 678"])
def test_a_phone_number_that_is_none_is_refused_on_its_field(phone: str) -> None:
    with pytest.raises(FieldErrors) as info:
        patient_create(family_name="Juma", phone=phone)
    assert list(info.value.fields) == ["phone"]
    assert Patient.objects.count() == 0


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+254 712 345 678", "+254712345678"),  # Kenya
        ("+256-772-123456", "+256772123456"),  # Uganda
        ("255712345678", "+255712345678"),
        ("022 211 2345", "+255222112345"),  # a Dar es Salaam landline
    ],
)
def test_international_and_landline_numbers_are_accepted_in_e164(typed: str, stored: str) -> None:
    assert patient_create(family_name="Juma", phone=typed).phone == stored


def test_a_patient_without_an_id_gets_a_generated_one() -> None:
    first = patient_create(family_name="Juma")
    second = patient_create(family_name="Hamisi")
    assert (first.patient_id, second.patient_id) == ("RIS0000001", "RIS0000002")


def test_the_same_patient_id_is_allowed_once_per_issuer(patient: Patient) -> None:
    with pytest.raises(FieldErrors):
        patient_create(patient_id="MNH0001", issuer="MNH", family_name="Other")
    assert patient_create(patient_id="MNH0001", issuer="KCMC", family_name="Other").pk


def test_a_patient_id_longer_than_64_characters_is_refused() -> None:
    with pytest.raises(FieldErrors) as info:
        patient_create(patient_id="X" * 65, family_name="Juma")
    assert "patient_id" in info.value.fields


def test_a_year_only_birth_date_must_be_the_first_of_january() -> None:
    with pytest.raises(FieldErrors) as info:
        patient_create(family_name="Juma", birth_date=dt.date(1970, 6, 1), birth_date_precision="year")
    assert "birth_date" in info.value.fields
    assert patient_create(family_name="Juma", birth_date=dt.date(1970, 1, 1), birth_date_precision="year").pk


def test_an_nhif_number_belongs_to_one_patient(patient: Patient) -> None:
    patient_update(patient=patient, identifiers=[{"kind": IdentifierKind.NHIF, "value": "101234567890"}])
    with pytest.raises(FieldErrors) as info:
        patient_create(family_name="Other", identifiers=[{"kind": IdentifierKind.NHIF, "value": "101234567890"}])
    assert "MNH0001" in info.value.fields["identifiers"][0]


def test_changing_a_name_changes_it_on_the_worklist_in_the_same_transaction(appointment: Appointment) -> None:
    patient_update(patient=appointment.order.patient, family_name="Mwakyusa-Kimaro", sex="F")
    item = WorklistItem.objects.get(order=appointment.order)
    assert item.patient_name == "Mwakyusa-Kimaro^Neema^Joseph"
    assert item.patient_name_search == "mwakyusa-kimaro neema joseph"


def test_merging_moves_orders_identifiers_and_worklist_items_and_records_who(
    appointment: Appointment, admin_user: User
) -> None:
    duplicate = appointment.order.patient
    patient_update(patient=duplicate, identifiers=[{"kind": IdentifierKind.NHIF, "value": "555"}])
    survivor = patient_create(patient_id="MNH0009", issuer="MNH", family_name="Mwakyusa", given_name="Neema")
    merge = patient_merge(source=duplicate, target=survivor, actor=admin_user)

    assert Order.objects.get(pk=appointment.order_id).patient == survivor
    assert set(survivor.identifiers.values_list("kind", "value")) == {
        (IdentifierKind.NHIF, "555"),
        (IdentifierKind.PREVIOUS_ID, "MNH0001"),
    }
    item = WorklistItem.objects.get(order=appointment.order)
    assert (item.patient_id, item.patient_name, item.patient_record_id) == ("MNH0009", "Mwakyusa^Neema", survivor.pk)
    duplicate.refresh_from_db()
    assert duplicate.merged_into == survivor
    assert (merge.orders_moved, merge.merged_by, merge.source_patient_id) == (1, admin_user, "MNH0001")
    assert PatientMerge.objects.count() == 1
    # both IDs still find the survivor
    assert list(patient_list(q="MNH0001")) == [survivor]


def test_a_patient_cannot_be_merged_into_itself(patient: Patient) -> None:
    with pytest.raises(ApplicationError, match="itself"):
        patient_merge(source=patient, target=patient)


def test_a_merged_patient_cannot_be_merged_again_or_receive_a_merge(patient: Patient) -> None:
    survivor = patient_create(family_name="A")
    third = patient_create(family_name="B")
    patient_merge(source=patient, target=survivor)
    with pytest.raises(Conflict, match="already merged"):
        patient_merge(source=patient, target=third)
    with pytest.raises(Conflict, match="merge into that one"):
        patient_merge(source=third, target=patient)
    assert PatientIdentifier.objects.filter(kind=IdentifierKind.PREVIOUS_ID).count() == 1
