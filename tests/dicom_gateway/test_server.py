"""The gateway on a real socket, queried by pynetdicom and by DCMTK findscu/echoscu."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
from django.test import override_settings

from dicom_gateway.models import CapturedQuery, Profile
from dicom_gateway.server import Gateway
from dicom_gateway.services import profiles_install_ready_made
from scheduling.stations import station_update
from tests.dicom_gateway.conftest import (
    Worklist,
    findscu,
    mwl_query,
    pynetdicom_associate,
    pynetdicom_find,
)
from tests.waiting import wait_until

SPS = "ScheduledProcedureStepSequence[0]"
DAY_LIST = [
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyInstanceUID",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    f"{SPS}.ScheduledStationAETitle=CT_ROOM3",
    f"{SPS}.ScheduledProcedureStepStartDate=20261201",
    f"{SPS}.ScheduledProcedureStepStartTime",
    f"{SPS}.Modality",
    f"{SPS}.ScheduledProcedureStepID",
]


def test_dcmtk_echoscu_gets_an_answer(live_worklist: Worklist, gateway: Gateway) -> None:
    run = subprocess.run(
        ["echoscu", "-aet", "CT_ROOM3", "-aec", "RIS_MWL", "127.0.0.1", str(gateway.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def test_dcmtk_findscu_gets_the_stations_day_list(live_worklist: Worklist, gateway: Gateway) -> None:
    code, responses = findscu(gateway.port, DAY_LIST)
    assert code == 0
    assert sorted(r["AccessionNumber"] for r in responses) == sorted(
        [live_worklist.accession("neema"), live_worklist.accession("baraka")]
    )
    neema = next(r for r in responses if r["PatientID"] == "MNH0001")
    assert neema["PatientName"] == "Mwakyusa^Neema^Joseph"
    assert neema["ScheduledProcedureStepStartTime"] == "090000"
    assert neema["SpecificCharacterSet"] == "ISO_IR 192"


def test_findscu_sees_non_ascii_names_intact_in_utf8(live_worklist: Worklist, gateway: Gateway) -> None:
    keys = ["SpecificCharacterSet=ISO_IR 192", "PatientName=LI^Lei", "PatientID"]
    code, responses = findscu(gateway.port, keys, calling="US_ROOM4")
    assert code == 0
    assert [r["PatientName"] for r in responses] == ["LI^Lei=李^磊"]


def test_pynetdicom_day_list_and_statuses(live_worklist: Worklist, gateway: Gateway) -> None:
    query = mwl_query(sps={"ScheduledStationAETitle": "CT_ROOM3", "ScheduledProcedureStepStartDate": "20261201"})
    result = pynetdicom_find(gateway.port, query)
    assert result.statuses == [0xFF00, 0xFF00, 0x0000]
    assert result.accessions == sorted([live_worklist.accession("neema"), live_worklist.accession("baraka")])


def test_over_the_wire_failures_carry_their_status_and_comment(live_worklist: Worklist, gateway: Gateway) -> None:
    bad = pynetdicom_find(gateway.port, mwl_query(sps={"ScheduledProcedureStepStartDate": "2026/12/01"}))
    assert bad.statuses == [0xA900]
    assert "not a DICOM date" in bad.comment
    warning = pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001", "SeriesDescription": ""}))
    assert warning.statuses == [0xFF01, 0x0000]


def test_an_unknown_calling_ae_is_rejected(live_worklist: Worklist, gateway: Gateway) -> None:
    assoc = pynetdicom_associate(gateway.port, calling="STRANGER")
    assert assoc.is_rejected
    assert assoc.acceptor.primitive.result_source == 0x01
    assert assoc.acceptor.primitive.diagnostic == 0x03  # calling AE title not recognised
    run = subprocess.run(
        ["echoscu", "-aet", "STRANGER", "-aec", "RIS_MWL", "127.0.0.1", str(gateway.port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode != 0
    assert "Calling AE Title Not Recognized" in run.stderr + run.stdout


def test_a_wrong_called_ae_is_rejected(live_worklist: Worklist, gateway: Gateway) -> None:
    assoc = pynetdicom_associate(gateway.port, calling="CT_ROOM3", called="SOMEONE_ELSE")
    assert assoc.is_rejected
    assert assoc.acceptor.primitive.diagnostic == 0x07


def test_a_new_station_may_associate_without_a_restart(live_worklist: Worklist, gateway: Gateway) -> None:
    from scheduling.stations import station_create

    assert pynetdicom_associate(gateway.port, calling="MR_NEW").is_rejected
    station_create(name="MRI", modality="MR", ae_title="MR_NEW")
    gateway.policy.invalidate()  # otherwise within the cache period (5 s)
    assoc = pynetdicom_associate(gateway.port, calling="MR_NEW")
    assert assoc.is_established
    assoc.release()


@pytest.mark.parametrize(
    ("profile_name", "charset", "amelie", "lei"),
    [
        ("Modern UTF-8 scanner", "ISO_IR 192", "Dubé^Amélie", "LI^Lei=李^磊"),
        ("Latin-1 scanner", "ISO_IR 100", "Dubé^Amélie", "LI^Lei"),
        ("ASCII-only 20-character scanner", "", "Dube^Amelie", "LI^Lei"),
    ],
)
def test_ready_made_profiles_over_the_wire(
    live_worklist: Worklist, gateway: Gateway, profile_name: str, charset: str, amelie: str, lei: str
) -> None:
    profiles_install_ready_made()  # transactional tests start from empty tables
    station_update(station=live_worklist.us, dicom_profile=Profile.objects.get(name=profile_name))
    gateway.policy.invalidate()
    every_station = mwl_query({"PatientName": "*"}, sps={"ScheduledStationAETitle": "*"})
    result = pynetdicom_find(gateway.port, every_station, calling="US_ROOM4")
    names = {str(ds.PatientID): str(ds.PatientName) for ds in result.identifiers}
    assert len(names) == 5
    assert (names["FR0003"], names["CN0004"], names["MNH0005"]) == (amelie, lei, "Kimaro^Juma")
    assert {ds.get("SpecificCharacterSet", "") for ds in result.identifiers} == {charset}
    # findscu decodes what it was sent by the declared character set
    keys = ["PatientName=Dub*", "PatientID", "SpecificCharacterSet", f"{SPS}.ScheduledStationAETitle=*"]
    code, responses = findscu(gateway.port, keys, calling="US_ROOM4")
    assert code == 0
    assert [r["PatientName"] for r in responses] == [amelie]


def test_queries_are_captured_per_calling_ae(live_worklist: Worklist, gateway: Gateway) -> None:
    for _ in range(3):
        pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001"}))
    gateway.recorder.flush()
    captured = list(CapturedQuery.objects.filter(calling_ae_title="CT_ROOM3"))
    assert len(captured) == 3
    assert captured[0].matches == 1
    assert captured[0].status == 0
    assert captured[0].identifier["00100020"] == {"vr": "LO", "Value": ["MNH0001"]}


@override_settings(MWL_CAPTURE_PER_AE=2)
def test_only_the_last_queries_of_each_ae_are_kept(live_worklist: Worklist) -> None:
    gateway = Gateway(ae_title="RIS_MWL", keep_per_ae=2)
    gateway.start("127.0.0.1", 0)
    try:
        for pid in ("A", "B", "C"):
            pynetdicom_find(gateway.port, mwl_query({"PatientID": pid}))
        gateway.recorder.flush()
    finally:
        gateway.stop()
    kept = [q.identifier["00100020"]["Value"][0] for q in CapturedQuery.objects.all()]
    assert sorted(kept) == ["B", "C"]


@pytest.mark.django_db
def test_migrations_install_the_ready_made_profiles() -> None:
    assert set(Profile.objects.values_list("name", flat=True)) >= {
        "Modern UTF-8 scanner",
        "Latin-1 scanner",
        "ASCII-only 20-character scanner",
    }
    ascii_profile = Profile.objects.get(name="ASCII-only 20-character scanner")
    assert (ascii_profile.charset, ascii_profile.name_max_length) == ("", 20)


def test_a_station_calling_from_another_ip_is_aborted_when_checked(live_worklist: Worklist) -> None:
    station_update(station=live_worklist.ct, ip_address="10.20.30.40")
    gateway = Gateway(ae_title="RIS_MWL", check_ip=True)
    gateway.start("127.0.0.1", 0)
    try:
        assoc = pynetdicom_associate(gateway.port, calling="CT_ROOM3")
        if assoc.is_established:  # accepted, then aborted by the gateway right away
            wait_until(lambda: assoc.is_aborted, timeout=2, what="the gateway's abort")
        assert assoc.is_aborted
        from dicom_gateway.models import AssociationRecord

        wait_until(
            lambda: AssociationRecord.objects.filter(outcome="aborted").exists(), timeout=10, what="the abort record"
        )
        assert AssociationRecord.objects.get(outcome="aborted").reason == "not its registered IP (10.20.30.40)"
        # its right address, and stations without a registered IP, still work
        station_update(station=live_worklist.ct, ip_address="127.0.0.1")
        gateway.policy.invalidate()
        assert pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001"})).statuses == [0xFF00, 0x0000]
        assert pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0005"}), calling="US_ROOM4").statuses[-1] == 0
    finally:
        gateway.stop()


def test_c_cancel_over_the_wire_stops_the_stream_with_fe00(live_worklist: Worklist, gateway: Gateway) -> None:
    import datetime as dt

    from pynetdicom import AE

    from dicom_gateway.keys import MWL_FIND_SOP_CLASS
    from orders.services import order_create
    from scheduling.booking import appointment_book

    neema = live_worklist.orders["neema"]
    start = dt.datetime(2026, 12, 10, 0, 0, tzinfo=dt.UTC)
    # A long answer (300 half-hour slots of 8 KB each, more than the socket
    # buffers hold), so the cancel arrives while it streams: the gateway builds
    # 300 ordinary responses in a few milliseconds, and a cancel that arrives
    # after the last one has nothing to stop (PS3.4 allows that).
    for minute in range(300):
        order = order_create(patient=neema.patient, procedure=neema.procedure, comments="x" * 8000)
        appointment_book(
            order=order,
            station=live_worklist.us,
            starts_at=start + dt.timedelta(minutes=30 * minute),
            any_modality=True,
        )
    ae = AE(ae_title="US_ROOM4")
    ae.add_requested_context(MWL_FIND_SOP_CLASS)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL")
    assert assoc.is_established
    statuses = []
    try:
        query = mwl_query({"RequestedProcedureComments": ""}, sps={})
        for status, _ in assoc.send_c_find(query, MWL_FIND_SOP_CLASS, msg_id=7):
            statuses.append(int(status.Status))
            if len(statuses) == 1:
                assoc.send_c_cancel(7, assoc.accepted_contexts[0].context_id)
    finally:
        assoc.release()
    assert statuses[-1] == 0xFE00
    assert 1 <= statuses.count(0xFF00) < 302


def test_a_database_outage_answers_c000_over_the_wire_and_recovers(live_worklist: Worklist, gateway: Gateway) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("simulated by pointing PostgreSQL connections at a closed port")
    # the gateway knows its stations (and keeps them through an outage)
    assert pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001"})).statuses == [0xFF00, 0x0000]
    settings_dict = connection.settings_dict  # shared with the gateway's threads' new connections
    saved = settings_dict["PORT"]
    settings_dict["PORT"] = "1"
    try:
        started = time.monotonic()
        down = pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001"}))
        assert time.monotonic() - started < 5
    finally:
        settings_dict["PORT"] = saved
    assert down.statuses == [0xC000]
    assert "unavailable" in down.comment
    back = pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001"}))
    assert back.statuses == [0xFF00, 0x0000]


def test_every_association_is_recorded_with_the_gateways_decision(
    live_worklist: Worklist, gateway: Gateway, api_as: Any, radiologist: Any
) -> None:
    from dicom_gateway.models import AssociationRecord

    pynetdicom_find(gateway.port, mwl_query({"PatientID": "MNH0001"}))
    assert pynetdicom_associate(gateway.port, calling="STRANGER").is_rejected
    assert pynetdicom_associate(gateway.port, calling="CT_ROOM3", called="ELSEWHERE").is_rejected

    # the client learns of a rejection before the gateway's handler has queued its record
    def recorded() -> bool:
        gateway.recorder.flush()
        return AssociationRecord.objects.count() >= 3

    wait_until(recorded, timeout=10, what="three association records")
    records = {(r.calling_ae_title, r.outcome, r.reason) for r in AssociationRecord.objects.all()}
    assert records == {
        ("CT_ROOM3", "accepted", ""),
        ("STRANGER", "rejected", "calling AE title not recognized"),
        ("CT_ROOM3", "rejected", "called AE title not recognized"),
    }
    listing = api_as(radiologist).get("/api/v1/associations/", {"outcome": "rejected"}).json()
    assert {r["calling_ae_title"] for r in listing["results"]} == {"STRANGER", "CT_ROOM3"}
