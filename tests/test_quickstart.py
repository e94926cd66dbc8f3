"""README command 1 as a hospital IT admin runs it: ``scripts/start`` on the
embedded defaults (SQLite in the var folder, no Redis, the file broker),
with its demo data. The suite itself runs on PostgreSQL; this is the one
place CI runs the whole system on SQLite, each part over its real protocol."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.dicom_gateway.conftest import findscu
from tests.dicom_gateway.test_command import free_port
from tests.hl7_interface.conftest import Sender, ack_code, adt
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


class QuickStart:
    def __init__(self, tmp_path: Path):
        self.web, self.dicom, self.hl7 = free_port(), free_port(), free_port()
        self.var = tmp_path / "var"
        self.log = tmp_path / "start.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
        }
        env |= {
            "MWL_VAR_DIR": str(self.var),
            "WEB_BIND": f"127.0.0.1:{self.web}",
            "WEB_WORKERS": "1",
            "MWL_PORT": str(self.dicom),
            "HL7_PORT": str(self.hl7),
        }
        self.process = subprocess.Popen(
            ["bash", "scripts/start"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )

    def alive(self) -> None:
        assert self.process.poll() is None, "scripts/start exited:\n" + self.log.read_text()[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # scripts/start's trap stops what it started
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def quick_start(tmp_path: Path) -> Iterator[QuickStart]:
    running = QuickStart(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status)
    except OSError:
        return 0


def test_scripts_start_runs_the_whole_system_on_sqlite_with_demo_data(quick_start: QuickStart) -> None:
    def web_up() -> bool:
        quick_start.alive()
        return http_status(f"http://127.0.0.1:{quick_start.web}/healthz") == 200

    wait_until(web_up, timeout=240, what="scripts/start to migrate, load the demo and serve the web app", interval=0.5)
    assert (quick_start.var / "mwl_ris.sqlite3").is_file()
    assert http_status(f"http://127.0.0.1:{quick_start.web}/accounts/login/") == 200

    def gateway_up() -> bool:
        quick_start.alive()
        echo = subprocess.run(
            ["echoscu", "-aet", "MNH_CT1", "-aec", "RIS_MWL", "127.0.0.1", str(quick_start.dicom)],
            capture_output=True,
            check=False,
        )
        return echo.returncode == 0

    wait_until(gateway_up, timeout=60, what="the gateway to answer C-ECHO", interval=0.2)
    today = dt.datetime.now(ZoneInfo("Africa/Dar_es_Salaam")).date()
    code, items = findscu(
        quick_start.dicom,
        [
            "PatientName",
            "PatientID",
            "AccessionNumber",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=MNH_CT1",
            f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={today:%Y%m%d}-",
        ],
        calling="MNH_CT1",
    )
    assert code == 0
    assert items, "the demo data gives the CT scanner a worklist"
    assert all(item["PatientID"] and item["AccessionNumber"] for item in items)

    def listener_up() -> Sender | None:
        quick_start.alive()
        try:
            return Sender(quick_start.hl7)
        except OSError:
            return None

    sender = wait_until(listener_up, timeout=60, what="the HL7 listener to accept a connection", interval=0.2)
    assert sender is not None
    try:
        assert ack_code(sender.send(adt("A04", "QS0001"))) == "AA"
    finally:
        sender.close()

    # and the set-up check passes on it, as README command 1 leaves it (demo data, a first backup)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env |= {"MWL_VAR_DIR": str(quick_start.var), "MWL_PORT": str(quick_start.dicom), "HL7_PORT": str(quick_start.hl7)}
    check = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "ris_check", "--worker-wait", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "checks passed" in check.stdout
