"""The accel path's responses (fastencode: bytes straight from the neutral
elements) are byte for byte what pydicom writes for the same response, for
any row, query shape and profile; and over the wire, responses larger than
the peer's maximum PDU still arrive whole and in order."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.dsutils import encode

from dicom_gateway.encoding import COLUMNS, PreEncodedResponse, build_response, response_elements
from dicom_gateway.keys import MWL_FIND_SOP_CLASS as ModalityWorklistInformationFind
from dicom_gateway.keys import SPS_LEVEL, TOP_LEVEL
from dicom_gateway.matching import ParsedQuery
from dicom_gateway.models import Charset, NameFormat
from dicom_gateway.profiles import ProfileSettings
from dicom_gateway.server import Gateway
from orders.services import order_update
from tests.dicom_gateway.conftest import Worklist, mwl_query
from worklist.models import SERVED_STATUSES, WorklistItem

TZ = ZoneInfo("Africa/Dar_es_Salaam")
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=70)
names = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="=\\"), max_size=12), max_size=5
).map("^".join)
person_names = st.lists(names, min_size=1, max_size=3).map("=".join)
times = st.times().map(lambda t: t.replace(tzinfo=None))
codes = st.fixed_dictionaries({"CodeValue": texts, "CodingSchemeDesignator": texts, "CodeMeaning": texts})
attributes = st.fixed_dictionaries(
    {},
    optional={
        "Allergies": texts,
        "MedicalAlerts": texts,
        "PregnancyStatus": st.integers(1, 4),
        "PatientWeight": st.decimals(0, 300, places=1).map(str),
        "RequestedProcedureComments": st.text(max_size=300),
        "ReferencedStudySequence": st.lists(
            st.fixed_dictionaries(
                {"ReferencedSOPClassUID": st.just("1.2.3"), "ReferencedSOPInstanceUID": st.just("1.2")}
            ),
            max_size=2,
        ),
        "ScheduledProtocolCodeSequence": st.lists(codes, max_size=3),
        "OtherPatientNames": st.lists(person_names, max_size=3).map("\\".join),
    },
)


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column: draw(texts) for column in COLUMNS}
    row.update(
        pk=1,
        patient_name=draw(person_names),
        referring_physician_name=draw(person_names),
        requesting_physician_name=draw(person_names),
        performing_physician_name=draw(person_names),
        patient_birth_date=draw(st.none() | st.dates()),
        sps_start_date=draw(st.dates()),
        sps_start_time=draw(times),
        sps_end=draw(st.none() | st.datetimes(timezones=st.just(TZ))),
        other_station_ae_titles=draw(st.sampled_from(["", "\\CT_B\\", "\\CT_B\\CT_C\\"])),
        attributes=draw(attributes),
        updated_at=None,
    )
    return row


@st.composite
def shapes(draw: Any) -> ParsedQuery:
    top = draw(st.lists(st.sampled_from(sorted(TOP_LEVEL)), unique=True, max_size=30))
    sps = draw(st.none() | st.lists(st.sampled_from(sorted(SPS_LEVEL)), unique=True, max_size=18))
    unsupported = draw(
        st.lists(
            st.sampled_from(["SeriesDescription", "ScheduledProcedureStepSequence.SeriesDescription", "(0009,0010)"]),
            unique=True,
        )
    )
    return ParsedQuery(filters=Q(), top_keys=top, sps_keys=sps, unsupported=unsupported)


profiles = st.builds(
    ProfileSettings,
    charset=st.sampled_from([c.value for c in Charset]),
    name_format=st.sampled_from([n.value for n in NameFormat]),
    name_max_length=st.none() | st.integers(8, 64),
    include_code_sequences=st.booleans(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=rows(), parsed=shapes(), profile=profiles)
def test_fastencode_writes_the_bytes_pydicom_writes(
    row: dict[str, Any], parsed: ParsedQuery, profile: ProfileSettings
) -> None:
    slow = build_response(row, parsed, profile)
    fast = PreEncodedResponse(response_elements(row, parsed, profile), profile.charset)
    for syntax in ((True, True, False), (False, True, False)):
        assert fast.encoded(syntax, encode) == encode(slow, *syntax)


def test_a_big_endian_request_is_encoded_by_pydicom() -> None:
    row = {column: "" for column in COLUMNS} | {"pk": 1, "attributes": {}, "sps_start_date": dt.date(2026, 12, 1)}
    parsed = ParsedQuery(filters=Q(), top_keys=["PatientName"], sps_keys=["ScheduledProcedureStepStartDate"])
    profile = ProfileSettings()
    fast = PreEncodedResponse(response_elements(row, parsed, profile), profile.charset)
    assert fast.encoded((False, False, False), encode) == encode(build_response(row, parsed, profile), False, False)


@pytest.mark.django_db(transaction=True)
def test_responses_larger_than_the_peer_pdu_arrive_whole_and_in_order(live_worklist: Worklist) -> None:
    """A modality accepting 2 KiB PDUs: an item with long comments does not fit
    one PDU and goes through pynetdicom (fragmented); the others are written
    in batches; all arrive, in order, whole."""
    order_update(order=live_worklist.orders["neema"], comments="Long history. " * 300)
    gateway = Gateway(ae_title="RIS_MWL", allow_any=True)
    gateway.start("127.0.0.1", 0)
    try:
        ae = AE(ae_title="SMALLPDU")
        ae.maximum_pdu_size = 2048
        ae.add_requested_context(ModalityWorklistInformationFind)
        assoc = ae.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL")
        assert assoc.is_established
        query = mwl_query(top={"RequestedProcedureComments": ""}, sps={})
        answers: list[tuple[int, Dataset | None]] = [
            (int(status.Status), identifier)
            for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind)
        ]
        assoc.release()
    finally:
        gateway.stop()
    statuses = [code for code, _ in answers]
    assert statuses[-1] == 0x0000
    assert set(statuses[:-1]) == {0xFF00}
    served = [ds for _, ds in answers[:-1] if ds is not None]
    assert len(served) == WorklistItem.objects.filter(sps_status__in=SERVED_STATUSES).count() == 5
    long_ones = [ds for ds in served if len(str(ds.RequestedProcedureComments)) > 2048]
    assert len(long_ones) == 1
    starts = [
        (
            ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate,
            ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime,
        )
        for ds in served
    ]
    assert starts == sorted(starts)


def test_the_key_table_uses_the_data_dictionary_vrs() -> None:
    """Responses are encoded with the VR the table says: it must be the dictionary's."""
    from pydicom.datadict import dictionary_VR

    wrong = [k.keyword for k in (*TOP_LEVEL.values(), *SPS_LEVEL.values()) if k.vr != dictionary_VR(k.keyword)]
    assert wrong == []
