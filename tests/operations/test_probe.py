"""The health probe (compose's health checks): a C-ECHO as MWL_HEALTH_AE_TITLE from this host
that leaves no record, that may do nothing else, and that other hosts cannot use."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from pynetdicom import AE

from dicom_gateway.keys import MWL_FIND_SOP_CLASS
from dicom_gateway.models import AssociationRecord
from dicom_gateway.server import Gateway
from tests.dicom_gateway.test_command import free_port


def probe(service: str) -> int:
    try:
        call_command("ris_probe", service, timeout=5)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_the_dicom_probe_answers_and_leaves_no_record(gateway: Gateway, settings: Any) -> None:
    settings.MWL_PORT = gateway.port
    assert probe("dicom") == 0
    gateway.recorder.flush()
    assert not AssociationRecord.objects.exists()
    # the probe's AE title may not query the worklist
    ae = AE(ae_title="RIS_HEALTH")
    ae.add_requested_context(MWL_FIND_SOP_CLASS)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="RIS_MWL")
    assert assoc.is_rejected
    gateway.recorder.flush()
    assert AssociationRecord.objects.get().reason == "the health probe may only C-ECHO"


@pytest.mark.django_db
def test_probes_fail_when_nothing_listens(settings: Any) -> None:
    settings.MWL_PORT = free_port()
    settings.HL7_PORT = free_port()
    assert probe("dicom") == 1
    assert probe("hl7") == 1


def test_the_hl7_probe_answers(listener: int, settings: Any) -> None:
    settings.HL7_PORT = listener
    assert probe("hl7") == 0
