"""MPPS (PS3.4 Annex F) with pynetdicom as the modality, and DCMTK findscu
before and after: the exam moves through the lifecycle and leaves the worklist."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

from audit.models import AuditRecord
from dicom_gateway.keys import MPPS_SOP_CLASS
from dicom_gateway.models import PerformedProcedureStep, PpsStatus
from dicom_gateway.mpps import mpps_link
from dicom_gateway.server import Gateway
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from tests.dicom_gateway.conftest import SPS, Worklist, findscu

DAY_LIST = ["PatientName", "AccessionNumber", f"{SPS}[0].ScheduledStationAETitle=CT_ROOM3"]


class Modality:
    """A scanner's MPPS side: one association, N-CREATE then N-SET."""

    def __init__(self, port: int, calling: str = "CT_ROOM3"):
        ae = AE(ae_title=calling)
        ae.add_requested_context(MPPS_SOP_CLASS)
        self.assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
        assert self.assoc.is_established

    def create(self, ds: Dataset, uid: str | None) -> tuple[int, str, Any]:
        status, reply = self.assoc.send_n_create(ds, MPPS_SOP_CLASS, uid)
        return int(status.Status), str(status.get("ErrorComment", "")), reply

    def set(self, ds: Dataset, uid: str) -> tuple[int, str]:
        status, _reply = self.assoc.send_n_set(ds, MPPS_SOP_CLASS, uid)
        return int(status.Status), str(status.get("ErrorComment", ""))

    def close(self) -> None:
        self.assoc.release()


@pytest.fixture
def modality(gateway: Gateway) -> Any:
    scanner = Modality(gateway.port)
    yield scanner
    scanner.close()


def in_progress(order: Order | None, *, accession: str | None = None, **overrides: Any) -> Dataset:
    ds = Dataset()
    ds.PatientName = "Mwakyusa^Neema"
    ds.PatientID = order.patient.patient_id if order else "X999"
    item = Dataset()
    item.StudyInstanceUID = order.study_instance_uid if order else generate_uid()
    item.AccessionNumber = accession if accession is not None else order.accession_number if order else ""
    item.ScheduledProcedureStepID = order.requested_procedure_id if order else ""
    item.RequestedProcedureID = order.requested_procedure_id if order else ""
    ds.ScheduledStepAttributesSequence = [item]
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT_ROOM3"
    ds.PerformedProcedureStepStartDate = "20261201"
    ds.PerformedProcedureStepStartTime = "090500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    ds.PerformedSeriesSequence = []
    for keyword, value in overrides.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def finished(status: str = "COMPLETED", reason: str | None = None) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20261201"
    ds.PerformedProcedureStepEndTime = "092000"
    series = Dataset()
    series.SeriesInstanceUID = "1.2.3.4.5"
    series.SeriesDescription = "Axial 5mm"
    series.ProtocolName = "CT-HEAD-NC"
    image = Dataset()
    image.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    image.ReferencedSOPInstanceUID = "1.2.3.4.5.1"
    series.ReferencedImageSequence = [image, image]
    ds.PerformedSeriesSequence = [series]
    if reason is not None:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "110514", "DCM", reason
        ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = [code]
    return ds


def test_in_progress_then_completed_moves_the_exam_and_takes_it_off_the_worklist(
    live_worklist: Worklist, gateway: Gateway, modality: Modality
) -> None:
    order = live_worklist.orders["neema"]
    _code, before = findscu(gateway.port, DAY_LIST)
    assert order.accession_number in [r["AccessionNumber"] for r in before]
    uid = generate_uid()
    assert modality.create(in_progress(order), uid)[0] == 0x0000
    order.refresh_from_db()
    assert order.status == ExamStatus.IN_PROGRESS
    _code, during = findscu(gateway.port, DAY_LIST)
    assert order.accession_number not in [r["AccessionNumber"] for r in during]  # started: no longer served
    assert modality.set(finished(), uid)[0] == 0x0000
    order.refresh_from_db()
    assert order.status == ExamStatus.COMPLETED
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.order, step.status, step.pps_id) == (order, PpsStatus.COMPLETED, "PPS1")
    assert step.series == [
        {"series_instance_uid": "1.2.3.4.5", "description": "Axial 5mm", "protocol": "CT-HEAD-NC", "images": 2}
    ]
    assert f"{timezone.localtime(order.started_at):%H%M}" == "0905"  # the modality's start time, not now
    _code, after = findscu(gateway.port, DAY_LIST)
    assert order.accession_number not in [r["AccessionNumber"] for r in after]
    assert AuditRecord.objects.filter(action="mpps", ae_title="CT_ROOM3").count() == 2


def test_an_n_set_after_completed_is_refused_with_0110(live_worklist: Worklist, modality: Modality) -> None:
    uid = generate_uid()
    modality.create(in_progress(live_worklist.orders["neema"]), uid)
    modality.set(finished(), uid)
    code, comment = modality.set(finished("DISCONTINUED", "Patient refused"), uid)
    assert code == 0x0110
    assert "no longer be updated" in comment
    assert PerformedProcedureStep.objects.get(sop_instance_uid=uid).status == PpsStatus.COMPLETED


def test_discontinued_keeps_the_reason(live_worklist: Worklist, modality: Modality) -> None:
    order = live_worklist.orders["baraka"]  # arrived
    uid = generate_uid()
    modality.create(in_progress(order), uid)
    assert modality.set(finished("DISCONTINUED", "Patient taken ill"), uid)[0] == 0x0000
    order.refresh_from_db()
    assert (order.status, order.status_reason) == (ExamStatus.DISCONTINUED, "Patient taken ill")


@pytest.mark.parametrize(
    ("overrides", "status", "comment"),
    [
        ({"PerformedProcedureStepID": None}, 0x0120, "Missing PerformedProcedureStepID"),
        ({"ScheduledStepAttributesSequence": None}, 0x0120, "Missing ScheduledStepAttributesSequence"),
        ({"PerformedProcedureStepStatus": "COMPLETED"}, 0x0106, "must be IN PROGRESS"),
        ({"PerformedProcedureStepStartDate": "2026-12-01x"}, 0x0106, "StartDate/Time is not valid"),
    ],
)
def test_invalid_n_create_gets_the_annex_f_status(
    live_worklist: Worklist, modality: Modality, overrides: dict[str, Any], status: int, comment: str
) -> None:
    code, text, _ = modality.create(in_progress(live_worklist.orders["neema"], **overrides), generate_uid())
    assert code == status
    assert comment in text
    assert not PerformedProcedureStep.objects.exists()
    live_worklist.orders["neema"].refresh_from_db()
    assert live_worklist.orders["neema"].status == ExamStatus.SCHEDULED


def test_unknown_instance_duplicate_and_missing_end_time(live_worklist: Worklist, modality: Modality) -> None:
    assert modality.set(finished(), generate_uid())[0] == 0x0112
    uid = generate_uid()
    assert modality.create(in_progress(live_worklist.orders["neema"]), uid)[0] == 0x0000
    assert modality.create(in_progress(live_worklist.orders["neema"]), uid)[0] == 0x0111
    no_end = finished()
    del no_end.PerformedProcedureStepEndTime
    del no_end.PerformedProcedureStepEndDate
    assert modality.set(no_end, uid)[0] == 0x0120


def test_the_scp_assigns_the_instance_uid_when_the_modality_gives_none(
    live_worklist: Worklist, modality: Modality
) -> None:
    code, _comment, _reply = modality.create(in_progress(live_worklist.orders["neema"]), None)
    assert code == 0x0000
    step = PerformedProcedureStep.objects.get()
    assert step.sop_instance_uid.startswith("1.2.826.0.1.3680043.8.498.")  # pydicom's generate_uid root


def test_a_step_for_a_cancelled_exam_is_kept_and_refused_with_0110(live_worklist: Worklist, modality: Modality) -> None:
    order = live_worklist.orders["doto"]  # cancelled
    code, comment, _ = modality.create(in_progress(order), generate_uid())
    assert code == 0x0110
    assert "cannot become in_progress" in comment
    order.refresh_from_db()
    assert order.status == ExamStatus.CANCELLED
    assert PerformedProcedureStep.objects.get().order == order  # kept for a user to sort out


def test_an_unscheduled_exam_is_kept_unmatched_and_can_be_linked(live_worklist: Worklist, modality: Modality) -> None:
    uid = generate_uid()
    assert modality.create(in_progress(None, accession="WALKIN1"), uid)[0] == 0x0000
    assert modality.set(finished(), uid)[0] == 0x0000
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert step.order is None
    assert step.accession_number == "WALKIN1"
    order = live_worklist.orders["juma"]  # booked for another day, done today at the scanner
    assert mpps_link(step=step, order=order) == ""
    order.refresh_from_db()
    assert order.status == ExamStatus.COMPLETED


def test_a_second_step_for_an_exam_in_progress_is_accepted(live_worklist: Worklist, modality: Modality) -> None:
    order = live_worklist.orders["neema"]
    exam_transition(order=order, to=ExamStatus.ARRIVED)
    assert modality.create(in_progress(order), generate_uid())[0] == 0x0000
    assert modality.create(in_progress(order), generate_uid())[0] == 0x0000  # a second series run on the scanner
    order.refresh_from_db()
    assert order.status == ExamStatus.IN_PROGRESS


def test_a_cancelled_exam_performed_at_an_edge_is_kept_and_flagged_for_review(
    live_worklist: Worklist, gateway: Gateway, client: Any, technologist: Any
) -> None:
    """The conflict rule (docs/edge.md): the centre cancelled the exam while the
    remote site's edge node, cut off, let the modality perform it. The edge hears
    success (nothing it could resend would change it); a modality calling the
    centre directly hears 0x0110; either way the step is kept, linked and flagged."""
    from facility.services import site_save

    site_save(code="KIB", name="Kibaha", edge_ae_title="EDGE_KIB")
    gateway.policy.invalidate()
    neema, other = live_worklist.orders["neema"], live_worklist.orders["juma"]
    for order in (neema, other):
        exam_transition(order=order, to=ExamStatus.CANCELLED, reason="Patient unwell")
    edge, uid = Modality(gateway.port, calling="EDGE_KIB"), generate_uid()
    assert edge.create(in_progress(neema), uid)[0] == 0x0000
    assert edge.set(finished(), uid)[0] == 0x0000
    edge.close()
    step = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert (step.order, step.status, step.calling_ae_title) == (neema, PpsStatus.COMPLETED, "EDGE_KIB")
    assert "cancelled" in step.review_reason.lower()
    neema.refresh_from_db()
    assert neema.status == ExamStatus.CANCELLED  # the centre's decision stands until a person looks

    direct = Modality(gateway.port)
    code, comment, _reply = direct.create(in_progress(other), generate_uid())
    direct.close()
    assert code == 0x0110
    assert comment
    assert PerformedProcedureStep.objects.filter(order=other, review_reason__gt="").count() == 1

    client.force_login(technologist)
    page = client.get("/mpps/?show=review").content.decode()
    assert "Needs review (2)" in page
    assert step.review_reason in page
    client.post(f"/mpps/{step.pk}/reviewed/", {"note": "Patient came after all; exam reinstated"})
    step.refresh_from_db()
    assert step.review_reason == ""
    assert AuditRecord.objects.filter(summary__contains="reviewed: Patient came after all").exists()
