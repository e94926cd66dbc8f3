"""The HL7 listener fed what broken senders and hostile neighbours send:
every frame that ends with the MLLP trailer gets an ACK and an inbox row
holding its bytes exactly; idle and surplus connections are closed."""

from __future__ import annotations

import contextlib
import random
import socket
import time
from collections.abc import Iterator

import pytest

from hl7_interface.listener import ListenerThread
from hl7_interface.models import InboundMessage, InboundStatus
from tests.hl7_interface.conftest import Sender, ack_code, ack_of, adt, orm

SB, END = b"\x0b", b"\x1c\r"


def mllp_exchange(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(SB + payload + END)
    reply = bytearray()
    while not reply.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return bytes(reply)


@pytest.fixture
def strict_listener(transactional_db: None) -> Iterator[int]:
    thread = ListenerThread(
        host="127.0.0.1",
        port=0,
        workers=2,
        max_bytes=64 * 1024,
        frame_timeout=1,
        idle_timeout=1,
        max_connections=16,
        max_connections_per_peer=2,
    )
    port = thread.start()
    yield port
    thread.stop()


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (adt("A04", "N1").encode().replace(b"Mollel", b"Mol\x00lel"), "NUL byte (0x00) at byte"),
        (b"\x00" * 40, "NUL byte"),
        (b"MSH\rPID|1||X\r", "too short"),
        (b"MSH|", "does not begin with an MSH segment"),
        (b"MSH|^~\\&\r", "MSH-9 (message type) is empty"),
    ],
)
def test_a_frame_that_once_got_no_answer_gets_ar_and_is_kept_byte_for_byte(
    sender: Sender, payload: bytes, fragment: str
) -> None:
    reply = sender.send(payload)
    assert ack_code(reply) == "AR"
    assert fragment in str(ack_of(reply).segment("ERR")(8))
    row = InboundMessage.objects.get()
    assert bytes(row.raw) == payload
    assert row.status == InboundStatus.REJECTED
    assert "\x00" not in row.text


def test_a_message_over_the_limit_names_the_limit_and_says_what_was_kept(strict_listener: int) -> None:
    sender = Sender(strict_listener)
    big = adt("A04", "BIG", extra=("NTE|1||" + "x" * 700_000,)).encode()
    reply = sender.send(big)
    sender.close()
    assert ack_code(reply) == "AR"
    text = str(ack_of(reply).segment("ERR")(8))
    assert f"message of {len(big)} bytes exceeds the limit of 65536 bytes" in text
    assert "only its first 524288 bytes are kept" in text
    row = InboundMessage.objects.get()
    assert bytes(row.raw) == big[:524288]
    assert "only its first 524288 bytes are kept" in row.error


def test_a_slow_drip_frame_is_refused_when_its_time_is_up(strict_listener: int) -> None:
    with socket.create_connection(("127.0.0.1", strict_listener), timeout=10) as sock:
        sock.sendall(SB + b"MSH|^~\\&|HIS")
        started = time.monotonic()
        reply = bytearray()
        while not reply.endswith(END):
            sock.sendall(b"|")  # a byte at a time keeps coming, but the frame never ends
            sock.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                reply += sock.recv(65536)
            assert time.monotonic() - started < 5, "the dripping frame was never refused"
    assert ack_code(bytes(reply)) == "AR"
    assert "no end of block within 1 s" in str(ack_of(bytes(reply)).segment("ERR")(8))


def test_an_idle_connection_is_closed(strict_listener: int) -> None:
    with socket.create_connection(("127.0.0.1", strict_listener), timeout=5) as sock:
        assert ack_code(mllp_exchange(sock, orm("NW", "I1").encode())) in ("AA", "AE")
        assert sock.recv(1) == b""  # closed by the listener after 1 s of silence


def test_connections_beyond_the_per_peer_cap_are_closed_at_once(strict_listener: int) -> None:
    held = [socket.create_connection(("127.0.0.1", strict_listener), timeout=5) for _ in range(2)]
    try:
        with socket.create_connection(("127.0.0.1", strict_listener), timeout=5) as third:
            assert third.recv(1) == b""
        other = socket.socket()
        other.bind(("127.0.0.7", 0))
        other.settimeout(5)
        other.connect(("127.0.0.1", strict_listener))
        with other:
            assert ack_code(mllp_exchange(other, adt("A04", "P1").encode())) == "AA"
    finally:
        for sock in held:
            sock.close()


def mutations(seed: int, count: int) -> Iterator[bytes]:
    """Broken messages of every kind a sender produces: garbage, bad encoding
    characters, missing MSH fields, NUL bytes, cut segments, wrong charsets."""
    rng = random.Random(seed)
    bases = [adt("A04", "M"), adt("A08", "M"), orm("NW", "M"), orm("CA", "M"), orm("XO", "M")]
    for n in range(count):
        base = bytearray(rng.choice(bases).replace("|M|", f"|FZ{n:05d}|", 1).encode())
        kind = n % 8
        if kind == 0:  # random garbage
            data = (
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
                .replace(b"\x0b", b"")
                .replace(b"\x1c", b"")
            )
        elif kind == 1:  # bad encoding characters
            base[4:8] = bytes(rng.choice(b"abc|^~\\& \x00") for _ in range(4))
            data = bytes(base)
        elif kind == 2:  # MSH fields cut off
            data = bytes(base[: rng.randrange(3, 60)])
        elif kind == 3:  # NUL bytes anywhere
            for _ in range(rng.randrange(1, 4)):
                base.insert(rng.randrange(len(base)), 0)
            data = bytes(base)
        elif kind == 4:  # flipped bytes
            for _ in range(rng.randrange(1, 10)):
                base[rng.randrange(len(base))] = rng.choice(b"|^~\\&\r\n\xff\xc3ABC019 ")
            data = bytes(base)
        elif kind == 5:  # segments dropped or repeated
            segments = bytes(base).split(b"\r")
            rng.shuffle(segments[1:])
            data = b"\r".join(segments[: rng.randrange(1, len(segments) + 1)])
        elif kind == 6:  # a declared charset the bytes do not follow
            data = bytes(base).replace(b"|2.5.1", b"|2.5.1||||||8859/1", 1) + "Dubé é".encode("utf-16")
        else:  # a huge field
            data = bytes(base) + b"NTE|1||" + b"y" * rng.randrange(1000, 80_000) + b"\r"
        yield data.replace(b"\x0b", b"").replace(b"\x1c", b"") or b"?"


def test_a_thousand_mutated_frames_each_get_an_ack_and_an_inbox_row(listener: int) -> None:
    frames = list(mutations(seed=20261201, count=1000))
    replies: list[str] = []
    with socket.create_connection(("127.0.0.1", listener), timeout=30) as sock:
        for frame in frames:
            reply = mllp_exchange(sock, frame)
            assert reply.endswith(END), f"no ACK for {frame[:40]!r}"
            replies.append(ack_code(reply))
    assert len(replies) == 1000
    assert set(replies) <= {"AA", "AE", "AR"}
    rows = {bytes(raw) for raw in InboundMessage.objects.values_list("raw", flat=True)}
    assert all(frame in rows for frame in frames), "a frame that was answered is missing from the inbox"
    # and the listener still takes a good message
    with socket.create_connection(("127.0.0.1", listener), timeout=30) as sock:
        assert ack_code(mllp_exchange(sock, adt("A04", "AFTER-FUZZ").encode())) == "AA"
