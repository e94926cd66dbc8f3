"""HL7 test helpers: message builders, an in-process listener on a free port,
and a real MLLP client (python-hl7's)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import hl7
import pytest
from hl7.client import MLLPClient

from hl7_interface.listener import ListenerThread


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment with the given 1-based fields, every other field empty."""
    values = [""] * (max(fields) if fields else 0)
    for number, value in fields.items():
        values[number - 1] = value
    return "|".join([name, *values])


def msh(message_type: str, control_id: str, *, version: str = "2.5.1", charset: str = "", sender: str = "HIS") -> str:
    """MSH with fields numbered as the standard does (MSH-1 is the '|' itself)."""
    fields = {3: "HIS_APP", 4: sender, 5: "RIS", 6: "MNH", 7: "20261201065500", 9: message_type, 10: control_id}
    fields |= {11: "P", 12: version} | ({18: charset} if charset else {})
    return "MSH|^~\\&|" + "|".join(fields.get(n, "") for n in range(3, max(fields) + 1))


def pid(
    patient_id: str = "MNH0100",
    family: str = "Mollel",
    given: str = "Amani",
    *,
    birth: str = "19900512",
    sex: str = "M",
    nhif: str = "NH123456",
) -> str:
    ids = f"{patient_id}^^^MNH^MR" + (f"~{nhif}^^^NHIF^NH" if nhif else "")
    return segment("PID", {1: "1", 3: ids, 5: f"{family}^{given}^Joseph", 7: birth, 8: sex, 13: "0754 111 222"})


PV1 = segment("PV1", {1: "1", 2: "O", 8: "D123^Kimaro^Neema"})


def adt(event: str, control_id: str, *, pid_segment: str | None = None, extra: tuple[str, ...] = (), **kw: str) -> str:
    segments = [msh(f"ADT^{event}^ADT_A01", control_id, **kw), f"EVN|{event}|20261201065500", pid_segment or pid(), PV1]
    return "\r".join([*segments, *extra]) + "\r"


def orm(
    control: str,
    control_id: str,
    *,
    placer: str = "PLC1001",
    code: str = "CTHEAD",
    when: str = "20261201100000",
    reason: str = "Headache for 3 days",
    pid_segment: str | None = None,
    orc_extra: dict[int, str] | None = None,
    **kw: str,
) -> str:
    orc = segment("ORC", {1: control, 2: placer, 7: f"^^^{when}^^R" if when else ""} | (orc_extra or {}))
    obr = segment("OBR", {1: "1", 2: placer, 4: f"{code}^CT Head^RIS", 13: reason})
    return "\r".join([msh("ORM^O01^ORM_O01", control_id, **kw), pid_segment or pid(), PV1, orc, obr]) + "\r"


def ack_of(reply: bytes | str) -> hl7.Message:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    return hl7.parse(text.strip("\x0b\x1c\r\n") + "\r")


def ack_code(reply: bytes | str) -> str:
    return str(ack_of(reply).segment("MSA")(1))


class Sender:
    """A real MLLP client: python-hl7's MLLPClient, one connection; inside TLS
    with ``tls`` (its connected socket wrapped, as an ssl MLLP client does)."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None):
        self.client = MLLPClient("127.0.0.1", port)
        self.client.socket.settimeout(20)
        if tls is not None:
            self.client.socket = tls.wrap_socket(self.client.socket, server_hostname="localhost")

    def send(self, message: str | bytes) -> bytes:
        data = message if isinstance(message, bytes) else message.encode("utf-8")
        reply = bytearray(self.client.send_message(data))
        while not reply.endswith(b"\x1c\r"):  # MLLPClient reads one recv(); finish the frame
            chunk = self.client.socket.recv(65536)
            if not chunk:
                break
            reply += chunk
        return bytes(reply)

    def raw(self, data: bytes) -> None:
        self.client.socket.sendall(data)

    def read_frame(self) -> bytes:
        reply = bytearray()
        while not reply.endswith(b"\x1c\r"):
            chunk = self.client.socket.recv(65536)
            if not chunk:
                break
            reply += chunk
        return bytes(reply)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def listener(transactional_db: None) -> Iterator[int]:
    thread = ListenerThread(host="127.0.0.1", port=0, workers=2, max_bytes=512 * 1024, frame_timeout=2)
    port = thread.start()
    yield port
    thread.stop()


@pytest.fixture
def sender(listener: int) -> Iterator[Sender]:
    client = Sender(listener)
    yield client
    client.close()
