"""/metrics counts what happened: a C-FIND, an MPPS and an HL7 message, scraped from the web
app (the gateway and listener here run in its process) and from the gateway's own port with
two workers (prometheus_client's multiprocess mode). /readyz and the JSON log format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from pynetdicom import AE

from dicom_gateway.keys import MPPS_SOP_CLASS
from dicom_gateway.server import Gateway
from hl7_interface.models import InboundMessage, InboundStatus
from tests.dicom_gateway.conftest import Worklist, findscu, mwl_query, pynetdicom_find
from tests.dicom_gateway.test_command import database_url, free_port
from tests.dicom_gateway.test_mpps import in_progress
from tests.hl7_interface.conftest import Sender, ack_code, adt
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scraped: dict[Any, float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(client: Client) -> dict[Any, float]:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200, response.content
    return samples(response.content.decode())


def test_a_cfind_an_mpps_and_an_hl7_message_are_counted(
    live_worklist: Worklist, gateway: Gateway, listener: int, client: Client
) -> None:
    before = scrape(client)
    result = pynetdicom_find(gateway.port, mwl_query(sps={"ScheduledStationAETitle": "CT_ROOM3"}))
    assert result.statuses[-1] == 0
    assert result.identifiers
    pynetdicom_find(gateway.port, mwl_query(top={"PatientID": "NOBODY"}))
    ae = AE(ae_title="CT_ROOM3")
    ae.add_requested_context(MPPS_SOP_CLASS)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL")
    assert assoc.is_established
    status, _ = assoc.send_n_create(
        in_progress(live_worklist.orders["neema"]), MPPS_SOP_CLASS, "1.2.826.0.1.3680043.10.543.77"
    )
    assoc.release()
    assert status.Status == 0x0000
    refused = AE(ae_title="NOT_A_STATION")
    refused.add_requested_context(MPPS_SOP_CLASS)
    assert refused.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL").is_rejected
    sender = Sender(listener)
    try:
        assert ack_code(sender.send(adt("A08", "METRIC1"))) == "AA"
        assert ack_code(sender.send("MSH|^~\\&|HIS|MNH|RIS|MNH|20261201||ADT^A08|METRIC2|P|9.9\rPID|1\r")) == "AR"
    finally:
        sender.close()
    gateway.recorder.flush()
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ris_cfind_duration_seconds_count", calling_ae="CT_ROOM3", outcome="matched") == 1
    assert delta("ris_cfind_duration_seconds_count", calling_ae="CT_ROOM3", outcome="empty") == 1
    assert delta("ris_cfind_empty_results_total", calling_ae="CT_ROOM3") == 1
    assert delta("ris_mpps_total", operation="N-CREATE", outcome="success") == 1
    assert delta("ris_dicom_associations_total", outcome="accepted", reason="") == 3
    assert delta("ris_dicom_associations_total", outcome="rejected", reason="calling AE title not recognized") == 1
    assert delta("ris_hl7_messages_total", message_type="ADT^A08", ack_code="AA") == 1
    assert delta("ris_hl7_messages_total", message_type="ADT^A08", ack_code="AR") == 1
    assert delta("ris_hl7_ack_duration_seconds_count") == 2
    # what the database knows, read at the scrape
    assert (
        value(after, "ris_hl7_inbox_errors")
        == InboundMessage.objects.filter(status__in=(InboundStatus.ERROR, InboundStatus.REJECTED)).count()
        == 1
    )
    assert value(after, "ris_database_up") == 1
    assert ("ris_audit_seal_lag_seconds", frozenset()) in after
    # the web's own requests: the previous scrape is not timed, the page below is
    client.get("/healthz")
    assert ("ris_http_request_duration_seconds_count", frozenset({("view", "healthz")})) not in scrape(client)


@pytest.mark.django_db
def test_metrics_need_the_token_or_this_host(client: Client, settings: Any) -> None:
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200
    assert b"ris_hl7_outbound_queue_depth" in ok.content


@pytest.mark.django_db
def test_web_updates_are_timed_for_the_sla(admin_user: Any, client: Client) -> None:
    from monitoring.models import UpdateTiming

    client.force_login(admin_user)
    client.post("/i18n/setlang/", {"language": "sw", "next": "/"})
    row = UpdateTiming.objects.get()
    assert (row.view, row.method, row.status) == ("set_language", "POST", 302)
    assert row.ms > 0
    scraped = scrape(client)
    assert (
        value(scraped, "ris_http_request_duration_seconds_count", view="set_language", method="POST", status="3xx") >= 1
    )


def test_readyz_needs_the_database_the_broker_and_the_gateway(gateway: Gateway, client: Client, settings: Any) -> None:
    settings.MWL_PORT = gateway.port
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "gateway": "ok"}
    settings.MWL_PORT = free_port()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["gateway"] == "ConnectionRefusedError"


@pytest.mark.django_db(transaction=True)
def test_the_gateways_own_metrics_port_adds_up_its_workers(live_worklist: Worklist, tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    dicom_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MWL_METRICS_PORT": str(metrics_port),
        "MWL_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    command = [sys.executable, "manage.py", "mwl_gateway", "--port", str(dicom_port), "--workers", "2"]
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "needs PROMETHEUS_MULTIPROC_DIR" in refused.stderr
    (tmp_path / "prom").mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: findscu(dicom_port, ["PatientName"], calling="CT_ROOM3")[0] == 0,
            timeout=30,
            what="the gateway to answer",
            interval=0.1,
        )
        for _ in range(5):  # over new associations: SO_REUSEPORT spreads them over both workers
            assert findscu(dicom_port, ["PatientName"], calling="CT_ROOM3")[0] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            scraped = samples(response.read().decode())
    finally:
        process.terminate()
        process.wait(timeout=30)
    total = sum(
        v
        for (name, labels), v in scraped.items()
        if name == "ris_cfind_duration_seconds_count" and ("calling_ae", "CT_ROOM3") in labels
    )
    assert total == 6


def test_json_log_lines(tmp_path: Path) -> None:
    code = "import django, logging; django.setup(); logging.getLogger('ris.demo').warning('hello %s', 'world')"
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "mwl_ris.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello world"
    assert (line["level"], line["logger"]) == ("WARNING", "ris.demo")
    assert {"time", "pid"} <= set(line)
