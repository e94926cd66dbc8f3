"""The listener over a real socket: a real MLLP client sends, DCMTK findscu
checks what the modality then sees."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dicom_gateway.find import RESPONSE_CACHE
from dicom_gateway.server import Gateway
from hl7_interface.listener import ListenerThread
from hl7_interface.models import InboundMessage, InboundStatus
from orders.models import ExamStatus, Order, Procedure
from patients.models import Patient
from scheduling.models import Station
from tests.dicom_gateway.conftest import findscu
from tests.hl7_interface.conftest import Sender, ack_code, ack_of, adt, orm, pid, segment
from tests.waiting import wait_until

KEYS = [
    "PatientName",
    "PatientID",
    "AccessionNumber",
    "RequestedProcedureDescription",
    "ReferringPhysicianName",
    "PlacerOrderNumberImagingServiceRequest",
    "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT_ROOM3",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
]


@pytest.fixture
def gateway(transactional_db: None) -> Iterator[int]:
    RESPONSE_CACHE.clear()
    gw = Gateway(ae_title="RIS_MWL")
    gw.start("127.0.0.1", 0)
    yield gw.port
    gw.stop()
    RESPONSE_CACHE.clear()


def modality_sees(port: int) -> list[dict[str, str]]:
    code, responses = findscu(port, KEYS)
    assert code == 0
    return responses


def test_adt_then_order_reaches_the_modality_and_follows_changes(
    sender: Sender, gateway: int, ct_station: Station, ct_head: Procedure, frozen_clock: Any
) -> None:
    assert ack_code(sender.send(adt("A04", "M1"))) == "AA"
    assert ack_code(sender.send(orm("NW", "M2"))) == "AA"
    [item] = modality_sees(gateway)
    order = Order.objects.get()
    assert item["PatientName"] == "Mollel^Amani^Joseph"
    assert item["PatientID"] == "MNH0100"
    assert item["AccessionNumber"] == order.accession_number
    assert item["RequestedProcedureDescription"] == "CT Head without contrast"
    assert item["ReferringPhysicianName"] == "Kimaro^Neema"
    assert item["PlacerOrderNumberImagingServiceRequest"] == "PLC1001"
    assert (item["ScheduledProcedureStepStartDate"], item["ScheduledProcedureStepStartTime"][:4]) == (
        "20261201",
        "1000",
    )

    frozen_clock.shift(1)  # the gateway caches responses per item update time
    assert ack_code(sender.send(adt("A08", "M3", pid_segment=pid(family="Shirima")))) == "AA"
    [item] = modality_sees(gateway)
    assert item["PatientName"] == "Shirima^Amani^Joseph"

    assert ack_code(sender.send(orm("CA", "M4"))) == "AA"
    assert modality_sees(gateway) == []


def test_a40_merge_moves_the_order_to_the_surviving_patient_id(
    sender: Sender, gateway: int, ct_station: Station, ct_head: Procedure, frozen_clock: Any
) -> None:
    assert ack_code(sender.send(orm("NW", "M1", pid_segment=pid("TMP9", nhif="")))) == "AA"
    assert [i["PatientID"] for i in modality_sees(gateway)] == ["TMP9"]
    assert ack_code(sender.send(adt("A04", "M2"))) == "AA"
    frozen_clock.shift(1)
    assert ack_code(sender.send(adt("A40", "M3", extra=(segment("MRG", {1: "TMP9^^^MNH^MR"}),)))) == "AA"
    assert [i["PatientID"] for i in modality_sees(gateway)] == ["MNH0100"]


def _frame(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return b"\x0b" + data + b"\x1c\r"


def test_malformed_messages_are_nacked_kept_and_the_listener_keeps_serving(
    sender: Sender, ct_station: Station, ct_head: Procedure
) -> None:
    cases = [
        (b"EVN|A04\rPID|1||X\r", "AR"),  # no MSH
        (adt("A04", "B2").replace("^~\\&", "^^^^").encode(), "AR"),  # wrong encoding characters
        (adt("A04", "B3").replace("ADT^A04^ADT_A01", "ZZZ^Z01").encode(), "AR"),  # unknown message type
        (orm("NW", "B4", when="20261399250000").encode(), "AE"),  # invalid date
        (adt("A04", "B5", pid_segment=pid(birth="19900230")).encode(), "AE"),  # invalid birth date
    ]
    for raw, code in cases:
        assert ack_code(sender.send(raw)) == code, raw[:60]
    # a 1 MB message: over the 512 KiB limit
    big = adt("A04", "B6", extra=("NTE|1||" + "x" * 1_000_000,))
    reply = sender.send(big)
    assert ack_code(reply) == "AR"
    assert str(ack_of(reply).segment("MSA")(2)) == "B6"
    assert "exceeds the limit" in str(ack_of(reply).segment("ERR")(8))
    # a truncated frame: the sender starts the next message before ending this one
    sender.raw(b"\x0b" + adt("A04", "B7").encode()[:90])
    reply = sender.send(adt("A04", "B8"))
    assert ack_code(reply) == "AR"
    assert "truncated" in str(ack_of(reply).segment("ERR")(8))
    assert ack_code(sender.read_frame()) == "AA"  # B8 itself
    # the listener still serves on this connection
    assert ack_code(sender.send(orm("NW", "B9"))) == "AA"

    kept = dict(InboundMessage.objects.values_list("control_id", "status"))
    assert kept["B2"] == kept["B3"] == kept["B6"] == kept["B7"] == InboundStatus.REJECTED
    assert kept["B4"] == kept["B5"] == InboundStatus.ERROR
    assert kept["B8"] == kept["B9"] == InboundStatus.PROCESSED
    assert InboundMessage.objects.filter(status=InboundStatus.REJECTED, control_id="").count() == 1  # no MSH
    assert len(bytes(InboundMessage.objects.get(control_id="B6").raw)) == len(big)


def test_a_frame_that_never_ends_is_refused_after_the_timeout(sender: Sender) -> None:
    sender.raw(b"\x0b" + adt("A04", "T1").encode())  # no <FS><CR>; the fixture's timeout is 2 s
    reply = sender.read_frame()
    assert ack_code(reply) == "AR"
    assert "no end of block within 2 s" in str(ack_of(reply).segment("ERR")(8))
    assert InboundMessage.objects.get().status == InboundStatus.REJECTED


def test_a_partial_frame_at_disconnect_is_kept(listener: int) -> None:
    with socket.create_connection(("127.0.0.1", listener)) as s:
        s.sendall(b"\x0b" + adt("A04", "P1").encode()[:80])
    wait_until(InboundMessage.objects.exists, timeout=4, what="the partial frame to be kept")
    row = InboundMessage.objects.get()
    assert row.status == InboundStatus.REJECTED
    assert "connection closed" in row.error


def test_each_connection_is_applied_in_order_adt_before_orm(
    sender: Sender, ct_station: Station, ct_head: Procedure
) -> None:
    sender.raw(_frame(adt("A04", "O1", pid_segment=pid(family="First"))) + _frame(orm("NW", "O2", when="")))
    assert ack_code(sender.read_frame()) == "AA"
    assert ack_code(sender.read_frame()) == "AA"
    assert Patient.objects.get().family_name == "Mollel"  # the ORM's PID (sent second) applied last
    assert Order.objects.get().status == ExamStatus.REQUESTED


def test_python_hl7s_mllp_send_gets_an_ack(
    listener: int, tmp_path: Path, ct_station: Station, ct_head: Procedure
) -> None:
    message = tmp_path / "a04.hl7"
    message.write_bytes(adt("A04", "S1").encode())
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "mllp_send"),
            "--port",
            str(listener),
            "--file",
            str(message),
            "--loose",
            "127.0.0.1",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "MSA|AA|S1" in run.stdout.decode().replace("\r", "\n")


def test_a_peer_outside_the_allowed_list_is_refused(transactional_db: None) -> None:
    thread = ListenerThread(
        host="127.0.0.1", port=0, workers=1, max_bytes=65536, frame_timeout=2, allowed_peers=frozenset({"10.9.9.9"})
    )
    port = thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"\x0b" + adt("A04", "X1").encode() + b"\x1c\r")
            try:
                answer = s.recv(1024)
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed without an answer
    finally:
        thread.stop()
    assert not InboundMessage.objects.exists()
