"""The mwl_gateway process under faults: killed with -9, workers that die or
cannot start, and its database cut off, frozen or slow (through a TCP proxy
the test controls; the machine's PostgreSQL itself is never touched)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from audit.models import AuditRecord
from dicom_gateway import status
from tests.dicom_gateway.conftest import FindResult, Worklist, mwl_query, pynetdicom_find
from tests.dicom_gateway.test_command import ROOT, database_url, free_port, wait_until_serving
from tests.faults import TcpProxy
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
DAY_LIST = mwl_query(sps={"ScheduledStationAETitle": "CT_ROOM3", "ScheduledProcedureStepStartDate": "20261201"})


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("another process cannot see the in-memory SQLite test database")


class GatewayProcess:
    def __init__(self, tmp_path: Path, *, workers: int = 1, database: str | None = None, **env: str):
        self.port = free_port()
        self.log = tmp_path / f"gateway-{self.port}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": database or database_url(),
            "LOG_LEVEL": "INFO",
            "MWL_JOURNAL_DIR": str(tmp_path / "journal"),
            **env,
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "mwl_gateway", "--port", str(self.port), "--workers", str(workers)],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for gateway in started:
        gateway.stop()


def find_within(port: int, seconds: float) -> tuple[FindResult, float]:
    started = time.monotonic()
    result = pynetdicom_find(port, DAY_LIST)
    return result, time.monotonic() - started


def wait_for(condition: object, timeout: float, what: str) -> None:
    wait_until(condition, timeout=timeout, what=what, interval=0.05)  # type: ignore[arg-type]


def test_every_answered_query_is_audited_across_kill_9(
    live_worklist: Worklist, tmp_path: Path, gateways: list[GatewayProcess]
) -> None:
    first = GatewayProcess(tmp_path)
    gateways.append(first)
    wait_until_serving(first.port, first.process)
    for _ in range(30):
        assert pynetdicom_find(first.port, DAY_LIST).statuses[-1] == status.SUCCESS
    first.process.send_signal(signal.SIGKILL)  # the recorder's batch of the last second dies with it
    first.process.wait(10)
    second = GatewayProcess(tmp_path)  # same journal folder: ships what the first had not
    gateways.append(second)
    wait_until_serving(second.port, second.process)

    def all_audited() -> bool:
        return AuditRecord.objects.filter(action="c-find").count() >= 30

    wait_for(all_audited, 15, "the 30 answered queries in the audit trail")
    second.stop()
    assert AuditRecord.objects.filter(action="c-find").count() == 30
    assert "shipped the journal of an earlier gateway process" in second.output()
    assert not list((tmp_path / "journal").glob("*.jsonl")), "every journal shipped and removed"


def test_workers_that_cannot_start_make_the_command_fail_loudly(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "manage.py", "mwl_gateway", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url(), "MWL_JOURNAL_DIR": str(tmp_path / "j")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        taken.close()
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "Address already in use" in output
    assert "mwl_gateway cannot serve" in output


def test_a_worker_that_dies_is_logged_and_replaced(
    live_worklist: Worklist, tmp_path: Path, gateways: list[GatewayProcess]
) -> None:
    gateway = GatewayProcess(tmp_path, workers=2)
    gateways.append(gateway)
    wait_until_serving(gateway.port, gateway.process)
    wait_for(lambda: gateway.output().count("mwl_gateway listening") == 2, 20, "both workers listening")
    pids = [
        int(line.rsplit("pid=", 1)[1].split()[0]) for line in gateway.output().splitlines() if "worker started" in line
    ]
    os.kill(pids[0], signal.SIGKILL)
    wait_for(lambda: gateway.output().count("mwl_gateway listening") == 3, 20, "a replacement worker")
    assert f"worker pid={pids[0]} ended unexpectedly (exit status -9); restarting it" in gateway.output()
    for _ in range(4):
        assert pynetdicom_find(gateway.port, DAY_LIST).statuses[-1] == status.SUCCESS
    gateway.stop()
    assert gateway.process.returncode == 0


@pytest.fixture(params=["false", "true"], ids=["no pool", "pool"])
def proxied(request: Any, tmp_path: Path, gateways: list[GatewayProcess]) -> Iterator[tuple[GatewayProcess, TcpProxy]]:
    """A gateway whose database is behind a TCP proxy, with and without the connection pool."""
    proxy = TcpProxy(("127.0.0.1", int(connection.settings_dict["PORT"] or 5432))).start()
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@127.0.0.1:{proxy.port}/{s['NAME']}"
    gateway = GatewayProcess(tmp_path, database=url, DATABASE_POOL=request.param, MWL_DB_STATEMENT_TIMEOUT_MS="2000")
    gateways.append(gateway)
    try:
        wait_until_serving(gateway.port, gateway.process)
        yield gateway, proxy
    finally:
        gateway.stop()
        proxy.thaw()
        proxy.cut()


def test_a_database_outage_fails_each_query_quickly_and_ends_without_a_restart(
    live_worklist: Worklist, proxied: tuple[GatewayProcess, TcpProxy]
) -> None:
    gateway, proxy = proxied
    assert pynetdicom_find(gateway.port, DAY_LIST).statuses[-1] == status.SUCCESS
    proxy.cut()
    for _ in range(3):
        result, took = find_within(gateway.port, 5)
        assert result.statuses == [status.UNABLE_TO_PROCESS], result
        assert took < 5, f"a failure took {took:.1f} s"
    proxy.restore()
    back = time.monotonic()
    while (result := pynetdicom_find(gateway.port, DAY_LIST)).statuses[-1] != status.SUCCESS:
        assert result.statuses == [status.UNABLE_TO_PROCESS]
        assert time.monotonic() - back < 5, "queries still failing 5 s after the database came back"
    assert len(result.identifiers) == 2


def test_a_frozen_database_gets_a_final_failure_status_not_a_hang(
    live_worklist: Worklist, proxied: tuple[GatewayProcess, TcpProxy]
) -> None:
    gateway, proxy = proxied
    assert pynetdicom_find(gateway.port, DAY_LIST).statuses[-1] == status.SUCCESS
    proxy.freeze()  # connections stay open; nothing comes back
    result, took = find_within(gateway.port, 5)
    assert result.statuses == [status.UNABLE_TO_PROCESS]
    assert took < 5, f"the failure took {took:.1f} s"
    proxy.thaw()
    back = time.monotonic()
    while pynetdicom_find(gateway.port, DAY_LIST).statuses[-1] != status.SUCCESS:
        assert time.monotonic() - back < 5, "queries still failing 5 s after the database answered again"


def test_a_query_slower_than_the_statement_timeout_gets_c000_saying_so(
    live_worklist: Worklist, tmp_path: Path, gateways: list[GatewayProcess]
) -> None:
    gateway = GatewayProcess(tmp_path, MWL_DB_STATEMENT_TIMEOUT_MS="1000")
    gateways.append(gateway)
    wait_until_serving(gateway.port, gateway.process)
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"]
    ) as lock:
        lock.execute("LOCK TABLE worklist_worklistitem IN ACCESS EXCLUSIVE MODE")  # every read now waits
        result, took = find_within(gateway.port, 5)
        lock.rollback()
    assert result.statuses == [status.UNABLE_TO_PROCESS]
    assert "longer than 1000 ms" in result.comment
    assert took < 3
    assert pynetdicom_find(gateway.port, DAY_LIST).statuses[-1] == status.SUCCESS
