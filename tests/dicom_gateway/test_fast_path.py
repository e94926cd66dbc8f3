"""The gateway's shortcuts around pynetdicom's per-response and per-query work
(dicom_gateway/dimse.py, find.PLAN_CACHE), checked on a real socket: what
goes over the wire is still what the standard asks, and nothing is served
from a stale plan."""

from __future__ import annotations

import contextlib
import os
import time
from io import BytesIO
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_FIND

from dicom_gateway import wakeups
from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import PLAN_CACHE, FindOutcome, find_worklist
from dicom_gateway.keys import MWL_FIND_SOP_CLASS
from dicom_gateway.models import Profile
from dicom_gateway.server import Gateway
from orders.services import order_create
from scheduling.booking import appointment_book
from scheduling.stations import station_update
from tests.conftest import at
from tests.dicom_gateway.conftest import Worklist, findscu, mwl_query, pynetdicom_find
from tests.dicom_gateway.test_server import DAY_LIST
from tests.waiting import wait_until

DAY = {"ScheduledStationAETitle": "CT_ROOM3", "ScheduledProcedureStepStartDate": "20261201"}
# Tests of what accel.py installs only run with it on (CI also runs the gateway's tests with MWL_ACCEL=false).
accelerated_only = pytest.mark.skipif(not settings.MWL_ACCEL, reason="MWL_ACCEL=false: pynetdicom's own path")


@pytest.fixture(autouse=True)
def empty_plan_cache() -> Any:
    PLAN_CACHE.clear()
    yield
    PLAN_CACHE.clear()


def find_recording_pdus(port: int, *, max_pdu: int = 16382) -> tuple[list[int], list[list[tuple[int, int]]]]:
    """C-FIND the CT day list with pynetdicom, recording every P-DATA-TF PDU
    received: per PDU, (message control header, length) of each PDV."""
    pdus: list[list[tuple[int, int]]] = []

    def on_pdu(event: Any) -> None:
        items = getattr(event.pdu, "presentation_data_value_items", None)
        if items is not None:
            pdus.append([(item.data[0], len(item.data)) for item in items])

    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context(MWL_FIND_SOP_CLASS)
    assoc = ae.associate(
        "127.0.0.1", port, ae_title="RIS_MWL", max_pdu=max_pdu, evt_handlers=[(evt.EVT_PDU_RECV, on_pdu)]
    )
    assert assoc.is_established
    statuses = []
    try:
        for status, _identifier in assoc.send_c_find(mwl_query(sps=DAY), MWL_FIND_SOP_CLASS):
            statuses.append(int(status.Status))
    finally:
        assoc.release()
    return statuses, pdus


@accelerated_only
def test_each_match_goes_out_as_one_pdu_holding_command_then_identifier(
    live_worklist: Worklist, gateway: Gateway
) -> None:
    statuses, pdus = find_recording_pdus(gateway.port)
    assert statuses == [0xFF00, 0xFF00, 0x0000]
    # PS3.8 E.2: bit 0 = command, bit 1 = last fragment. Two pending responses,
    # each one PDU with its whole command (0x03) before its whole identifier
    # (0x02); then the final response: a command alone.
    assert [[header for header, _ in pdu] for pdu in pdus] == [[0x03, 0x02], [0x03, 0x02], [0x03]]


def test_responses_larger_than_the_callers_pdu_are_fragmented_as_before(
    live_worklist: Worklist, gateway: Gateway
) -> None:
    statuses, pdus = find_recording_pdus(gateway.port, max_pdu=128)
    assert statuses == [0xFF00, 0xFF00, 0x0000]
    assert all(sum(length + 5 for _, length in pdu) <= 128 for pdu in pdus)  # PDV: length (4) + context ID (1) + data
    headers = [header for pdu in pdus for header, _ in pdu]
    assert headers.count(0x02) == 2  # each identifier ends once
    assert headers.count(0x00) > 0  # in several fragments
    # The same answer as with a large PDU.
    full = pynetdicom_find(gateway.port, mwl_query(sps=DAY))
    assert full.statuses == statuses


def test_findscu_reads_the_combined_pdus(live_worklist: Worklist, gateway: Gateway) -> None:
    for _ in range(2):  # the second time from the plan cache
        code, responses = findscu(gateway.port, DAY_LIST)
        assert code == 0
        assert sorted(r["AccessionNumber"] for r in responses) == sorted(
            [live_worklist.accession("neema"), live_worklist.accession("baraka")]
        )
        assert {r["PatientName"] for r in responses} == {"Mwakyusa^Neema^Joseph", "MWAMBA^Baraka"}


def test_a_repeated_query_sees_the_worklist_as_it_is_now(live_worklist: Worklist, gateway: Gateway) -> None:
    first = pynetdicom_find(gateway.port, mwl_query(sps=DAY))
    assert len(first.identifiers) == 2
    patient = live_worklist.orders["neema"].patient
    order = order_create(patient=patient, procedure=live_worklist.orders["neema"].procedure)
    appointment_book(order=order, station=live_worklist.ct, starts_at=at(15))
    second = pynetdicom_find(gateway.port, mwl_query(sps=DAY))
    assert second.accessions == sorted([*first.accessions, order.accession_number])


def test_a_changed_profile_applies_to_the_same_query(live_worklist: Worklist, gateway: Gateway) -> None:
    assert pynetdicom_find(gateway.port, mwl_query(sps=DAY)).statuses == [0xFF00, 0xFF00, 0x0000]
    limited = Profile.objects.create(name="At most one", max_results=1)
    station_update(station=live_worklist.ct, dicom_profile=limited)
    gateway.policy.invalidate()
    refused = pynetdicom_find(gateway.port, mwl_query(sps=DAY))
    assert refused.statuses == [0xA700]


def test_an_undecodable_identifier_is_the_callers_error(live_worklist: Worklist, gateway: Gateway) -> None:
    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context(MWL_FIND_SOP_CLASS)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL")
    assert assoc.is_established
    try:
        # An item tag where an element should be: pydicom cannot decode it.
        request = C_FIND()
        request.MessageID = 7
        request.AffectedSOPClassUID = MWL_FIND_SOP_CLASS
        request.Priority = 2
        request.Identifier = BytesIO(b"\xfe\xff\x00\xe0\x08\x00\x00\x00abcdefgh")
        context = assoc._get_valid_context(MWL_FIND_SOP_CLASS, "", "scu")
        # As pynetdicom's own send_c_find does: hold the association's reactor
        # so that the response comes to us.
        assoc._reactor_checkpoint.clear()
        wait_until(lambda: assoc._is_paused, timeout=5, what="the requestor's reactor to pause", interval=0.001)
        assert context.context_id is not None
        assoc.dimse.send_msg(request, context.context_id)
        _, response = assoc.dimse.get_msg(block=True)
        assoc._reactor_checkpoint.set()
        assert response is not None
        status, comment = response.Status, str(response.ErrorComment or "")
    finally:
        assoc.release()
    assert status == 0xA900
    assert "cannot be decoded" in comment


@pytest.mark.django_db(transaction=True)
def test_a_planned_query_runs_one_sql_statement_and_fails_c000_when_the_database_is_gone(
    live_worklist: Worklist,
) -> None:
    query = mwl_query(sps=DAY)
    kwargs: dict[str, Any] = {
        "calling_ae": "CT_ROOM3",
        "profile": ProfileSettings(),
        "station_known": True,
        "request_key": ("the same bytes", "1.2.840.10008.1.2"),
    }
    first = list(find_worklist(query, **kwargs))
    with CaptureQueriesContext(connection) as captured:
        second = list(find_worklist(lambda: pytest.fail("a planned request is not decoded again"), **kwargs))
    assert len(captured.captured_queries) == 1
    assert [ds.AccessionNumber for _, ds in second if ds is not None] == [
        ds.AccessionNumber for _, ds in first if ds is not None
    ]
    settings_dict = connection.settings_dict
    saved = settings_dict.get("PORT"), settings_dict.get("NAME")
    connection.close()
    if connection.vendor == "postgresql":
        settings_dict["PORT"] = "1"
    else:
        settings_dict["NAME"] = "/nonexistent/dir/db.sqlite3"
    try:
        outcome = FindOutcome()
        [(failure, _)] = list(find_worklist(query, outcome=outcome, **kwargs))
        assert isinstance(failure, Dataset)
        assert failure.Status == 0xC000
        assert outcome.status == 0xC000
    finally:
        connection.close()
        settings_dict["PORT"], settings_dict["NAME"] = saved
    assert len(list(find_worklist(query, **kwargs))) == len(first)  # back without a restart


@accelerated_only
def test_an_idle_association_costs_no_cpu(live_worklist: Worklist, gateway: Gateway) -> None:
    """The association's two threads wait for work (wakeups.py) instead of
    polling every millisecond: an open, idle association costs next to no CPU."""
    assert wakeups.REACTOR_LOOPS  # pynetdicom's loops were found
    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context(MWL_FIND_SOP_CLASS)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL")
    assert assoc.is_established
    try:
        # The requestor (pynetdicom, in this process too) polls as usual: hold
        # its reactor (as send_c_find does) and slow its network thread down.
        assoc.dul._run_loop_delay = 0.5
        assoc._reactor_checkpoint.clear()
        wait_until(lambda: assoc._is_paused, timeout=5, what="the requestor's reactor to pause", interval=0.001)
        before = os.times()
        time.sleep(1.0)  # the measurement window itself (CPU over one idle second), not a wait for something
        after = os.times()
        assoc._reactor_checkpoint.set()
    finally:
        assoc.release()
    cpu_ms = (after.user + after.system - before.user - before.system) * 1000
    assert cpu_ms < 50  # polling every millisecond: over 100 ms here


def _eventfds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    return count


def test_finished_associations_leave_no_descriptor_open(live_worklist: Worklist, gateway: Gateway) -> None:
    """Each association's eventfd is closed by its network thread as it ends,
    not left for the garbage collector."""
    pynetdicom_find(gateway.port, mwl_query(sps=DAY))  # warm-up: whatever lives as long as the gateway
    wait_until(lambda: not gateway.ae.active_associations, timeout=3, what="the warm-up association to end")
    before = _eventfds()
    for _ in range(20):
        assert len(pynetdicom_find(gateway.port, mwl_query(sps=DAY)).identifiers) == 2
    wait_until(lambda: _eventfds() <= before, timeout=3, what="the associations' eventfds to close", interval=0.05)
    assert _eventfds() <= before
