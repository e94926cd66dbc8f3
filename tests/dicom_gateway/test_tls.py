"""DICOM TLS (PS3.15 B.9, BCP 195): the gateway's TLS port with DCMTK's
echoscu/findscu +tls and pynetdicom's tls_args as the modalities. A good
client is served (C-ECHO, C-FIND, MPPS); a plain client, a client with
another CA's certificate or none, and a TLS-required station on the plain
port are refused; a client that connects and says nothing holds up no one."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from pynetdicom import AE

from dicom_gateway.keys import MPPS_SOP_CLASS
from dicom_gateway.keys import MWL_FIND_SOP_CLASS as Find
from dicom_gateway.keys import VERIFICATION_SOP_CLASS as Verification
from dicom_gateway.models import AssociationRecord
from dicom_gateway.server import Gateway
from mwl_ris.lib import tls
from scheduling.stations import station_update
from tests.dicom_gateway.conftest import SPS, Worklist, mwl_query, parse_findscu_output
from tests.dicom_gateway.test_mpps import in_progress
from tests.tls_certs import SiteCertificates, make_certificate
from tests.waiting import wait_until

DCMTK_ENV = {"PATH": "/usr/bin:/bin"}


@pytest.fixture
def tls_gateway(live_worklist: Worklist, site_certs: SiteCertificates) -> Iterator[Gateway]:
    gw = Gateway(ae_title="RIS_MWL")
    gw.start("127.0.0.1", 0)
    context = tls.server_context(
        cert_file=str(site_certs.server_cert),
        key_file=str(site_certs.server_key),
        ca_file=str(site_certs.ca),
        require_client_cert=True,
    )
    gw.start("127.0.0.1", 0, tls=context)
    yield gw
    gw.stop()


def dcmtk_tls(certs: SiteCertificates, *, cert: Path | None = None, key: Path | None = None) -> list[str]:
    """DCMTK's options for an authenticated TLS connection (its default BCP 195 profile)."""
    return ["+tls", str(key or certs.client_key), str(cert or certs.client_cert), "+cf", str(certs.ca)]


def echoscu(port: int, tls_options: list[str], calling: str = "CT_ROOM3") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["echoscu", "-v", *tls_options, "-aet", calling, "-aec", "RIS_MWL", "127.0.0.1", str(port)],
        capture_output=True,
        timeout=60,
        env=DCMTK_ENV,
        check=False,
    )


def client_context(certs: SiteCertificates, *, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    return tls.client_context(
        ca_file=str(certs.ca), cert_file=str(cert or certs.client_cert), key_file=str(key or certs.client_key)
    )


def associate(port: int, context: ssl.SSLContext | None, *, calling: str = "CT_ROOM3", contexts: Any = None) -> Any:
    ae = AE(ae_title=calling)
    for sop_class in contexts or [Verification]:
        ae.add_requested_context(sop_class)
    return ae.associate(
        "127.0.0.1", port, ae_title="RIS_MWL", tls_args=(context, "localhost") if context is not None else None
    )


def recorded(gateway: Gateway, **lookup: Any) -> None:
    """The refusal reaches the association records (written off the connection's thread)."""

    def found() -> bool:
        gateway.recorder.flush()
        return AssociationRecord.objects.filter(**lookup).exists()

    wait_until(found, timeout=10, what=f"an association record {lookup}")


def test_echoscu_and_findscu_with_tls_are_served(
    tls_gateway: Gateway, live_worklist: Worklist, site_certs: SiteCertificates
) -> None:
    echo = echoscu(tls_gateway.tls_port, dcmtk_tls(site_certs))
    assert echo.returncode == 0, echo.stderr[-800:]
    assert b"Received Echo Response (Success)" in echo.stdout + echo.stderr

    find = subprocess.run(
        [
            *("findscu", "-W", "-v", *dcmtk_tls(site_certs), "-aet", "CT_ROOM3", "-aec", "RIS_MWL"),
            *("-k", "AccessionNumber", "-k", "PatientName", "-k", f"{SPS}[0].ScheduledStationAETitle=CT_ROOM3"),
            *("127.0.0.1", str(tls_gateway.tls_port)),
        ],
        capture_output=True,
        timeout=60,
        env=DCMTK_ENV,
        check=False,
    )
    assert find.returncode == 0, find.stderr[-800:]
    accessions = sorted(r["AccessionNumber"] for r in parse_findscu_output(find.stdout + find.stderr))
    assert accessions == sorted(live_worklist.accession(name) for name in ("neema", "baraka", "amelie"))


def test_pynetdicom_tls_client_negotiates_tls_1_3_and_queries(
    tls_gateway: Gateway, live_worklist: Worklist, site_certs: SiteCertificates
) -> None:
    assoc = associate(tls_gateway.tls_port, client_context(site_certs), contexts=[Find])
    assert assoc.is_established
    try:
        raw = assoc.dul.socket.socket
        assert raw.version() == "TLSv1.3"
        responses = [
            identifier
            for status, identifier in assoc.send_c_find(mwl_query(sps={"ScheduledStationAETitle": "CT_ROOM3"}), Find)
            if status and int(status.Status) in (0xFF00, 0xFF01)
        ]
    finally:
        assoc.release()
    assert sorted(str(ds.AccessionNumber) for ds in responses) == sorted(
        live_worklist.accession(name) for name in ("neema", "baraka", "amelie")
    )


def test_tls_1_2_client_gets_an_ecdhe_gcm_suite_and_nothing_older_is_accepted(
    tls_gateway: Gateway, site_certs: SiteCertificates
) -> None:
    context = client_context(site_certs)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    assoc = associate(tls_gateway.tls_port, context)
    assert assoc.is_established
    name, version, _bits = assoc.dul.socket.socket.cipher()
    assoc.release()
    assert version == "TLSv1.2"
    assert name.startswith("ECDHE-")
    assert "GCM" in name or "CHACHA20" in name

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_2
    old.set_ciphers("AES128-SHA256")  # RSA key exchange, CBC: not in the BCP 195 profile
    with (
        socket.create_connection(("127.0.0.1", tls_gateway.tls_port), timeout=10) as raw,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(raw, server_hostname="localhost")


def test_mpps_over_tls(tls_gateway: Gateway, live_worklist: Worklist, site_certs: SiteCertificates) -> None:
    assoc = associate(tls_gateway.tls_port, client_context(site_certs), contexts=[MPPS_SOP_CLASS])
    assert assoc.is_established
    try:
        status, _reply = assoc.send_n_create(in_progress(live_worklist.orders["neema"]), MPPS_SOP_CLASS, None)
    finally:
        assoc.release()
    assert int(status.Status) == 0x0000
    live_worklist.orders["neema"].refresh_from_db()
    assert live_worklist.orders["neema"].status == "in_progress"


def test_plain_client_on_the_tls_port_is_refused_and_recorded(
    tls_gateway: Gateway, site_certs: SiteCertificates
) -> None:
    assoc = associate(tls_gateway.tls_port, None)
    assert not assoc.is_established
    plain = echoscu(tls_gateway.tls_port, [])
    assert plain.returncode != 0
    recorded(tls_gateway, reason__startswith="TLS handshake failed")


def test_client_certificate_from_another_ca_or_none_is_refused(
    tls_gateway: Gateway, site_certs: SiteCertificates
) -> None:
    intruder = echoscu(
        tls_gateway.tls_port, dcmtk_tls(site_certs, cert=site_certs.other_cert, key=site_certs.other_key)
    )
    assert intruder.returncode != 0
    assert b"Echo Response" not in intruder.stdout + intruder.stderr
    assoc = associate(
        tls_gateway.tls_port, client_context(site_certs, cert=site_certs.other_cert, key=site_certs.other_key)
    )
    assert not assoc.is_established

    anonymous = tls.client_context(ca_file=str(site_certs.ca))  # no client certificate
    assert not associate(tls_gateway.tls_port, anonymous).is_established
    recorded(tls_gateway, reason="TLS handshake failed: certificate verify failed")
    recorded(tls_gateway, reason="TLS handshake failed: peer did not return a certificate")


def test_client_that_connects_and_says_nothing_holds_up_no_one(
    tls_gateway: Gateway, site_certs: SiteCertificates
) -> None:
    """pynetdicom's own ssl_context would do the handshake in the accept loop:
    this silent connection would stop every other one being accepted."""
    with socket.create_connection(("127.0.0.1", tls_gateway.tls_port), timeout=10):
        echo = echoscu(tls_gateway.tls_port, dcmtk_tls(site_certs))
        assert echo.returncode == 0, echo.stderr[-800:]


def test_tls_required_station_is_refused_on_the_plain_port_only(
    tls_gateway: Gateway, live_worklist: Worklist, site_certs: SiteCertificates
) -> None:
    station = live_worklist.ct
    station.tls_required = True
    station_update(station=station)
    tls_gateway.policy.invalidate()

    plain = associate(tls_gateway.port, None)
    assert plain.is_rejected
    assert echoscu(tls_gateway.port, []).returncode != 0
    other = associate(tls_gateway.port, None, calling="US_ROOM4")  # not TLS-required: still served in plain
    assert other.is_established
    other.release()

    secure = associate(tls_gateway.tls_port, client_context(site_certs))
    assert secure.is_established
    secure.release()
    recorded(tls_gateway, calling_ae_title="CT_ROOM3", reason__startswith="TLS required for this station")


def test_certificate_expiry_is_read_and_warned(tmp_path: Path, site_certs: SiteCertificates) -> None:
    for suffix in ("pem", "key"):
        shutil.copy(site_certs.ca.with_suffix(f".{suffix}"), tmp_path / f"site-ca.{suffix}")
    soon, _key = make_certificate(tmp_path, "site-ca", "soon", days=10)
    assert "expires on" in tls.certificate_info(str(soon)).problem()
    assert tls.certificate_info(str(site_certs.server_cert)).problem() == ""
    # openssl signs with the real clock, not the tests' frozen one
    real_now = time_machine.escape_hatch.datetime.datetime.now(dt.UTC)
    old, _key = make_certificate(tmp_path, "site-ca", "old", days=-1)
    assert "expired on" in tls.certificate_info(str(old)).problem(real_now)


def test_expiring_or_unreadable_certificate_is_a_system_check_warning(
    tmp_path: Path, site_certs: SiteCertificates, settings: Any
) -> None:
    from accounts.checks import check_tls_certificates

    for suffix in ("pem", "key"):
        shutil.copy(site_certs.ca.with_suffix(f".{suffix}"), tmp_path / f"site-ca.{suffix}")
    soon, _key = make_certificate(tmp_path, "site-ca", "soon", days=10)
    settings.MWL_TLS_CERT_FILE = str(site_certs.server_cert)
    settings.HL7_TLS_CERT_FILE = ""
    assert check_tls_certificates(None) == []
    settings.MWL_TLS_CERT_FILE = str(soon)
    settings.HL7_TLS_CERT_FILE = str(tmp_path / "missing.pem")
    warnings = check_tls_certificates(None)
    assert [w.id for w in warnings] == ["ris.accounts.W002", "ris.accounts.W002"]
    assert "MWL_TLS_CERT_FILE: " in warnings[0].msg
    assert "expires on" in warnings[0].msg
    assert "HL7_TLS_CERT_FILE: " in warnings[1].msg
    assert "not a readable PEM certificate" in warnings[1].msg


def test_gateway_command_refuses_to_start_with_a_bad_key_and_logs_the_certificate(
    site_certs: SiteCertificates, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from django.core.management.base import CommandError

    from dicom_gateway.management.commands.mwl_gateway import gateway_tls_context

    settings.MWL_TLS_PORT = 11113
    settings.MWL_TLS_CERT_FILE = str(site_certs.server_cert)
    settings.MWL_TLS_KEY_FILE = str(site_certs.other_key)
    settings.MWL_TLS_CA_FILE = str(site_certs.ca)
    with pytest.raises(CommandError, match="MWL TLS"):
        gateway_tls_context()
    settings.MWL_TLS_KEY_FILE = str(site_certs.server_key)
    settings.MWL_TLS_REQUIRE_CLIENT_CERT = True
    with caplog.at_level("INFO", logger="dicom_gateway"):
        assert gateway_tls_context() is not None
    assert "client_certificates=required" in caplog.text
    assert "certificate=CN=ris-server" in caplog.text
    settings.MWL_TLS_PORT = 0
    assert gateway_tls_context() is None


def test_an_edge_forwards_its_mpps_over_tls_with_its_certificate(
    tls_gateway: Gateway, live_worklist: Worklist, site_certs: SiteCertificates, settings: Any
) -> None:
    """The edge's forwarder (edge/forwarder.py) as a TLS client of the centre's gateway: the
    centre's certificate checked against the site CA, the edge's own sent (the port requires one)."""
    from django.utils import timezone

    from edge.forwarder import Forwarder
    from edge.models import OutboxMessage, OutboxState
    from facility.services import site_save
    from orders.models import ExamStatus

    site_save(code="KIB", name="Kibaha", edge_ae_title="EDGE_KIB")
    tls_gateway.policy.invalidate()
    settings.EDGE_AE_TITLE, settings.EDGE_CENTRAL_HOST, settings.EDGE_CENTRAL_PORT = (
        "EDGE_KIB", "localhost", tls_gateway.tls_port
    )  # fmt: skip
    settings.EDGE_CENTRAL_TLS_CA_FILE = str(site_certs.ca)
    settings.EDGE_TLS_CERT_FILE, settings.EDGE_TLS_KEY_FILE = str(site_certs.client_cert), str(site_certs.client_key)
    order = live_worklist.orders["neema"]
    message = OutboxMessage.objects.create(
        operation="N-CREATE",
        sop_instance_uid="1.2.826.0.1.3680043.10.1.7",
        dataset=in_progress(order).to_json_dict(),
        calling_ae_title="CT_KIB",
        created_at=timezone.now(),
    )
    forwarder = Forwarder()
    try:
        assert forwarder.forward_one()
    finally:
        forwarder._release()
    message.refresh_from_db()
    assert (message.state, message.dicom_status) == (OutboxState.FORWARDED, 0)
    order.refresh_from_db()
    assert order.status == ExamStatus.IN_PROGRESS
    # without the CA the centre's certificate is not trusted: nothing is sent, the message waits
    settings.EDGE_CENTRAL_TLS_CA_FILE = str(site_certs.other_ca)
    second = OutboxMessage.objects.create(
        operation="N-SET", sop_instance_uid=message.sop_instance_uid, dataset={}, calling_ae_title="CT_KIB",
        created_at=timezone.now(),
    )  # fmt: skip
    assert not Forwarder().forward_one()
    second.refresh_from_db()
    assert second.state == OutboxState.PENDING
    assert second.attempts == 0  # never sent: not in doubt
    assert "no association" in second.last_error
