"""Generator-level tests of find_worklist: statuses, returned keys, profiles,
database outages and the number of queries, without a socket."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom.dataset import Dataset

from dicom_gateway import status
from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import FindOutcome, find_worklist
from dicom_gateway.models import Charset, NameFormat
from tests.dicom_gateway.conftest import Worklist, mwl_query

pytestmark = pytest.mark.django_db


def run(query: Dataset, **kwargs: Any) -> list[tuple[Any, Any]]:
    kwargs.setdefault("calling_ae", "RIS_CONSOLE")
    kwargs.setdefault("profile", ProfileSettings())
    kwargs.setdefault("station_known", False)
    return list(find_worklist(query, **kwargs))


@pytest.mark.parametrize(
    ("sps", "fragment"),
    [
        ({"ScheduledProcedureStepStartDate": "1 Dec 2026"}, "not a DICOM date"),
        ({"ScheduledProcedureStepStartDate": "20261341"}, "not a valid date"),
        ({"ScheduledProcedureStepStartTime": "25"}, "not a valid time"),
        ({"ScheduledProcedureStepStartDate": "20261201-20261202-20261203"}, "more than one"),
    ],
)
def test_a_malformed_key_gets_a900_with_a_comment(worklist: Worklist, sps: dict[str, str], fragment: str) -> None:
    [(failure, identifier)] = run(mwl_query(sps=sps))
    assert identifier is None
    assert failure.Status == status.IDENTIFIER_INVALID
    assert fragment in failure.ErrorComment


def test_two_sps_items_are_not_a_worklist_query(worklist: Worklist) -> None:
    query = mwl_query(sps={})
    query.ScheduledProcedureStepSequence.append(Dataset())
    [(failure, _)] = run(query)
    assert failure.Status == status.IDENTIFIER_INVALID


def test_every_requested_key_comes_back_and_nothing_else(worklist: Worklist) -> None:
    query = mwl_query(
        {"PatientID": "MNH0001", "PatientWeight": "", "RequestedProcedureCodeSequence": []},
        {"ScheduledProtocolCodeSequence": []},
    )
    [(code, ds)] = run(query)
    assert code == status.PENDING
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Mwakyusa^Neema^Joseph"
    assert ds.PatientBirthDate == "19850314"
    assert ds.PatientWeight is None  # Type 2 we do not hold: present, empty
    assert ds.RequestedProcedureCodeSequence[0].CodeValue == "CTHEAD"
    item = ds.ScheduledProcedureStepSequence[0]
    assert item.ScheduledStationAETitle == "CT_ROOM3"
    assert (item.ScheduledProcedureStepStartDate, item.ScheduledProcedureStepStartTime) == ("20261201", "090000")
    assert item.ScheduledProtocolCodeSequence[0].CodeValue == "CT-HEAD-NC"
    assert "ReferringPhysicianName" not in ds  # not asked for
    assert "ScheduledStationName" not in item


def test_an_empty_sps_item_returns_every_sps_attribute(worklist: Worklist) -> None:
    query = mwl_query({"PatientID": "MNH0001"})
    query.ScheduledProcedureStepSequence = [Dataset()]
    [(_, ds)] = run(query)
    item = ds.ScheduledProcedureStepSequence[0]
    assert item.ScheduledStationName == "CT Scanner"
    assert item.ScheduledProcedureStepStatus == "SCHEDULED"
    assert item.ScheduledProcedureStepLocation == "Room 3"


def test_unsupported_keys_come_back_empty_with_ff01(worklist: Worklist) -> None:
    # Series Description and Performed Station Name are not in the worklist model
    query = mwl_query({"PatientID": "MNH0001", "SeriesDescription": "", "PerformedStationName": ""})
    [(code, ds)] = run(query)
    assert code == status.PENDING_WARNING
    assert ds["SeriesDescription"].is_empty
    assert ds["PerformedStationName"].is_empty


def test_a_cancel_stops_the_stream_with_fe00(worklist: Worklist) -> None:
    seen: list[int] = []
    responses = []
    for response in find_worklist(
        mwl_query(), calling_ae="X", profile=ProfileSettings(), station_known=False, is_cancelled=lambda: len(seen) >= 2
    ):
        responses.append(response)
        seen.append(1)
    assert [r[0] for r in responses] == [status.PENDING, status.PENDING, status.CANCELLED]


def test_over_the_profile_limit_is_refused_with_a700_never_cut(worklist: Worklist) -> None:
    outcome = FindOutcome()
    [(failure, _)] = run(mwl_query(), profile=ProfileSettings(max_results=3), outcome=outcome)
    assert failure.Status == status.OUT_OF_RESOURCES
    assert "More than 3 matches" in failure.ErrorComment
    assert len(run(mwl_query(sps={"Modality": "US"}), profile=ProfileSettings(max_results=3))) == 2


@pytest.mark.parametrize(
    ("profile", "amelie", "lei"),
    [
        (ProfileSettings(), "Dubé^Amélie", "LI^Lei=李^磊"),
        (ProfileSettings(charset=Charset.LATIN1), "Dubé^Amélie", "LI^Lei"),
        (ProfileSettings(charset=Charset.ASCII, name_format=NameFormat.FAMILY_GIVEN), "Dube^Amelie", "LI^Lei"),
    ],
)
def test_profiles_set_the_character_set_of_names(
    worklist: Worklist, profile: ProfileSettings, amelie: str, lei: str
) -> None:
    names = {}
    for _, ds in run(mwl_query({"PatientName": "*"}), profile=profile):
        names[str(ds.PatientID)] = (ds.get("SpecificCharacterSet", ""), str(ds.PatientName))
    assert names["FR0003"] == (profile.charset, amelie)
    assert names["CN0004"] == (profile.charset, lei)


def test_a_twenty_character_profile_cuts_names_at_a_component(worklist: Worklist) -> None:
    profile = ProfileSettings(charset=Charset.ASCII, name_max_length=16)
    [(_, ds)] = run(mwl_query({"PatientID": "MNH0001"}), profile=profile)
    assert str(ds.PatientName) == "Mwakyusa^Neema"


def test_one_query_per_c_find_whatever_the_number_of_matches(worklist: Worklist) -> None:
    counts = []
    for query in (mwl_query({"PatientID": "MNH0001"}), mwl_query()):
        with CaptureQueriesContext(connection) as captured:
            responses = run(query)
        counts.append((len(responses), len(captured.captured_queries)))
    assert counts == [(1, 1), (5, 1)]


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_fails_fast_with_c000_and_recovers(live_worklist: Worklist) -> None:
    import time

    settings_dict = connection.settings_dict
    saved = settings_dict.get("PORT"), settings_dict.get("HOST"), settings_dict.get("NAME")
    connection.close()
    if connection.vendor == "postgresql":
        settings_dict["PORT"] = "1"  # nothing listens there: connection refused, like a stopped server
    else:
        settings_dict["NAME"] = "/nonexistent/dir/db.sqlite3"
    try:
        started = time.monotonic()
        outcome = FindOutcome()
        [(failure, _)] = run(mwl_query(), outcome=outcome)
        assert time.monotonic() - started < 5
        assert failure.Status == status.UNABLE_TO_PROCESS
        assert "unavailable" in failure.ErrorComment
    finally:
        settings_dict["PORT"], settings_dict["HOST"], settings_dict["NAME"] = saved
    assert len(run(mwl_query())) == 5  # the database is back: served again, no restart


def test_a_repeated_query_reuses_the_built_response_until_the_item_changes(
    worklist: Worklist, frozen_clock: Any
) -> None:
    import datetime as dt

    from patients.services import patient_update

    query = mwl_query({"PatientID": "MNH0001"})
    [(_, first)] = run(query)
    [(_, again)] = run(query)
    assert again is first  # built (and encoded) once
    frozen_clock.shift(dt.timedelta(seconds=1))
    patient_update(patient=worklist.orders["neema"].patient, family_name="Mwakyusa-Kimaro")
    [(_, changed)] = run(query)
    assert changed is not first
    assert str(changed.PatientName) == "Mwakyusa-Kimaro^Neema^Joseph"


def test_another_profile_or_query_shape_gets_its_own_response(worklist: Worklist) -> None:
    [(_, utf8)] = run(mwl_query({"PatientID": "FR0003"}))
    [(_, ascii_)] = run(mwl_query({"PatientID": "FR0003"}), profile=ProfileSettings(charset=Charset.ASCII))
    [(_, fewer_keys)] = run(mwl_query({"PatientID": "FR0003", "PatientWeight": ""}))
    assert (str(utf8.PatientName), str(ascii_.PatientName)) == ("Dubé^Amélie", "Dube^Amelie")
    assert "PatientWeight" in fewer_keys
    assert "PatientWeight" not in utf8


def test_the_cached_encoding_is_the_same_bytes_as_a_fresh_one(worklist: Worklist) -> None:
    from pydicom.dataset import Dataset as PlainDataset
    from pynetdicom import service_class
    from pynetdicom.dsutils import encode

    from dicom_gateway.accel import install_encode_cache

    install_encode_cache()
    [(_, response)] = run(mwl_query({"PatientID": "CN0004"}, sps={}))
    plain = PlainDataset()
    plain.update(response)
    for syntax in ((True, True, False), (False, True, False)):
        first = service_class.encode(response, *syntax)
        assert first == encode(plain, *syntax)
        assert service_class.encode(response, *syntax) is first  # reused, not re-encoded
