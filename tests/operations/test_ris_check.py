"""ris_check: each broken set-up is found and named with its fix; a working one passes.

The checks look at the real things: the test database, Redis, an in-process gateway and
HL7 listener (and, in the last test, every service as its own process, as the quick
start and systemd run them)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from audit.models import Verification
from dicom_gateway.models import CapturedQuery
from dicom_gateway.server import Gateway
from hl7_interface.models import InboundMessage, InboundStatus
from monitoring.jobs import BEAT
from monitoring.models import JobRun
from operations import checks
from operations.checks import FAIL, OK, WARN, Options, Result, run_checks
from scheduling.stations import station_create
from tests.dicom_gateway.test_command import database_url, free_port
from tests.tls_certs import make_certificate
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def run(name: str, options: Options | None = None) -> list[Result]:
    """One check's results."""
    fn = dict(checks.CHECKS)[name]
    return list(fn(options or Options()))


def only(name: str, options: Options | None = None) -> Result:
    results = run(name, options)
    assert len(results) == 1, results
    return results[0]


def station(ae: str, **fields: Any) -> Any:
    return station_create(name=fields.pop("name", ae), modality=fields.pop("modality", "CT"), ae_title=ae, **fields)


# --- broken set-ups, each with its fix -------------------------------------------------------


@pytest.mark.django_db
def test_unapplied_migrations_fail_with_migrate_as_the_fix() -> None:
    assert only("database").status == OK
    MigrationRecorder.Migration.objects.filter(app="monitoring").delete()  # rolled back with the test
    result = only("database")
    assert result.status == FAIL
    assert "migrations are not applied (first: monitoring.0001_initial)" in result.detail
    assert result.fix == "Run: python manage.py migrate"


def ris_check_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "ris_check", "--json", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def by_name(output: str) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in json.loads(output)}


def test_an_unreachable_database_fails_and_nothing_else_is_guessed() -> None:
    done = ris_check_process({"DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere"})
    assert done.returncode == 1
    found = by_name(done.stdout)
    assert found["database"]["status"] == FAIL
    assert "Cannot reach the database" in found["database"]["detail"]
    assert "DATABASE_URL" in found["database"]["fix"]
    assert found["gateway"]["detail"] == "Not checked: the database is not usable."


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_and_a_missing_worker_fail(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    skip = [f"--skip={n}" for n in ("gateway", "hl7 listener", "celery beat", "audit", "backup")]
    closed = ris_check_process(
        {"DATABASE_URL": database_url(), "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"},
        "--worker-wait=1",
        *skip,
    )
    found = by_name(closed.stdout)
    assert closed.returncode == 1
    assert found["broker"]["status"] == FAIL
    assert "Cannot reach the Celery broker" in found["broker"]["detail"]
    assert "redis-cli" in found["broker"]["fix"]
    # a reachable broker that no worker reads from (a Redis database of its own)
    nobody = redis.Redis(db=14)
    nobody.flushdb()
    try:
        idle = ris_check_process(
            {"DATABASE_URL": database_url(), "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14"}, "--worker-wait=1", *skip
        )
    finally:
        nobody.flushdb()
    found = by_name(idle.stdout)
    assert found["broker"]["status"] == OK
    assert found["celery worker"]["status"] == FAIL
    assert "No worker ran a test job within 1 s" in found["celery worker"]["detail"]
    assert "mwl-ris-worker" in found["celery worker"]["fix"]


@pytest.mark.django_db
def test_beat_never_started_or_late_jobs_fail(settings: Any) -> None:
    result = only("celery beat")
    assert result.status == FAIL
    assert result.detail == "Celery beat has never started."
    assert "mwl-ris-beat" in result.fix
    now = timezone.now()
    JobRun.objects.create(task=BEAT, last_started=now - dt.timedelta(days=1))
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        JobRun.objects.create(task=entry["task"], last_started=now - dt.timedelta(minutes=1), last_succeeded=now)
    assert only("celery beat").status == OK
    JobRun.objects.filter(task="audit.tasks.audit_seal_task").update(last_started=now - dt.timedelta(hours=2))
    result = only("celery beat")
    assert result.status == FAIL
    assert "Periodic jobs not run on time: audit-seal" in result.detail
    JobRun.objects.filter(task="audit.tasks.audit_seal_task").update(
        last_started=now, last_failed=now, last_succeeded=now - dt.timedelta(hours=1), last_error="OperationalError: x"
    )
    result = only("celery beat")
    assert result.status == FAIL
    assert "audit-seal: OperationalError: x" in result.detail


@pytest.mark.django_db
def test_a_clock_far_from_the_databases_fails_and_utc_warns(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no clock of its own")
    # the tests' frozen clock (tests/conftest.py) is days away from PostgreSQL's
    results = run("time")
    assert results[-1].status == FAIL
    assert "clock and the database's differ by" in results[-1].detail
    assert "NTP" in results[-1].fix
    settings.TIME_ZONE = "UTC"
    assert run("time")[0].status == WARN
    assert "Africa/Dar_es_Salaam" in run("time")[0].fix


@pytest.mark.django_db
def test_a_gateway_that_is_not_listening_fails(settings: Any) -> None:
    station("CT_CHECK")
    settings.MWL_PORT = free_port()
    result = only("gateway")
    assert result.status == FAIL
    assert result.detail == f"Nothing answers DICOM at RIS_MWL@127.0.0.1:{settings.MWL_PORT}."
    assert "mwl-ris-gateway" in result.fix


@pytest.fixture
def running_gateway(transactional_db: None, settings: Any) -> Iterator[Gateway]:
    gateway = Gateway(ae_title="RIS_MWL")
    gateway.start("127.0.0.1", 0)
    settings.MWL_PORT = gateway.port
    yield gateway
    gateway.stop()


def test_a_gateway_that_refuses_the_stations_fails_and_a_working_one_counts_the_items(
    running_gateway: Gateway, settings: Any
) -> None:
    result = only("gateway")  # no station registered: the check's own AE title is refused
    assert result.status == FAIL
    assert "rejected an association from RIS_CHECK" in result.detail
    assert "Register the station's AE title" in result.fix
    station("CT_CHECK")
    running_gateway.policy.invalidate()  # the gateway reads new stations within its TTL; now, here
    result = only("gateway")
    assert result.status == OK
    assert (
        result.detail
        == f"C-ECHO and C-FIND as CT_CHECK at RIS_MWL@127.0.0.1:{running_gateway.port} work: 0 items for it today."
    )
    running_gateway.recorder.flush()
    assert CapturedQuery.objects.filter(calling_ae_title="CT_CHECK", status=0).exists()


@pytest.mark.django_db
def test_an_hl7_listener_that_is_not_there_fails(settings: Any) -> None:
    settings.HL7_PORT = free_port()
    result = only("hl7 listener")
    assert result.status == FAIL
    assert "Nothing answers HL7 at 127.0.0.1:" in result.detail
    assert "mwl-ris-hl7" in result.fix


def test_the_hl7_test_message_is_answered_and_applied_to_nothing(listener: int, settings: Any) -> None:
    settings.HL7_PORT = listener
    result = only("hl7 listener")
    assert result.status == OK, result
    message = InboundMessage.objects.get(message_type="NMQ^N01")
    assert (message.status, message.ack_code, message.patient, message.order) == (
        InboundStatus.PROCESSED,
        "AA",
        None,
        None,
    )
    assert message.error == "connectivity test (NMQ^N01): nothing applied"


@pytest.mark.django_db
def test_inconsistent_stations_fail_each_named(settings: Any) -> None:
    result = run("stations")[0]
    assert result.status == FAIL
    assert result.detail == "No active station: no scanner can query the worklist."
    from scheduling.models import OpeningHours, Station

    station("CT1", name="CT one")
    Station.objects.create(name="CT two", modality="CT", ae_title="ct1")  # differs only in case
    Station.objects.create(name="Impostor", modality="CT", ae_title="RIS_MWL")
    Station.objects.create(name="Prober", modality="CT", ae_title="RIS_HEALTH")
    late = station("US1", name="Ultrasound", modality="US")
    OpeningHours.objects.create(station=late, weekday=0, opens=dt.time(17), closes=dt.time(8))
    settings.MWL_CHECK_CALLING_IP = True
    result = run("stations")[0]
    assert result.status == FAIL
    for problem in (
        "CT one and CT two share the AE title ct1",
        "Impostor has the gateway's own AE title",
        "Prober has the health probe's AE title (C-ECHO only)",
        "Ultrasound has no IP address, and the IP check is on",
        "Ultrasound has opening hours that close before they open",
    ):
        assert problem in result.detail
    assert result.fix == "Correct the stations in Administration, Stations."


@pytest.mark.django_db
def test_stations_that_never_query_or_get_nothing_are_warned() -> None:
    ct, us = station("CT1", name="CT one"), station("US1", name="Ultrasound", modality="US")
    for minute in range(3):
        CapturedQuery.objects.create(
            calling_ae_title="CT1",
            peer="10.0.0.5:1",
            identifier={},
            matches=0,
            status=0,
            duration_ms=3,
            received_at=timezone.now() - dt.timedelta(minutes=minute),
        )
    stations_result, use = run("stations")
    assert stations_result.status == OK
    assert use.status == WARN
    assert use.detail == "Never queried the worklist: Ultrasound (US1). Queries return nothing: CT one (CT1)."
    CapturedQuery.objects.create(
        calling_ae_title="US1",
        peer="10.0.0.6:1",
        identifier={},
        matches=4,
        status=0,
        duration_ms=3,
        received_at=timezone.now(),
    )
    CapturedQuery.objects.create(
        calling_ae_title="CT1",
        peer="10.0.0.5:1",
        identifier={},
        matches=2,
        status=0,
        duration_ms=3,
        received_at=timezone.now() + dt.timedelta(seconds=1),
    )
    assert run("stations")[1].status == OK
    assert {ct.ae_title, us.ae_title} == {"CT1", "US1"}


def test_an_expiring_certificate_fails(tmp_path: Path, settings: Any, site_certs: Any) -> None:
    for suffix in ("pem", "key"):
        shutil.copy(site_certs.ca.with_suffix(f".{suffix}"), tmp_path / f"site-ca.{suffix}")
    soon, _key = make_certificate(tmp_path, "site-ca", "soon", days=10)
    settings.MWL_TLS_CERT_FILE = str(site_certs.server_cert)
    assert only("tls").status == OK
    settings.HL7_TLS_CERT_FILE = str(soon)
    result = only("tls")
    assert result.status == FAIL
    assert "HL7_TLS_CERT_FILE: the certificate" in result.detail
    assert "expires on" in result.detail
    assert "site CA" in result.fix


@pytest.mark.django_db
def test_a_full_disk_fails(settings: Any) -> None:
    assert only("disk").status == OK
    settings.CHECK_MIN_FREE_MB = 10**12
    result = only("disk")
    assert result.status == FAIL
    assert result.detail.startswith(f"Less than {10**12} MB free: audit archive")
    assert "BACKUP_DIR" in result.fix


@pytest.mark.django_db
def test_no_backup_or_an_old_one_fails(settings: Any, tmp_path: Path) -> None:
    settings.BACKUP_DIR = str(tmp_path)
    result = only("backup")
    assert (result.status, result.detail) == (FAIL, f"No backup found in {tmp_path}.")
    assert "scripts/backup" in result.fix
    old = timezone.now() - dt.timedelta(hours=30)
    (tmp_path / "last-backup.json").write_text(json.dumps({"finished_at": old.isoformat(), "path": "x"}))
    result = only("backup")
    assert result.status == FAIL
    assert result.detail.startswith("The last backup is 30 hours old")
    (tmp_path / "last-backup.json").write_text(json.dumps({"finished_at": timezone.now().isoformat(), "path": "x"}))
    assert only("backup").status == OK


@pytest.mark.django_db
def test_an_unverified_broken_or_stale_audit_trail_fails() -> None:
    result = only("audit")
    assert (result.status, result.detail) == (FAIL, "The audit trail has never been verified.")
    assert "audit_verify" in result.fix
    Verification.objects.create(ok=False, checked=10, first_broken_seq=7, detail="record #7 was edited")
    result = only("audit")
    assert result.status == FAIL
    assert "found the trail broken: record #7 was edited" in result.detail
    Verification.objects.update(ok=True, at=timezone.now() - dt.timedelta(hours=5))
    result = only("audit")
    assert result.status == FAIL
    assert result.detail.startswith("The last audit verification is from")
    Verification.objects.create(ok=True, checked=10, detail="10 records verified; more")
    assert only("audit") == Result("audit", OK, only("audit").detail)
    assert only("audit").detail.endswith(": 10 records verified")


@pytest.mark.django_db
def test_a_check_that_breaks_is_a_failure_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(options: Options) -> Iterator[Result]:
        raise RuntimeError("surprise")
        yield  # pragma: no cover

    monkeypatch.setattr(checks, "CHECKS", [("database", dict(checks.CHECKS)["database"]), ("broken", broken)])
    results = run_checks()
    assert [(r.name, r.status) for r in results] == [("database", OK), ("broken", FAIL)]
    assert results[1].detail == "RuntimeError: surprise"


# --- a working installation: every service its own process, as the quick start runs them ------


def _service(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.mark.django_db(transaction=True)
def test_every_check_passes_on_a_running_installation(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    from django.core.management import call_command

    call_command("seed_demo", patients=10, days=1, no_users=True)
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0"
    broker_db = 10 + int(worker_id) % 4  # a Redis database of this test's own (10-13)
    redis.Redis(db=broker_db).flushdb()
    dicom_port, hl7_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
        "MWL_PORT": str(dicom_port),
        "HL7_PORT": str(hl7_port),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "AUDIT_ARCHIVE_DIR": str(tmp_path / "archive"),
    }
    manage = [sys.executable, "manage.py"]
    celery = [sys.executable, "-m", "celery", "-A", "mwl_ris"]
    for command in (["audit_verify"], ["ris_backup"]):  # as the quick start does after loading its demo data
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    services = [
        _service([*manage, "mwl_gateway"], env, tmp_path / "gateway.log"),
        _service([*manage, "hl7_listener"], env, tmp_path / "hl7.log"),
        _service([*celery, "worker", "--concurrency", "1", "--pool", "solo"], env, tmp_path / "worker.log"),
        _service([*celery, "beat", "--schedule", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log"),
    ]
    try:

        def ready() -> bool:
            for process in services:
                assert process.poll() is None, f"{process.args!r} exited"
            return JobRun.objects.filter(task=BEAT).exists()

        wait_until(ready, timeout=60, what="celery beat to start", interval=0.2)
        done = None

        def passes() -> bool:
            nonlocal done
            done = ris_check_process(env, "--worker-wait=30")
            return done.returncode == 0

        # the gateway and the listener may still be binding their ports: the check is the condition
        wait_until(passes, timeout=120, what="ris_check to pass", interval=0.5)
    finally:
        for process in services:
            process.terminate()
        for process in services:
            process.wait(timeout=30)
        redis.Redis(db=broker_db).flushdb()
    assert done is not None
    found = by_name(done.stdout)
    assert {r["status"] for r in found.values()} <= {OK, WARN}, found
    assert found["gateway"]["status"] == OK
    assert "C-ECHO and C-FIND as" in found["gateway"]["detail"]
    assert found["hl7 listener"]["detail"].endswith("answered a test message with AA.")
    assert found["celery worker"]["detail"].startswith("A worker ran a test job")
