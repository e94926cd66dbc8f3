"""The gateway attacked as a hostile neighbour or a broken sender would:
connections that never associate, peers that hoard associations, values no
VR allows, records the database refuses, and the pynetdicom shortcuts off."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pydicom.dataset import Dataset
from pynetdicom import AE

from audit.models import AuditRecord
from dicom_gateway import status, wakeups
from dicom_gateway.admission import Limits
from dicom_gateway.encoding import ProfileSettings
from dicom_gateway.find import find_worklist
from dicom_gateway.keys import VERIFICATION_SOP_CLASS as Verification
from dicom_gateway.models import AssociationRecord, CapturedQuery, RecorderJournal
from dicom_gateway.server import Gateway
from tests.dicom_gateway.conftest import Worklist, mwl_query, pynetdicom_find
from tests.waiting import wait_until

DAY_LIST = {"ScheduledStationAETitle": "CT_ROOM3", "ScheduledProcedureStepStartDate": "20261201"}
# The first 10 bytes of an A-ASSOCIATE-RQ announcing 200 more: it never comes.
HALF_REQUEST = bytes([0x01, 0x00]) + struct.pack(">L", 210) + b"\x00\x01\x00\x00"


def connect_from(source: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def small_gateway(transactional_db: None, tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(
        ae_title="RIS_MWL",
        limits=Limits(max_associations=8, max_per_peer=2, max_pending=16, max_pending_per_peer=2, request_timeout=1),
        journal_dir=tmp_path / "journal",
    )
    gw.start("127.0.0.1", 0)
    yield gw
    gw.stop()


def test_a_station_is_served_while_silent_and_half_open_connections_come_and_go(
    live_worklist: Worklist, gateway: Gateway
) -> None:
    stop = threading.Event()
    opened = [0]

    def attacker(source: str, payload: bytes) -> None:
        sockets: list[socket.socket] = []
        while not stop.is_set() and opened[0] < 2000:
            try:
                sock = connect_from(source, gateway.port)
                if payload:
                    sock.sendall(payload)
                sockets.append(sock)
                opened[0] += 1
            except OSError:
                pass
            if len(sockets) >= 10:  # come and go: the oldest close, new ones open
                sockets.pop(0).close()
        for sock in sockets:
            sock.close()

    # 100 silent and 70 half-open connections at any time, from 17 addresses.
    threads = [threading.Thread(target=attacker, args=(f"127.0.0.{10 + n}", b"")) for n in range(10)]
    threads += [threading.Thread(target=attacker, args=(f"127.0.0.{30 + n}", HALF_REQUEST)) for n in range(7)]
    for thread in threads:
        thread.start()
    try:
        # let the flood build up before the station asks
        wait_until(lambda: opened[0] >= 200, timeout=30, what="200 attacking connections", interval=0.01)
        slowest = 0.0
        for _ in range(5):
            started = time.monotonic()
            result = pynetdicom_find(gateway.port, mwl_query(sps=DAY_LIST))
            slowest = max(slowest, time.monotonic() - started)
            assert result.statuses[-1] == status.SUCCESS
            assert len(result.identifiers) == 2
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    # Starved, it would wait out the request timeout (5 s) or more: that is what this
    # checks, not speed (bench/ measures that). Under this flood of 17 threads in the
    # same process, on 2 busy cores beside the other test worker, a day list took up
    # to 1.1-1.3 s on pynetdicom's own path (MWL_ACCEL=false) and once 1.15 s with the
    # gateway's wake-ups (CI, 2026-12-07); a limit under 1 s failed runs that served.
    limit = 2.5
    assert slowest < limit, f"a registered station waited {slowest:.2f} s (starved: 5 s or more)"


def test_a_peer_that_closes_mid_request_frees_its_place_at_once(
    live_worklist: Worklist, small_gateway: Gateway
) -> None:
    for _ in range(5):  # more than the per-address cap of 2, one after another
        sock = connect_from("127.0.0.2", small_gateway.port)
        sock.sendall(HALF_REQUEST)
        sock.close()
    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", small_gateway.port, ae_title="RIS_MWL", bind_address=("127.0.0.2", 0))
    assert assoc.is_established
    assoc.release()


def test_a_connection_that_sends_nothing_is_closed_after_the_request_timeout(small_gateway: Gateway) -> None:
    silent = connect_from("127.0.0.3", small_gateway.port)
    half = connect_from("127.0.0.3", small_gateway.port)
    half.sendall(HALF_REQUEST)
    over_the_cap = connect_from("127.0.0.3", small_gateway.port)
    assert closed_by_server(over_the_cap, within=1.0)  # the third from one address: closed at once
    assert closed_by_server(silent, within=3.0)
    assert closed_by_server(half, within=3.0)
    small_gateway.recorder.flush()
    reasons = set(AssociationRecord.objects.values_list("reason", flat=True))
    assert any("without an A-ASSOCIATE-RQ" in r for r in reasons)
    assert any("no complete A-ASSOCIATE-RQ within 1 s" in r for r in reasons)


def test_a_first_pdu_that_is_not_an_association_request_is_aborted(small_gateway: Gateway) -> None:
    sock = connect_from("127.0.0.4", small_gateway.port)
    sock.sendall(bytes([0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB]))  # a P-DATA-TF first
    sock.settimeout(3)
    assert sock.recv(10)[:1] == b"\x07"  # A-ABORT
    assert closed_by_server(sock, within=3.0)


def test_one_peer_cannot_hoard_the_associations(live_worklist: Worklist, small_gateway: Gateway) -> None:
    hoarded = []
    for _ in range(4):
        ae = AE(ae_title="CT_ROOM3")  # a registered AE title, spoofed from another host
        ae.add_requested_context(Verification)
        hoarded.append(ae.associate("127.0.0.1", small_gateway.port, ae_title="RIS_MWL", bind_address=("127.0.0.5", 0)))
    try:
        assert [a.is_established for a in hoarded] == [True, True, False, False]
        refused = hoarded[2].acceptor.primitive
        assert refused is not None
        assert (refused.result, refused.result_source, refused.diagnostic) == (0x02, 0x03, 0x02)
        result = pynetdicom_find(small_gateway.port, mwl_query(sps=DAY_LIST))  # from 127.0.0.1
        assert result.statuses[-1] == status.SUCCESS
    finally:
        for assoc in hoarded:
            if assoc.is_established:
                assoc.release()
    small_gateway.recorder.flush()
    assert AssociationRecord.objects.filter(reason__contains="associations from 127.0.0.5 already").count() == 2


# --- values no VR allows ------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "fragment"),
    [
        ({"PatientName": "MWA\x00*"}, "PatientName contains a NUL character"),
        ({"PatientID": "MNH\x000001"}, "PatientID contains a NUL character"),
        ({"PatientName": "*" + "A?" * 64_000 + "*"}, "PatientName is longer than PN allows"),
        ({"PatientID": "X" * 80}, "PatientID is longer than LO allows"),
        ({"AccessionNumber": "A" * 17}, "AccessionNumber is longer than SH allows"),
    ],
)
def test_a_value_no_vr_allows_gets_a900(worklist: Worklist, top: dict[str, str], fragment: str) -> None:
    [(failure, identifier)] = list(
        find_worklist(mwl_query(top), calling_ae="CT_ROOM3", profile=ProfileSettings(), station_known=True)
    )
    assert identifier is None
    assert isinstance(failure, Dataset)
    assert failure.Status == status.IDENTIFIER_INVALID
    assert fragment in failure.ErrorComment


def test_a_nul_in_one_query_costs_no_other_query_its_record(live_worklist: Worklist, gateway: Gateway) -> None:
    for _ in range(5):
        assert pynetdicom_find(gateway.port, mwl_query(sps=DAY_LIST)).statuses[-1] == status.SUCCESS
    bad = pynetdicom_find(gateway.port, mwl_query({"PatientName": "MWA\x00*"}))
    assert bad.statuses == [status.IDENTIFIER_INVALID]
    gateway.recorder.flush()
    assert CapturedQuery.objects.count() == 6
    statuses = sorted(AuditRecord.objects.filter(action="c-find").values_list("after__status", flat=True))
    assert statuses == [0, 0, 0, 0, 0, status.IDENTIFIER_INVALID]


def test_a_row_the_database_refuses_is_left_out_and_the_rest_written(live_worklist: Worklist, gateway: Gateway) -> None:
    recorder = gateway.recorder
    good: dict[str, Any] = dict(
        keys="", peer="127.0.0.1:1", identifier=None, matches=0, status=0, duration_ms=1.0, received_at=timezone.now()
    )
    items = [
        ("query", {**good, "calling_ae_title": "CT_ROOM3"}),
        ("query", {**good, "calling_ae_title": "X" * 40}),  # longer than the column: PostgreSQL refuses it
        ("query", {**good, "calling_ae_title": "US_ROOM4"}),
    ]
    recorder._write(items, "test-journal", 1234)
    assert sorted(CapturedQuery.objects.values_list("calling_ae_title", flat=True)) == ["CT_ROOM3", "US_ROOM4"]
    assert AuditRecord.objects.filter(action="c-find").count() == 2
    assert RecorderJournal.objects.get(name="test-journal").shipped_offset == 1234


# --- the pynetdicom shortcuts (accel.py) ----------------------------------------------


def test_renamed_reactor_loops_leave_the_gateway_polling() -> None:
    class RenamedAssociation:
        def _run_reactor_v4(self) -> None: ...

    class RenamedDUL:
        def run_reactor(self) -> None: ...

    assert wakeups.reactor_loops(RenamedAssociation, RenamedDUL) == frozenset()
    assert len(wakeups.reactor_loops()) == 2  # the pinned pynetdicom has both


def test_with_no_reactor_loops_found_the_gateway_still_serves(
    live_worklist: Worklist, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wakeups, "REACTOR_LOOPS", frozenset())
    result = pynetdicom_find(gateway.port, mwl_query(sps=DAY_LIST))
    assert result.statuses == [status.PENDING, status.PENDING, status.SUCCESS]
    assert not any(hasattr(t, "mwl_wait") for t in threading.enumerate() if t.name.startswith("AcceptorThread"))


def test_the_gateway_reports_whether_its_shortcuts_are_on(
    live_worklist: Worklist, transactional_db: None, settings: Any, tmp_path: Path
) -> None:
    settings.MWL_ACCEL = False
    plain = Gateway(ae_title="RIS_MWL", journal_dir=tmp_path / "j")
    plain.start("127.0.0.1", 0)
    try:
        assert plain.accelerated is False
        assert plain.server is not None
        assert plain.server.RequestHandlerClass.__name__ == "RequestHandler"
        result = pynetdicom_find(plain.port, mwl_query(sps=DAY_LIST))
        assert result.statuses == [status.PENDING, status.PENDING, status.SUCCESS]
    finally:
        plain.stop()
