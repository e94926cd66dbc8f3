"""The hl7_listener command as a separate process: killed mid-stream, it
loses no message it acknowledged, and the resend is processed once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from hl7_interface.models import InboundMessage, InboundStatus
from orders.models import Order, Procedure
from scheduling.models import Station
from tests.dicom_gateway.test_command import database_url, free_port
from tests.hl7_interface.conftest import Sender, ack_code, orm
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def start_listener(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def accepting() -> bool:
        assert process.poll() is None, "the listener exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    wait_until(accepting, timeout=20, what="the listener to accept a connection", interval=0.05)
    return process


@pytest.mark.django_db(transaction=True)
def test_killing_the_listener_mid_stream_loses_no_acknowledged_message(ct_station: Station, ct_head: Procedure) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    messages = [orm("NW", f"K{n:03d}", placer=f"PK{n:03d}", when="") for n in range(120)]
    port = free_port()
    process = start_listener(port)
    acked: list[int] = []
    sender = Sender(port)
    try:
        for n, message in enumerate(messages):
            if n == 40:
                process.send_signal(signal.SIGKILL)  # no clean shutdown
            try:
                reply = sender.send(message)
            except OSError:
                break
            if not reply:
                break
            assert ack_code(reply) == "AA"
            acked.append(n)
    finally:
        sender.close()
        process.wait(10)
    assert 40 <= len(acked) < len(messages)
    # every acknowledged message was committed before its ACK
    processed = set(InboundMessage.objects.filter(status=InboundStatus.PROCESSED).values_list("control_id", flat=True))
    assert {f"K{n:03d}" for n in acked} <= processed

    # the sender resends everything it has no ACK for, to a restarted listener
    process = start_listener(port)
    sender = Sender(port)
    try:
        for message in messages[len(acked) :]:
            assert ack_code(sender.send(message)) == "AA"
    finally:
        sender.close()
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "hl7_listener stopped" in output
    assert Order.objects.count() == len(messages)  # each order once
    assert InboundMessage.objects.filter(status=InboundStatus.PROCESSED).count() == len(messages)
