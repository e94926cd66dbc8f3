"""No patient data in the logs: the demo hospital's data, the gateway and the
HL7 listener as real processes at the production log level, every kind of
traffic they log (C-ECHO, C-FIND that matches and that is refused, MPPS,
HL7 ADT and orders, a malformed and a refused message), then both logs are
searched for every patient's name and ID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from pynetdicom import AE

from dicom_gateway.keys import MPPS_SOP_CLASS
from orders.models import Order
from patients.models import Patient
from tests.dicom_gateway.conftest import findscu
from tests.dicom_gateway.test_command import database_url, free_port
from tests.dicom_gateway.test_mpps import in_progress
from tests.hl7_interface.conftest import Sender, ack_code, adt, orm, pid
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
HL7_NAME = ("Logcheck", "Zawadi", "LOG4242")  # a patient that exists only in the HL7 messages


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=30)[0].decode("utf-8", errors="replace")


def patient_strings() -> set[str]:
    """Every way a name or ID could show: DICOM PN, "Given Family", the family name alone, the IDs."""
    found: set[str] = set()
    for family, given, patient_id in Patient.objects.values_list("family_name", "given_name", "patient_id"):
        found |= {f"{family}^{given}", f"{given} {family}", family, patient_id}
    family, given, patient_id = HL7_NAME
    found |= {f"{family}^{given}", f"{given} {family}", family, patient_id}
    return {s for s in found if len(s) >= 4}


@pytest.mark.django_db(transaction=True)
def test_gateway_and_hl7_logs_hold_no_patient_name_or_id() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the in-memory SQLite test database is not visible to another process")
    call_command("seed_demo", patients=30, days=1, no_users=True)
    order = Order.objects.select_related("patient", "worklist_item").filter(worklist_item__isnull=False).first()
    assert order is not None
    station_ae = order.worklist_item.station_ae_title

    dicom_port, hl7_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "INFO"}
    gateway = start(["mwl_gateway", "--port", str(dicom_port)], env)
    listener = start(["hl7_listener", "--port", str(hl7_port)], env)
    try:

        def echoes() -> bool:
            assert gateway.poll() is None, "the gateway exited"
            echo = ["echoscu", "-aet", station_ae, "-aec", "RIS_MWL", "127.0.0.1", str(dicom_port)]
            return subprocess.run(echo, capture_output=True, check=False).returncode == 0

        wait_until(echoes, timeout=20, what="the gateway to answer C-ECHO", interval=0.05)
        code, items = findscu(dicom_port, ["PatientName", "PatientID", "AccessionNumber"], calling=station_ae)
        assert code == 0
        assert items, "the demo worklist answered nothing: the test would prove nothing"
        findscu(dicom_port, [f"PatientID={order.patient.patient_id}", "PatientName"], calling=station_ae)
        findscu(dicom_port, ["PatientName=Nobody*"], calling="NOT_A_STATION")  # refused

        ae = AE(ae_title=station_ae)
        ae.add_requested_context(MPPS_SOP_CLASS)
        assoc = ae.associate("127.0.0.1", dicom_port, ae_title="RIS_MWL")
        assert assoc.is_established
        step = in_progress(order, PatientName=f"{order.patient.family_name}^{order.patient.given_name}")
        status, _ = assoc.send_n_create(step, MPPS_SOP_CLASS, "1.2.826.0.1.3680043.10.543.42")
        assert status.Status == 0x0000
        assoc.release()

        def accepting() -> bool:
            assert listener.poll() is None, "the HL7 listener exited"
            try:
                Sender(hl7_port).close()
            except OSError:
                return False
            return True

        wait_until(accepting, timeout=20, what="the HL7 listener to accept", interval=0.05)
        family, given, patient_id = HL7_NAME
        patient = pid(patient_id=patient_id, family=family, given=given)
        sender = Sender(hl7_port)
        try:
            assert ack_code(sender.send(adt("A04", "LOGC1", pid_segment=patient))) == "AA"
            refused = sender.send(orm("NW", "LOGC2", pid_segment=patient, code="NO-SUCH-CODE"))
            assert ack_code(refused) in ("AE", "AR")
            sender.send(f"MSH|^~\\&|HIS|MNH|RIS\rPID|||{patient_id}||{family}^{given}\r")  # malformed
        finally:
            sender.close()
    finally:
        gateway_log = stop(gateway)
        hl7_log = stop(listener)
    assert "C-FIND peer=" in gateway_log
    assert "N-CREATE" in gateway_log or "MPPS" in gateway_log
    assert "HL7 connection from" in hl7_log
    leaks = sorted(
        f"{name}: {which}"
        for which, log in (("gateway", gateway_log), ("HL7 listener", hl7_log))
        for name in patient_strings()
        if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", log)
    )
    assert not leaks, "patient data in the logs:\n" + "\n".join(leaks)
