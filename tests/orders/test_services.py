from __future__ import annotations

from typing import Any

import pytest

from mwl_ris.lib.dicom import validate_uid
from mwl_ris.lib.errors import ApplicationError, Conflict
from mwl_ris.lib.validation import FieldErrors
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order, Procedure
from orders.services import order_create, order_update, procedure_create, procedure_update
from patients.models import Patient
from patients.services import patient_create, patient_merge
from scheduling.models import Appointment
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def test_a_new_order_gets_its_accession_number_procedure_id_and_study_uid(order: Order) -> None:
    assert order.status == ExamStatus.REQUESTED
    assert order.accession_number == "A2612010001"
    assert order.requested_procedure_id == order.accession_number
    assert order.filler_order_number == order.accession_number
    validate_uid(order.study_instance_uid)
    assert order.study_instance_uid.startswith("2.25.")


def test_each_order_gets_a_different_study_uid(make_order: Any) -> None:
    uids = {make_order().study_instance_uid for _ in range(5)}
    assert len(uids) == 5


def test_an_order_refuses_an_inactive_procedure(patient: Patient, ct_head: Procedure) -> None:
    procedure_update(procedure=ct_head, active=False)
    with pytest.raises(ApplicationError, match="not active"):
        order_create(patient=patient, procedure=ct_head)


def test_an_order_for_a_merged_patient_is_refused(patient: Patient, ct_head: Procedure) -> None:
    survivor = patient_create(patient_id="MNH0002", issuer="MNH", family_name="Mwakyusa", given_name="Neema")
    patient_merge(source=patient, target=survivor)
    patient.refresh_from_db()
    with pytest.raises(ApplicationError, match="merged"):
        order_create(patient=patient, procedure=ct_head)


def test_a_duplicate_placer_order_number_is_refused(make_order: Any) -> None:
    first = make_order(placer_order_number="HIS-123")
    with pytest.raises(Conflict) as info:
        make_order(placer_order_number="HIS-123")
    assert info.value.extra["accession_number"] == first.accession_number


def test_changing_an_order_updates_its_worklist_item(appointment: Appointment) -> None:
    order_update(order=appointment.order, priority="stat", reason="Worse since morning")
    item = WorklistItem.objects.get(order=appointment.order)
    assert item.requested_procedure_priority == "STAT"
    assert item.reason_for_requested_procedure == "Worse since morning"


def test_the_procedure_of_a_started_exam_cannot_change(appointment: Appointment) -> None:
    other = procedure_create(code="CTCHEST", name="CT Chest", modality="CT", default_duration_minutes=20)
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS)
    with pytest.raises(ApplicationError, match="cannot be changed"):
        order_update(order=appointment.order, procedure=other)


def test_renaming_a_procedure_renames_it_on_the_worklist(appointment: Appointment, ct_head: Procedure) -> None:
    procedure_update(procedure=ct_head, name="CT Brain plain")
    item = WorklistItem.objects.get(order=appointment.order)
    assert item.requested_procedure_description == "CT Brain plain"
    assert item.sps_description == "CT Brain plain"


def test_a_procedure_with_a_bad_duration_is_refused_with_the_field() -> None:
    with pytest.raises(FieldErrors) as info:
        procedure_create(code="X", name="X", modality="CT", default_duration_minutes=1)
    assert "default_duration_minutes" in info.value.fields


def test_a_duplicate_procedure_code_is_refused(ct_head: Procedure) -> None:
    with pytest.raises(FieldErrors):
        procedure_create(code="CTHEAD", coding_scheme="RIS", name="Again", modality="CT", default_duration_minutes=10)
    assert Procedure.objects.filter(code="CTHEAD").count() == 1
    assert Order.objects.count() == 0
