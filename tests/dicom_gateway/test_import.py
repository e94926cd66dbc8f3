"""import_worklist: DICOM worklist files into the RIS, idempotently, losing nothing."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from pydicom import dcmwrite

from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import find_worklist
from dicom_gateway.importing import worklist_files_import
from orders.models import Order
from scheduling.models import Station
from tests.conftest import requires_postgres
from tests.dicom_gateway.conftest import mwl_query, worklist_dataset
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def wl_file(folder: Path, name: str, **overrides: object) -> Path:
    ds = worklist_dataset(
        {
            "SpecificCharacterSet": "ISO_IR 100",
            "AccessionNumber": "ACC1",
            "PatientName": "Dubé^Amélie",
            "PatientID": "P1",
            "PatientBirthDate": "19800101",
            "PatientSex": "F",
            "StudyInstanceUID": "1.2.3.4.5",
            "RequestedProcedureID": "RP1",
            "RequestedProcedureDescription": "CT HEAD",
        },
        {
            "Modality": "CT",
            "ScheduledStationAETitle": ["CT_A", "CT_B"],
            "ScheduledProcedureStepStartDate": "20261202",
            "ScheduledProcedureStepStartTime": "0930",
            "ScheduledProcedureStepID": "SPS1",
            "ScheduledStationName": "CT A",
        },
        **overrides,
    )
    path = folder / f"{name}.wl"
    dcmwrite(path, ds, implicit_vr=False, little_endian=True)
    return path


def test_an_item_becomes_patient_order_station_and_worklist_item_keeping_its_ids(tmp_path: Path) -> None:
    wl_file(tmp_path, "one")
    report = worklist_files_import(tmp_path)
    assert (report.imported, report.stations_created, report.skipped) == (["ACC1"], ["CT_A"], [])
    order = Order.objects.get(accession_number="ACC1")
    assert (order.study_instance_uid, order.requested_procedure_id, order.status) == ("1.2.3.4.5", "RP1", "scheduled")
    item = WorklistItem.objects.get(order=order)
    assert (item.patient_name, item.sps_id, item.station_ae_title) == ("Dubé^Amélie", "SPS1", "CT_A")
    assert item.sps_start_time.strftime("%H%M") == "0930"


def test_the_second_ae_title_of_an_imported_item_finds_it(tmp_path: Path) -> None:
    wl_file(tmp_path, "one")
    worklist_files_import(tmp_path)
    for ae in ("CT_A", "CT_B", "CT_?", r"CT_A\NOPE"):
        served = list(
            find_worklist(
                mwl_query(sps={"ScheduledStationAETitle": ae.split("\\")}),
                calling_ae="X",
                profile=ProfileSettings(),
                station_known=False,
            )
        )
        assert len(served) == 1, ae
    nothing = list(
        find_worklist(
            mwl_query(sps={"ScheduledStationAETitle": "CT_C"}),
            calling_ae="X",
            profile=ProfileSettings(),
            station_known=False,
        )
    )
    assert nothing == []


def test_importing_twice_changes_nothing(tmp_path: Path) -> None:
    wl_file(tmp_path, "one")
    worklist_files_import(tmp_path)
    again = worklist_files_import(tmp_path)
    assert again.imported == []
    assert again.skipped == [(str(tmp_path / "one.wl"), "accession ACC1 was already imported")]
    assert (Order.objects.count(), WorklistItem.objects.count(), Station.objects.count()) == (1, 1, 1)


def test_every_item_that_cannot_be_imported_is_reported_with_its_reason(tmp_path: Path) -> None:
    wl_file(tmp_path, "no_keys", AccessionNumber="", StudyInstanceUID="")
    wl_file(tmp_path, "long_accession", AccessionNumber="X" * 17)
    wl_file(tmp_path, "completed", AccessionNumber="A3", SPS_ScheduledProcedureStepStatus="COMPLETED")
    wl_file(tmp_path, "no_date", AccessionNumber="A4", SPS_ScheduledProcedureStepStartDate="")
    (tmp_path / "garbage.wl").write_bytes(b"not dicom at all")
    report = worklist_files_import(tmp_path)
    reasons = {Path(f).stem: r for f, r in report.skipped}
    assert "neither an Accession Number nor a Study Instance UID" in reasons["no_keys"]
    assert "longer than 16" in reasons["long_accession"]
    assert "COMPLETED" in reasons["completed"]
    assert "Start Date" in reasons["no_date"]
    assert "garbage" in reasons
    assert Order.objects.count() == 0


def test_overlapping_items_on_one_station_raise_its_capacity_and_are_all_served(tmp_path: Path) -> None:
    """The old worklist ran two patients at once in one room (two machines, a
    walk-in squeezed in): both items are imported and both are on the worklist."""
    wl_file(tmp_path, "one")
    wl_file(tmp_path, "two", AccessionNumber="ACC2", PatientID="P2", StudyInstanceUID="1.2.3.4.6")
    wl_file(tmp_path, "three", AccessionNumber="ACC3", PatientID="P3", StudyInstanceUID="1.2.3.4.7")
    report = worklist_files_import(tmp_path)
    assert (sorted(report.imported), report.queued) == (["ACC1", "ACC2", "ACC3"], [])
    assert report.capacity_raised == {"CT_A": 3}
    station = Station.objects.get(ae_title="CT_A")
    assert station.capacity == 3
    assert sorted(station.appointments.values_list("lane", flat=True)) == [1, 2, 3]
    served = find_worklist(
        mwl_query(sps={"ScheduledStationAETitle": "CT_A"}),
        calling_ae="X",
        profile=ProfileSettings(),
        station_known=False,
    )
    assert len(list(served)) == 3


def test_an_item_that_cannot_be_booked_waits_in_the_scheduler_queue(tmp_path: Path) -> None:
    """More items at one time than a room could ever take (MAX_CAPACITY): the
    rest wait, unscheduled, with the reason, for a scheduler."""
    from scheduling.models import MAX_CAPACITY

    for n in range(MAX_CAPACITY + 1):
        wl_file(tmp_path, f"f{n:02d}", AccessionNumber=f"ACC{n:02d}", PatientID=f"P{n}", StudyInstanceUID=f"1.2.3.{n}")
    report = worklist_files_import(tmp_path)
    assert len(report.imported) == MAX_CAPACITY
    assert [a for a, _ in report.queued] == [f"ACC{MAX_CAPACITY:02d}"]
    assert "places taken" in report.queued[0][1]
    assert Order.objects.get(accession_number=f"ACC{MAX_CAPACITY:02d}").status == "requested"  # the queue


def test_the_command_prints_the_report(tmp_path: Path) -> None:
    wl_file(tmp_path, "one")
    out = StringIO()
    call_command("import_worklist", str(tmp_path), stdout=out)
    assert "imported 1 onto the worklist, 0 queued unscheduled, 0 skipped" in out.getvalue()


@requires_postgres
def test_the_day_list_query_uses_the_indexes(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from dicom_gateway.encoding import COLUMNS
    from dicom_gateway.find import worklist_queryset
    from dicom_gateway.matching import parse_identifier

    wl_file(tmp_path, "one")
    worklist_files_import(tmp_path)
    query = mwl_query(sps={"ScheduledStationAETitle": "CT_A", "ScheduledProcedureStepStartDate": "20261202"})
    parsed = parse_identifier(query, facility_tz=ZoneInfo("Africa/Dar_es_Salaam"))
    qs = WorklistItem.objects.filter(
        worklist_queryset(parsed, calling_ae="X", station_known=False, profile=ProfileSettings())
    ).values(*COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny test tables: ask whether an index *can* serve it
        plan = qs.explain()
    assert "Seq Scan" not in plan
    assert "Index" in plan
