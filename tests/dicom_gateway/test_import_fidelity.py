"""An imported worklist is served as the old server served it: every item,
every value, over the wire to DCMTK findscu (its responses extracted to files
and compared element by element with the .wl files they came from)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset

from dicom_gateway.importing import worklist_files_import
from dicom_gateway.matching import parse_tm
from dicom_gateway.server import Gateway
from orders.models import Order
from tests.dicom_gateway.conftest import findscu_extract, worklist_dataset
from worklist.models import WorklistItem

DCMTK_SAMPLES = Path("/usr/share/doc/dcmtk/examples/wlistdb/OFFIS")
pytestmark = pytest.mark.skipif(shutil.which("findscu") is None, reason="DCMTK is not installed (.ci/run installs it)")


def item(**values: Any) -> Dataset:
    """A worklist item; keys starting SPS_ go in its one step."""
    return worklist_dataset(
        {
            "SpecificCharacterSet": "ISO_IR 192",
            "PatientName": "MWAKYUSA^Neema",
            "PatientID": "TZ1",
            "PatientBirthDate": "19850314",
            "PatientSex": "F",
            "AccessionNumber": "GEN1",
            "StudyInstanceUID": "1.2.826.0.1.3680043.10.1",
            "RequestedProcedureID": "RP1",
            "RequestedProcedureDescription": "CT HEAD",
            "ReferencedStudySequence": [],
        },
        {
            "ScheduledStationAETitle": "CT_GEN",
            "ScheduledProcedureStepStartDate": "20261202",
            "ScheduledProcedureStepStartTime": "090000",
            "Modality": "CT",
            "ScheduledProcedureStepID": "SPS1",
            "ScheduledProcedureStepDescription": "CT HEAD",
        },
        **values,
    )


def code(value: str, scheme: str, meaning: str) -> Dataset:
    ds = Dataset()
    ds.CodeValue, ds.CodingSchemeDesignator, ds.CodeMeaning = value, scheme, meaning
    return ds


def edge_items() -> dict[str, Dataset]:
    """What real worklists hold and a RIS easily loses."""
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    referenced.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.99"
    full = item(
        AccessionNumber="GEN2",
        StudyInstanceUID="1.2.826.0.1.3680043.10.2",
        PatientID="TZ2",
        PatientName="DOE^JOHN^^DR^JR=ドウ^ジョン=どう^じょん",
        ReferringPhysicianName="MREMA^Peter^^Dr",
        RequestingPhysician="SWAI^Grace^^Prof",
        MedicalAlerts="PACEMAKER",
        Allergies="IODINE",
        PatientWeight="72.5",
        PatientSize="1.68",
        PregnancyStatus=4,
        AdmissionID="ADM-77",
        CurrentPatientLocation="WARD 3",
        PatientComments="Deaf; write instructions",
        SpecialNeeds="Wheelchair",
        AdmittingDiagnosesDescription="HEAD INJURY",
        InstitutionName="Bugando Medical Centre",
        StudyDescription="CT HEAD",
        RequestedProcedureComments="Compare with 2025 study",
        ReasonForTheRequestedProcedure="Fall from a motorbike",
        RequestedProcedurePriority="HIGH",
        RequestedProcedureCodeSequence=[code("CTHD", "99TZ", "CT HEAD")],
        ReferencedStudySequence=[referenced],
        SPS_ScheduledPerformingPhysicianName="KIBONA^Agnes^^Dr",
        SPS_ScheduledProcedureStepStartTime="093015.5",
        SPS_ScheduledStationName="CT GEN",
        SPS_ScheduledProcedureStepLocation="RM 4",
        SPS_PreMedication="None",
        SPS_RequestedContrastAgent="Omnipaque 350",
        SPS_CommentsOnTheScheduledProcedureStep="Arm IV line",
        SPS_AnatomicalOrientationType="BIPED",
        SPS_ScheduledProtocolCodeSequence=[code("P1", "99TZ", "HEAD ROUTINE"), code("P2", "99TZ", "HEAD THIN")],
    )
    return {
        "plain": item(),
        # the same station and start as "plain": the room ran them in parallel
        "overlapping": item(AccessionNumber="GEN3", StudyInstanceUID="1.2.826.0.1.3680043.10.3", PatientID="TZ3"),
        # Accession Number is Type 2: legal and empty
        "no_accession": item(AccessionNumber="", StudyInstanceUID="1.2.826.0.1.3680043.10.4", PatientID="TZ4"),
        "full": full,
    }


@pytest.fixture(scope="module")
def worklist_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wl")
    for name, ds in edge_items().items():
        ds.add_new(0x00991010, "LO", "a private note")  # private: reported, not kept
        dcmwrite(folder / f"{name}.wl", ds, implicit_vr=False, little_endian=True)
    if DCMTK_SAMPLES.exists() and shutil.which("dump2dcm"):
        for dump in sorted(DCMTK_SAMPLES.glob("*.dump")):
            subprocess.run(["dump2dcm", "-q", "+te", str(dump), str(folder / f"dcmtk_{dump.stem}.wl")], check=True)
    return folder


@pytest.fixture
def imported(transactional_db: None, worklist_folder: Path) -> Iterator[tuple[Gateway, Any]]:
    report = worklist_files_import(worklist_folder)
    gateway = Gateway(ae_title="RIS_MWL", allow_any=True)
    gateway.start("127.0.0.1", 0)
    yield gateway, report
    gateway.stop()


def asking_for(original: Dataset) -> Dataset:
    """A query for exactly this item (by Study Instance UID) asking for every
    attribute it holds, empty."""
    query = Dataset()
    query.SpecificCharacterSet = "ISO_IR 192"
    for element in original:
        if element.tag.is_private or element.keyword in ("SpecificCharacterSet", "StudyInstanceUID"):
            continue
        if element.keyword == "ScheduledProcedureStepSequence":
            step = Dataset()
            for inner in element.value[0]:
                setattr(step, inner.keyword, [] if inner.VR == "SQ" else None)
            query.ScheduledProcedureStepSequence = [step]
        else:
            setattr(query, element.keyword, [] if element.VR == "SQ" else None)
    query.StudyInstanceUID = original.StudyInstanceUID
    return query


def same(vr: str, stored: Any, served: Any) -> bool:
    """Equal as DICOM values: TM by time (0930 is 09:30:00), PN without the
    empty trailing components and groups PS3.5 lets a writer leave out, text
    without padding."""
    if vr == "TM":
        return parse_tm(str(stored)) == parse_tm(str(served))
    if vr == "PN":

        def tidy(pn: Any) -> str:
            groups = [g.rstrip("^") for g in str(pn).split("=")]
            while groups and not groups[-1]:
                groups.pop()
            return "=".join(groups)

        return tidy(stored) == tidy(served)
    if vr in ("US", "SS", "UL", "SL"):
        return int(stored) == int(served)
    return str(stored).strip() == str(served).strip()


def differences(stored: Dataset, served: Dataset, where: str = "") -> list[str]:
    found = []
    for element in stored:
        if element.tag.is_private or element.keyword == "SpecificCharacterSet" or element.tag.element == 0:
            continue
        name = f"{where}{element.keyword}"
        if element.keyword not in served:
            found.append(f"{name} missing")
            continue
        theirs = served[element.keyword]
        if element.VR == "SQ":
            if len(element.value) != len(theirs.value):
                found.append(f"{name}: {len(element.value)} items stored, {len(theirs.value)} served")
                continue
            for index, (mine, other) in enumerate(zip(element.value, theirs.value, strict=True)):
                found += differences(mine, other, f"{name}[{index}].")
        elif element.value not in (None, "") and not same(element.VR, element.value, theirs.value):
            found.append(f"{name}: stored {element.value!r}, served {theirs.value!r}")
    return found


def test_every_imported_item_and_value_is_served_as_stored(
    imported: tuple[Gateway, Any], worklist_folder: Path, tmp_path: Path
) -> None:
    gateway, report = imported
    files = sorted(worklist_folder.glob("*.wl"))
    assert (report.skipped, report.queued) == ([], [])
    assert len(report.imported) == len(files)
    assert WorklistItem.objects.count() == len(files)
    assert all("private" in note or "not an attribute" in note for _, note in report.not_kept)
    assert {Path(f).stem for f, _ in report.not_kept} >= set(edge_items())  # each file's private tag is named
    checked = 0
    for file in files:
        original = dcmread(file, force=True)
        served = findscu_extract(gateway.port, asking_for(original), tmp_path / file.stem, calling="FIDELITY")
        assert len(served) == 1, file.stem
        assert differences(original, served[0]) == [], file.stem
        checked += 1
    assert checked >= len(edge_items())


def test_the_edge_cases_keep_what_a_ris_easily_loses(imported: tuple[Gateway, Any]) -> None:
    """The same, said plainly for the cases the issue names."""
    no_accession = Order.objects.get(study_instance_uid="1.2.826.0.1.3680043.10.4")
    assert no_accession.accession_number == ""
    full = WorklistItem.objects.get(study_instance_uid="1.2.826.0.1.3680043.10.2")
    assert full.patient_name == "DOE^JOHN^^DR^JR=ドウ^ジョン=どう^じょん"
    assert full.performing_physician_name == "KIBONA^Agnes^^Dr"
    assert full.sps_start_time == dt.time(9, 30, 15, 500000)
    overlapping = WorklistItem.objects.filter(station_ae_title="CT_GEN", sps_start_time=dt.time(9, 0))
    assert overlapping.count() == 3  # plain, overlapping and no_accession share the slot


def test_importing_again_finds_an_item_without_accession_by_its_study_uid(
    imported: tuple[Gateway, Any], worklist_folder: Path
) -> None:
    again = worklist_files_import(worklist_folder)
    assert again.imported == []
    reasons = dict(again.skipped)
    assert (
        "Study Instance UID 1.2.826.0.1.3680043.10.4 was already imported"
        in reasons[str(worklist_folder / "no_accession.wl")]
    )


def test_the_ris_values_win_once_the_record_is_edited_after_the_import(imported: tuple[Gateway, Any]) -> None:
    """An imported item's allergies are served as imported until someone edits
    the patient; its descriptions and codes until the order's procedure changes."""
    from orders.models import Procedure
    from orders.services import order_update
    from patients.services import patient_update

    order = Order.objects.get(study_instance_uid="1.2.826.0.1.3680043.10.2")
    item = WorklistItem.objects.get(order=order)
    assert item.attributes["Allergies"] == "IODINE"
    assert item.attributes["InstitutionName"] == "Bugando Medical Centre"
    patient_update(patient=order.patient, allergies="LATEX")
    item.refresh_from_db()
    assert item.attributes["Allergies"] == "LATEX"
    other = Procedure.objects.exclude(pk=order.procedure_id).first()
    assert other is not None
    order_update(order=order, procedure=other)
    item.refresh_from_db()
    assert item.requested_procedure_description == other.name
    assert "RequestedProcedureCodeSequence" not in item.attributes  # built from the new procedure instead
