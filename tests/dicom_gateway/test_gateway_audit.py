"""Every C-FIND and every refused association reaches the audit trail (no patient data)."""

from __future__ import annotations

import pytest

from audit.models import AuditRecord
from dicom_gateway.server import Gateway
from tests.dicom_gateway.conftest import SPS, Worklist, findscu, pynetdicom_associate


@pytest.mark.audit_unchecked
def test_each_query_and_each_rejected_association_is_audited(live_worklist: Worklist, gateway: Gateway) -> None:
    AuditRecord.objects.all()._raw_delete(AuditRecord.objects.db)
    code, responses = findscu(gateway.port, ["PatientName", f"{SPS}[0].ScheduledStationAETitle=CT_ROOM3"])
    assert code == 0
    assert not pynetdicom_associate(gateway.port, calling="INTRUDER").is_established
    gateway.recorder.flush()
    query = AuditRecord.objects.get(action="c-find")
    assert (query.interface, query.actor, query.ae_title) == ("dicom", "CT_ROOM3", "CT_ROOM3")
    assert query.ip.startswith("127.0.0.1:")
    assert f"matches={len(responses)}" in query.summary
    assert "ScheduledStationAETitle" in query.summary
    assert "Mwakyusa" not in query.summary  # keys and matching types, never the values
    rejected = AuditRecord.objects.get(action="association-rejected")
    assert rejected.actor == "INTRUDER"
    assert "calling AE title not recognized" in rejected.summary
