"""Table-driven matching tests: query keys -> the items served, through the
real query on the real database (find_worklist, no socket)."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import find_worklist
from tests.dicom_gateway.conftest import Worklist, mwl_query

pytestmark = pytest.mark.django_db
ALL_SERVED = sorted(["neema", "baraka", "amelie", "lei", "juma"])  # doto cancelled, petro started


def served(worklist: Worklist, query: Dataset, calling: str = "RIS_CONSOLE", known: bool = False) -> list[str]:
    by_accession = {o.accession_number: name for name, o in worklist.orders.items()}
    responses = list(find_worklist(query, calling_ae=calling, profile=ProfileSettings(), station_known=known))
    assert all(status in (0xFF00, 0xFF01) for status, _ in responses), responses
    return sorted(by_accession[str(ds.AccessionNumber)] for _, ds in responses if ds is not None)


CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, list[str]]] = [
    # (description, top-level keys, SPS keys, expected)
    ("universal: every served item", {}, None, ALL_SERVED),
    ("empty SPS item is universal", {}, {}, ALL_SERVED),
    ("station AE title", {}, {"ScheduledStationAETitle": "CT_ROOM3"}, ["amelie", "baraka", "neema"]),
    ("AE title with padding", {}, {"ScheduledStationAETitle": " US_ROOM4 "}, ["juma", "lei"]),
    ("AE title wildcard", {}, {"ScheduledStationAETitle": "US_*"}, ["juma", "lei"]),
    ("AE title list of values", {}, {"ScheduledStationAETitle": ["NOPE", "US_ROOM4"]}, ["juma", "lei"]),
    ("modality", {}, {"Modality": "US"}, ["juma", "lei"]),
    ("modality wildcard ?", {}, {"Modality": "C?"}, ["amelie", "baraka", "neema"]),
    (
        "day list: AE + date",
        {},
        {"ScheduledStationAETitle": "CT_ROOM3", "ScheduledProcedureStepStartDate": "20261201"},
        ["baraka", "neema"],
    ),
    ("date range", {}, {"ScheduledProcedureStepStartDate": "20261202-20261203"}, ["amelie", "juma"]),
    ("open date range from", {}, {"ScheduledProcedureStepStartDate": "20261202-"}, ["amelie", "juma"]),
    ("open date range to", {}, {"ScheduledProcedureStepStartDate": "-20261201"}, ["baraka", "lei", "neema"]),
    ("time range alone, any day", {}, {"ScheduledProcedureStepStartTime": "0900-0959"}, ["amelie", "neema"]),
    ("a time bound 1000 means 10:00:00", {}, {"ScheduledProcedureStepStartTime": "1000-1000"}, ["baraka"]),
    (
        "combined date + time range",
        {},
        {"ScheduledProcedureStepStartDate": "20261201", "ScheduledProcedureStepStartTime": "0930-1130"},
        ["baraka", "lei"],
    ),
    (
        "combined range across days",
        {},
        {"ScheduledProcedureStepStartDate": "20261201-20261202", "ScheduledProcedureStepStartTime": "1030-0930"},
        ["amelie", "lei"],
    ),
    (
        "single date + single time",
        {},
        {"ScheduledProcedureStepStartDate": "20261201", "ScheduledProcedureStepStartTime": "090000"},
        ["neema"],
    ),
    ("patient ID", {"PatientID": "MNH0001"}, None, ["neema"]),
    ("patient ID wildcard", {"PatientID": "MNH*"}, None, ["baraka", "juma", "neema"]),
    ("patient ID ? wildcard", {"PatientID": "??000?"}, None, ["amelie", "lei"]),
    ("name prefix, case-insensitive", {"PatientName": "mwa*"}, None, ["baraka", "neema"]),
    ("exact name, case-insensitive", {"PatientName": "MWAKYUSA^NEEMA^JOSEPH"}, None, ["neema"]),
    ("trailing empty components ignored", {"PatientName": "Kimaro^Juma^^"}, None, ["juma"]),
    ("name needs all components", {"PatientName": "Mwakyusa^Neema"}, None, []),
    ("name wildcard inside components", {"PatientName": "*^Neema^*"}, None, ["neema"]),
    ("non-ASCII name", {"PatientName": "Dubé^Amélie"}, None, ["amelie"]),
    ("? is one character, not one byte", {"PatientName": "Dub?^Am?lie"}, None, ["amelie"]),
    ("alphabetic group matches a name with an ideographic group", {"PatientName": "LI^Lei"}, None, ["lei"]),
    ("full name with groups", {"PatientName": "LI^Lei=李^磊"}, None, ["lei"]),
    ("ideographic wildcard", {"PatientName": "*=李*"}, None, ["lei"]),
    (
        "birth date range; unknown birth dates never match",
        {"PatientBirthDate": "19800101-19951231"},
        None,
        ["baraka", "neema"],
    ),
    ("sex", {"PatientSex": "F"}, None, ["amelie", "neema"]),
    ("only * is universal", {"PatientName": "*"}, None, ALL_SERVED),
]


@pytest.mark.parametrize(("description", "top", "sps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_matching(
    worklist: Worklist, description: str, top: dict[str, Any], sps: dict[str, Any] | None, expected: list[str]
) -> None:
    assert served(worklist, mwl_query(top, sps)) == expected


def test_accession_and_uid_list(worklist: Worklist) -> None:
    uids = [worklist.orders["neema"].study_instance_uid, worklist.orders["lei"].study_instance_uid]
    assert served(worklist, mwl_query({"StudyInstanceUID": uids})) == ["lei", "neema"]
    assert served(worklist, mwl_query({"AccessionNumber": worklist.accession("juma")})) == ["juma"]


def test_a_timezone_offset_shifts_the_range(worklist: Worklist) -> None:
    # 06:00-07:00 UTC is 09:00-10:00 in Dar es Salaam.
    query = mwl_query(
        sps={"ScheduledProcedureStepStartDate": "20261201", "ScheduledProcedureStepStartTime": "0600-0659"},
        TimezoneOffsetFromUTC="+0000",
    )
    assert served(worklist, query) == ["neema"]


def test_a_query_without_station_from_a_known_station_gets_its_own_list(worklist: Worklist) -> None:
    assert served(worklist, mwl_query(sps={}), calling="US_ROOM4", known=True) == ["juma", "lei"]
    # ...but when it names a station, that one is used, and "*" asks for every station
    assert served(worklist, mwl_query(sps={"ScheduledStationAETitle": "CT_ROOM3"}), calling="US_ROOM4", known=True) == [
        "amelie",
        "baraka",
        "neema",
    ]
    assert (
        served(worklist, mwl_query(sps={"ScheduledStationAETitle": "*"}), calling="US_ROOM4", known=True) == ALL_SERVED
    )


def test_a_query_in_latin1_is_decoded_before_matching(worklist: Worklist) -> None:
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    query = mwl_query(SpecificCharacterSet="ISO_IR 100")
    del query.PatientName
    # the raw bytes a Latin-1 modality sends for "Dubé*"
    query[Tag(0x00100010)] = RawDataElement(Tag(0x00100010), "PN", 6, "Dubé*".encode("latin-1") + b" ", 0, False, True)
    assert served(worklist, query) == ["amelie"]
