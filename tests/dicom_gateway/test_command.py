"""The mwl_gateway command as a modality sees it: a separate process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.dicom_gateway.conftest import Worklist, findscu
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    def echoes() -> bool:
        assert process.poll() is None, "the gateway exited"
        echo = subprocess.run(
            ["echoscu", "-aet", "CT_ROOM3", "-aec", "RIS_MWL", "127.0.0.1", str(port)], capture_output=True, check=False
        )
        return echo.returncode == 0

    wait_until(echoes, timeout=10, what="the gateway to answer C-ECHO", interval=0.05)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [1, 2])
def test_the_command_serves_then_stops_cleanly_on_sigterm(live_worklist: Worklist, workers: int) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mwl_gateway", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(port, process)
        for _ in range(4):  # several associations, spread over the workers
            code, responses = findscu(port, ["PatientID=MNH0001", "AccessionNumber"])
            assert code == 0
            assert [r["AccessionNumber"] for r in responses] == [live_worklist.accession("neema")]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0
    assert output.count("mwl_gateway listening") == workers
    assert output.count("mwl_gateway stopped") == workers
    assert "C-FIND peer=" in output
    assert "matches=1" in output
    assert "MNH0001" not in output  # no patient data in the log
