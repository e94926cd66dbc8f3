"""A centre and an edge node on this machine, for the edge tests and
bench/edge_outage.py: two throwaway PostgreSQL clusters (the centre's with
wal_level=logical), the site published and subscribed, a gateway on each, the
edge's forwarder, and a TCP proxy for each link from the edge to the centre
(its database, its gateway) that the caller cuts and restores."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

from tests.faults import TcpProxy
from tests.pgcluster import Cluster, free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SITE, STATION, EDGE_AE = "KIB", "CT_KIB", "EDGE_KIB"
MPPS = "1.2.840.10008.3.1.2.3.3"
SPS = "ScheduledProcedureStepSequence"


class Central:
    """tests/edge/central.py as a process on the central database."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.edge.central"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def __call__(self, do: str, **kwargs: Any) -> Any:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"do": do, **kwargs}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        assert answer["ok"], answer.get("trace") or answer
        return answer["result"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


class World:
    def __init__(self, **edge_settings: str) -> None:
        self.edge_settings = edge_settings  # overrides of the edge's environment (the bench: production values)
        self.folder = Path(tempfile.mkdtemp(prefix="ris-edge-"))
        self.central_db = Cluster(logical=True, name="central")
        self.edge_db = Cluster(name="edge")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.central_gateway_port = free_port()
        self.edge_gateway_port = free_port()
        self.edge_metrics_port = free_port()
        self.db_link: TcpProxy | None = None
        self.dicom_link: TcpProxy | None = None
        self._central: Central | None = None

    # --- environments -----------------------------------------------------
    def _env(self, name: str, database: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "EDGE_", "RIS_", "MWL_"))}
        var = self.folder / name
        var.mkdir(exist_ok=True)
        env.update(
            DATABASE_URL=database,
            DJANGO_SECRET_KEY="edge-test-secret-key-not-for-production-0123456789",
            MWL_VAR_DIR=str(var),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def central_env(self) -> dict[str, str]:
        return self._env("central", self.central_db.url("ris"))

    def edge_env(self) -> dict[str, str]:
        assert self.db_link is not None
        assert self.dicom_link is not None
        return (
            self._env(
                "edge",
                self.edge_db.url("ris"),
                RIS_ROLE="edge",
                RIS_SITE=SITE,
                EDGE_CENTRAL_DATABASE_URL=f"postgresql://ris_edge_kib:edge-secret@127.0.0.1:{self.db_link.port}/ris",
                EDGE_CENTRAL_HOST="127.0.0.1",
                EDGE_CENTRAL_PORT=str(self.dicom_link.port),
                EDGE_RETRY_MAX_SECONDS="1",
                EDGE_REPORT_SECONDS="1",
                EDGE_METRICS_PORT=str(self.edge_metrics_port),
            )
            | self.edge_settings
        )

    def manage(self, env: dict[str, str], *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0 or not check, f"manage.py {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def checks(self, env: dict[str, str]) -> list[dict[str, str]]:
        """ris_check's results, run with ``env`` (the centre's or the edge's)."""
        out = self.manage(env, "ris_check", "--json", "--skip", "celery worker", check=False)
        return list(json.loads(out))

    def edge_check(self, env: dict[str, str]) -> list[dict[str, str]]:
        return [r for r in self.checks(env) if r["name"] == "edge"]

    def edge_metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.edge_metrics_port}/metrics", timeout=10) as answer:
            return str(answer.read().decode())

    def _spawn(self, name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / f"{name}.log").read_text(errors="replace")
        return ""

    # --- set up -----------------------------------------------------------
    def start(self) -> World:
        self.central_db.start()
        self.edge_db.start()
        self.central_db.createdb("ris")
        self.edge_db.createdb("ris")
        self.db_link = TcpProxy(("127.0.0.1", self.central_db.port)).start()
        self.dicom_link = TcpProxy(("127.0.0.1", self.central_gateway_port)).start()
        central = self.central_env()
        self.manage(central, "migrate", "-v0")
        self._central = Central(central)
        self.central("seed", site=SITE, station=STATION, edge_ae=EDGE_AE)
        self.manage({**central, "EDGE_REPLICATION_PASSWORD": "edge-secret"}, "edge_setup", "publish", "--site", SITE)
        # as an installation does it (docs/edge.md): the app prints the SQL, a superuser runs it with psql
        sql = self.manage(self.edge_env(), "edge_setup", "subscribe", "--sql")
        assert "CREATE SUBSCRIPTION ris_site_kib" in sql
        self.edge_db.psql("ris", sql)
        self.manage(self.edge_env(), "edge_setup", "wait", "--wait", "60")
        self._spawn("central-gateway", central, "mwl_gateway", "--port", str(self.central_gateway_port))
        self._spawn("edge-gateway", self.edge_env(), "mwl_gateway", "--port", str(self.edge_gateway_port))
        self.start_forwarder()
        for port in (self.central_gateway_port, self.edge_gateway_port):
            wait_until(partial(self.echo, port), timeout=30, what=f"a gateway on {port}", interval=0.1)
        return self

    def start_forwarder(self) -> subprocess.Popen[bytes]:
        return self._spawn("edge-forward", self.edge_env(), "edge_forward")

    def kill_forwarder(self) -> None:
        process = self.processes.pop("edge-forward")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._central is not None:
            self._central.close()
        for link in (self.db_link, self.dicom_link):
            if link is not None:
                link.cut()
        self.edge_db.stop()
        self.central_db.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def central(self, do: str, **kwargs: Any) -> Any:
        """An action at the centre (tests/edge/central.py)."""
        assert self._central is not None
        return self._central(do, **kwargs)

    # --- the link ---------------------------------------------------------
    def cut(self) -> None:
        assert self.db_link is not None
        assert self.dicom_link is not None
        self.db_link.cut()
        self.dicom_link.cut()

    def restore(self) -> None:
        assert self.db_link is not None
        assert self.dicom_link is not None
        self.db_link.restore()
        self.dicom_link.restore()

    # --- looking ----------------------------------------------------------
    def edge_sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.edge_db.url("ris"), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def central_sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.central_db.url("ris"), autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    @staticmethod
    def echo(port: int) -> bool:
        done = subprocess.run(
            ["echoscu", "-aet", STATION, "-aec", "RIS_MWL", "127.0.0.1", str(port)], capture_output=True, check=False
        )
        return done.returncode == 0

    def day_list(self, port: int | None = None) -> list[str]:
        """The accession numbers findscu gets from the edge's gateway (or another) for the station."""
        from tests.dicom_gateway.conftest import findscu

        code, responses = findscu(
            port or self.edge_gateway_port,
            ["AccessionNumber", f"{SPS}[0].ScheduledStationAETitle={STATION}"],
            calling=STATION,
        )
        assert code == 0, "findscu failed"
        return sorted(r.get("AccessionNumber", "") for r in responses)


@contextlib.contextmanager
def world() -> Iterator[World]:
    w = World()
    try:
        yield w.start()
    finally:
        w.stop()


class Modality:
    """A scanner at the remote centre sending MPPS to the edge's gateway."""

    def __init__(self, port: int, calling: str = STATION):
        ae = AE(ae_title=calling)
        ae.add_requested_context(MPPS)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
        self.ae, self.port = ae, port

    def _send(self, operation: str, ds: Dataset, uid: str) -> int:
        assoc = self.ae.associate("127.0.0.1", self.port, ae_title="RIS_MWL")
        assert assoc.is_established, "no association with the edge gateway"
        try:
            if operation == "N-CREATE":
                status, _ = assoc.send_n_create(ds, MPPS, uid)
            else:
                status, _ = assoc.send_n_set(ds, MPPS, uid)
            return int(status.Status)
        finally:
            assoc.release()

    def start(self, uid: str, *, study: str, accession: str, patient_id: str = "") -> int:
        ds = Dataset()
        ds.PatientName = "Mgonjwa^N"
        ds.PatientID = patient_id
        item = Dataset()
        item.StudyInstanceUID = study
        item.AccessionNumber = accession
        item.ScheduledProcedureStepID = accession
        item.RequestedProcedureID = accession
        ds.ScheduledStepAttributesSequence = [item]
        ds.PerformedProcedureStepID = "PPS1"
        ds.PerformedStationAETitle = STATION
        ds.PerformedProcedureStepStartDate = "20261207"
        ds.PerformedProcedureStepStartTime = "101500"
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
        ds.Modality = "CT"
        ds.PerformedSeriesSequence = []
        return self._send("N-CREATE", ds, uid)

    def complete(self, uid: str) -> int:
        ds = Dataset()
        ds.PerformedProcedureStepStatus = "COMPLETED"
        ds.PerformedProcedureStepEndDate = "20261207"
        ds.PerformedProcedureStepEndTime = "103000"
        series = Dataset()
        series.SeriesInstanceUID = generate_uid()
        series.SeriesDescription = "Axial"
        series.ProtocolName = "CT-HEAD"
        series.ReferencedImageSequence = []
        ds.PerformedSeriesSequence = [series]
        return self._send("N-SET", ds, uid)
