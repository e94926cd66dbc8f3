"""HL7 over TLS: the MLLP listener's TLS port with an ssl-wrapped MLLP client
(python-hl7's, its socket wrapped), and outbound status messages to a TLS
order placer. A plain client on the TLS port, a client certificate from
another CA and a server the CA never vouched for are refused, and nothing is
stored from a refused connection."""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from hl7_interface.listener import ListenerThread
from hl7_interface.models import DeliveryState, Destination, InboundMessage, OutboundMessage
from hl7_interface.outbox import outbound_deliver
from mwl_ris.lib import tls
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order, Procedure
from scheduling.booking import appointment_book
from scheduling.models import Station
from tests.conftest import at
from tests.dicom_gateway.test_command import database_url, free_port
from tests.hl7_interface.conftest import Sender, ack_code, adt, orm
from tests.hl7_interface.test_command import ROOT
from tests.hl7_interface.test_outbound import Receiver
from tests.tls_certs import SiteCertificates
from tests.waiting import wait_until


def server_context(certs: SiteCertificates, *, require_client_cert: bool = True) -> ssl.SSLContext:
    return tls.server_context(
        cert_file=str(certs.server_cert),
        key_file=str(certs.server_key),
        ca_file=str(certs.ca),
        require_client_cert=require_client_cert,
    )


def client_context(certs: SiteCertificates, *, cert: Any = None, key: Any = None) -> ssl.SSLContext:
    return tls.client_context(
        ca_file=str(certs.ca), cert_file=str(cert or certs.client_cert), key_file=str(key or certs.client_key)
    )


@pytest.fixture
def tls_listener(transactional_db: None, site_certs: SiteCertificates) -> Iterator[ListenerThread]:
    thread = ListenerThread(
        host="127.0.0.1", port=0, workers=2, max_bytes=512 * 1024, frame_timeout=2, tls=server_context(site_certs)
    )
    thread.start()
    yield thread
    thread.stop()


def refused(port: int, context: ssl.SSLContext | None) -> None:
    """The connection ends without an ACK: during the handshake, or (TLS 1.3,
    where the server checks the client's certificate after the client thinks
    it is done) at the first read."""
    try:
        sender = Sender(port, tls=context)
        reply = sender.send(adt("A04", "REFUSED1"))
    except (ssl.SSLError, ConnectionError):
        return
    assert reply == b"", f"expected no ACK, got {reply!r}"


def test_an_ssl_mllp_client_with_a_site_certificate_is_served(
    tls_listener: ListenerThread, site_certs: SiteCertificates, ct_station: Station, ct_head: Procedure
) -> None:
    sender = Sender(tls_listener.listener.tls_port, tls=client_context(site_certs))
    try:
        assert sender.client.socket.version() == "TLSv1.3"
        assert ack_code(sender.send(adt("A04", "T1"))) == "AA"
        assert ack_code(sender.send(orm("NW", "T2"))) == "AA"
    finally:
        sender.close()
    assert list(InboundMessage.objects.order_by("pk").values_list("control_id", "ack_code")) == [
        ("T1", "AA"),
        ("T2", "AA"),
    ]
    assert Order.objects.count() == 1


def test_plain_client_another_ca_or_no_certificate_is_refused_and_logged(
    tls_listener: ListenerThread, site_certs: SiteCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    port = tls_listener.listener.tls_port
    with caplog.at_level(logging.WARNING, logger="hl7_interface.listener"):
        refused(port, None)  # plain MLLP on the TLS port
        refused(port, client_context(site_certs, cert=site_certs.other_cert, key=site_certs.other_key))
        refused(port, tls.client_context(ca_file=str(site_certs.ca)))  # no client certificate
        wait_until(
            lambda: caplog.text.count("TLS handshake failed") >= 3,
            timeout=10,
            what="three refused handshakes in the log",
        )
    assert InboundMessage.objects.count() == 0


def test_client_refuses_a_listener_whose_certificate_another_ca_signed(
    transactional_db: None, site_certs: SiteCertificates
) -> None:
    impostor = tls.server_context(cert_file=str(site_certs.other_cert), key_file=str(site_certs.other_key))
    thread = ListenerThread(host="127.0.0.1", port=0, workers=1, max_bytes=65536, frame_timeout=2, tls=impostor)
    thread.start()
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            Sender(thread.listener.tls_port, tls=client_context(site_certs))
    finally:
        thread.stop()
    assert InboundMessage.objects.count() == 0


def test_tls_only_opens_no_plain_port(transactional_db: None, site_certs: SiteCertificates) -> None:
    thread = ListenerThread(
        host="127.0.0.1",
        port=0,
        workers=1,
        max_bytes=65536,
        frame_timeout=2,
        tls=server_context(site_certs),
        plain=False,
    )
    assert thread.start() == 0
    try:
        assert thread.listener.tls_port
        assert len(thread.listener.servers) == 1
    finally:
        thread.stop()


@pytest.mark.django_db(transaction=True)
def test_the_listener_command_serves_tls_only_from_its_settings(
    site_certs: SiteCertificates, ct_station: Station, ct_head: Procedure
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    plain_port, tls_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "INFO",
        "HL7_TLS_PORT": str(tls_port),
        "HL7_TLS_CERT_FILE": str(site_certs.server_cert),
        "HL7_TLS_KEY_FILE": str(site_certs.server_key),
        "HL7_TLS_CA_FILE": str(site_certs.ca),
        "HL7_TLS_REQUIRE_CLIENT_CERT": "true",
        "HL7_TLS_ONLY": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--port", str(plain_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def accepting() -> bool:
            assert process.poll() is None, "the listener exited"
            try:
                socket.create_connection(("127.0.0.1", tls_port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_until(accepting, timeout=20, what="the TLS port to accept", interval=0.05)
        sender = Sender(tls_port, tls=client_context(site_certs))
        try:
            assert ack_code(sender.send(adt("A04", "C1"))) == "AA"
        finally:
            sender.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", plain_port), timeout=2)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert f"hl7_listener TLS port={tls_port} certificate=CN=ris-server" in output
    assert "client_certificates=required" in output
    assert f"port=off tls_port={tls_port}" in output
    assert InboundMessage.objects.filter(control_id="C1", ack_code="AA").exists()


@pytest.fixture
def tls_receiver(site_certs: SiteCertificates) -> Iterator[Receiver]:
    r = Receiver(tls=server_context(site_certs, require_client_cert=True))
    yield r
    r.stop()


@pytest.mark.django_db
def test_status_messages_go_to_a_tls_destination_with_our_client_certificate(
    tls_receiver: Receiver, site_certs: SiteCertificates, order: Order, ct_station: Station, settings: Any
) -> None:
    settings.HL7_OUTBOUND_TLS_CA_FILE = str(site_certs.ca)
    settings.HL7_OUTBOUND_TLS_CERT_FILE = str(site_certs.client_cert)
    settings.HL7_OUTBOUND_TLS_KEY_FILE = str(site_certs.client_key)
    placer = Destination.objects.create(name="HIS", host="localhost", port=tls_receiver.port, use_tls=True)
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    exam_transition(order=order, to=ExamStatus.ARRIVED)
    assert outbound_deliver(destination=placer) is None
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert [str(m.segment("ORC")(5)) for m in tls_receiver.received] == ["SC", "SC"]


@pytest.mark.django_db
def test_a_tls_destination_the_site_ca_does_not_vouch_for_is_not_sent_to(
    tls_receiver: Receiver, site_certs: SiteCertificates, order: Order, ct_station: Station, settings: Any
) -> None:
    settings.HL7_OUTBOUND_TLS_CA_FILE = str(site_certs.other_ca)
    settings.HL7_OUTBOUND_TLS_CERT_FILE = str(site_certs.client_cert)
    settings.HL7_OUTBOUND_TLS_KEY_FILE = str(site_certs.client_key)
    placer = Destination.objects.create(name="HIS", host="localhost", port=tls_receiver.port, use_tls=True)
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    outbound_deliver(destination=placer)
    message = OutboundMessage.objects.get()
    assert message.state == DeliveryState.RETRYING
    assert "CERTIFICATE_VERIFY_FAILED" in message.last_error
    assert tls_receiver.received == []
    # a plain destination on the TLS port is not "sent" either
    Destination.objects.filter(pk=placer.pk).update(use_tls=False)
    OutboundMessage.objects.update(next_attempt_at=message.created_at)
    outbound_deliver(destination=Destination.objects.get(pk=placer.pk))
    assert OutboundMessage.objects.get().state == DeliveryState.RETRYING
    assert tls_receiver.received == []
