"""Every return key of the Modality Worklist model comes back over the wire
(with the RIS's value where it has one); 0xFF01 only for keys outside the
model, and 0xFF00 for them too on a profile with the quirk switched on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicom_gateway.keys import SPS_LEVEL, SPS_SEQUENCE, TOP_LEVEL
from dicom_gateway.models import Profile
from dicom_gateway.server import Gateway
from facility.services import facility_update
from orders.models import Order, PregnancyStatus
from orders.services import order_update
from patients.services import patient_update
from scheduling.models import Appointment, Station
from scheduling.stations import station_update
from tests.dicom_gateway.conftest import findscu_extract, pynetdicom_find

pytestmark = pytest.mark.django_db(transaction=True)


def every_key_query(*outside: str) -> Dataset:
    query = Dataset()
    for keyword, key in TOP_LEVEL.items():
        setattr(query, keyword, [] if key.vr == "SQ" else None)
    step = Dataset()
    for keyword, key in SPS_LEVEL.items():
        setattr(step, keyword, [] if key.vr == "SQ" else None)
    setattr(query, SPS_SEQUENCE, [step])
    for keyword in outside:
        setattr(query, keyword, None)
    return query


@pytest.fixture
def recorded(appointment: Appointment) -> Order:
    """An exam with everything the RIS can record that the worklist model carries."""
    order = appointment.order
    patient_update(
        patient=order.patient, allergies="IODINE CONTRAST", medical_alerts="DIABETIC", address="Box 65001, Dar"
    )
    order_update(
        order=order,
        comments="Bring the previous films",
        pregnancy_status=PregnancyStatus.NOT_PREGNANT,
        scheduled_performing_physician="Kibona^Agnes",
    )
    facility_update(name="Muhimbili National Hospital", department="Radiology", address="Dar es Salaam")
    return Order.objects.get(pk=order.pk)


def test_every_model_key_comes_back_with_what_the_ris_knows(recorded: Order, gateway: Gateway, tmp_path: Path) -> None:
    result = pynetdicom_find(gateway.port, every_key_query())
    assert result.statuses == [0xFF00, 0x0000]  # no key outside the model: no 0xFF01
    served = result.identifiers[0]
    for keyword in TOP_LEVEL:
        assert keyword in served, keyword
    step = served.ScheduledProcedureStepSequence[0]
    for keyword in SPS_LEVEL:
        assert keyword in step, keyword
    assert served.InstitutionName == "Muhimbili National Hospital"
    assert served.InstitutionalDepartmentName == "Radiology"
    assert served.Allergies == "IODINE CONTRAST"
    assert served.MedicalAlerts == "DIABETIC"
    assert served.PregnancyStatus == 1
    assert served.RequestedProcedureComments == "Bring the previous films"
    assert served.PatientAddress == "Box 65001, Dar"
    assert served.PatientTelephoneNumbers == "+255712345678"
    assert served.PatientAge == "041Y"
    assert served.RequestingPhysician == "Kimaro^Neema"
    assert served.RequestedProcedureCodeSequence[0].CodeValue == "CTHEAD"
    assert step.ScheduledPerformingPhysicianName == "Kibona^Agnes"
    assert step.ScheduledProtocolCodeSequence[0].CodeValue == "CT-HEAD-NC"
    assert served.StudyID == ""  # asked for by common clients; nothing to say
    assert served.IssueDateOfImagingServiceRequest == f"{recorded.created_at:%Y%m%d}"


def test_the_facility_name_reaches_items_booked_before_it_changed(recorded: Order, gateway: Gateway) -> None:
    facility_update(name="Bugando Medical Centre")
    served = pynetdicom_find(gateway.port, every_key_query()).identifiers[0]
    assert served.InstitutionName == "Bugando Medical Centre"


@pytest.mark.skipif(shutil.which("findscu") is None, reason="DCMTK is not installed")
def test_findscu_gets_every_requested_key(recorded: Order, gateway: Gateway, tmp_path: Path) -> None:
    (response,) = findscu_extract(gateway.port, every_key_query(), tmp_path)
    missing = [k for k in TOP_LEVEL if k not in response]
    missing += [k for k in SPS_LEVEL if k not in response.ScheduledProcedureStepSequence[0]]
    assert missing == []
    assert response.Allergies == "IODINE CONTRAST"


def test_a_key_outside_the_model_gets_ff01_and_is_returned_empty(recorded: Order, gateway: Gateway) -> None:
    result = pynetdicom_find(gateway.port, every_key_query("SeriesDescription"))
    assert result.statuses == [0xFF01, 0x0000]
    assert result.identifiers[0].SeriesDescription in (None, "")


def test_the_quirk_profile_answers_ff00_for_clients_that_stop_at_ff01(recorded: Order, gateway: Gateway) -> None:
    quirky = Profile.objects.create(name="dcmjs", pending_status_for_unsupported_keys=True)
    station_update(station=Station.objects.get(ae_title="CT_ROOM3"), dicom_profile=quirky)
    gateway.policy.invalidate()
    result = pynetdicom_find(gateway.port, every_key_query("SeriesDescription"))
    assert result.statuses == [0xFF00, 0x0000]
    assert result.identifiers[0].Allergies == "IODINE CONTRAST"


def test_the_conformance_statement_lists_every_key() -> None:
    from pydicom.datadict import tag_for_keyword

    text = (Path(__file__).resolve().parents[2] / "docs" / "conformance.md").read_text(encoding="utf-8")
    missing = []
    for keyword in (*TOP_LEVEL, *SPS_LEVEL):
        tag = int(tag_for_keyword(keyword))  # type: ignore[arg-type]
        if f"({tag >> 16:04X},{tag & 0xFFFF:04X})" not in text:
            missing.append(keyword)
    assert missing == []
