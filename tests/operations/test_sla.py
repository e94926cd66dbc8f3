"""The SLA page measures from the system's own records: C-FIND answer and error times (the
gateway's audit records), HL7 and booking acknowledgements, and the gateway's availability
(heartbeat gaps and associations)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditRecord, Interface
from dicom_gateway.models import AssociationOutcome, AssociationRecord
from hl7_interface.models import InboundMessage, InboundStatus
from monitoring.models import ServiceHeartbeat, UpdateTiming
from operations.sla import _interpolated, gaps, sla_report


def cfind(ms: float, status: int = 0, *, hours_ago: float = 1) -> None:
    AuditRecord.objects.create(
        at=timezone.now() - dt.timedelta(hours=hours_ago),
        interface=Interface.DICOM,
        actor="CT1",
        action="c-find",
        after={"matches": 1, "status": status, "ms": ms},
    )


def test_percentile_cont_is_linear_between_ranks() -> None:
    assert _interpolated([], 0.95) is None
    assert _interpolated([1.0], 0.95) == 1.0
    assert _interpolated([float(v) for v in range(1, 101)], 0.95) == pytest.approx(95.05)


@pytest.mark.django_db
def test_the_sla_measures_what_was_recorded(client: Client, admin_user: Any) -> None:
    now = timezone.now()
    for ms in range(1, 101):  # 100 answers, 1..100 ms, within the day
        cfind(float(ms))
    cfind(6000.0, hours_ago=24 * 10)  # ten days ago: in the 30 days only
    for error_ms in (100.0, 4000.0):
        cfind(error_ms, status=0xA700)
    for seconds in (0.1, 0.2, 3.0):
        message = InboundMessage.objects.create(raw=b"x", status=InboundStatus.PROCESSED, ack_code="AA")
        InboundMessage.objects.filter(pk=message.pk).update(
            received_at=now - dt.timedelta(hours=2),
            processed_at=now - dt.timedelta(hours=2) + dt.timedelta(seconds=seconds),
        )
    UpdateTiming.objects.create(at=now - dt.timedelta(hours=1), view="ui:book", method="POST", status=302, ms=300)
    UpdateTiming.objects.create(at=now - dt.timedelta(hours=1), view="patient-list", method="POST", status=201, ms=2500)
    # the gateway ran from 30 h ago, stopped for an hour 5 h ago, and runs now
    ServiceHeartbeat.objects.create(
        service="mwl_gateway",
        host="h",
        pid=1,
        started_at=now - dt.timedelta(hours=30),
        last_seen=now - dt.timedelta(hours=5),
        stopped=True,
    )
    ServiceHeartbeat.objects.create(
        service="mwl_gateway", host="h", pid=2, started_at=now - dt.timedelta(hours=4), last_seen=now
    )
    AssociationRecord.objects.create(
        calling_ae_title="CT1",
        called_ae_title="RIS_MWL",
        peer="p",
        outcome=AssociationOutcome.ACCEPTED,
        at=now - dt.timedelta(minutes=1),
    )
    AssociationRecord.objects.create(
        calling_ae_title="X",
        called_ae_title="RIS_MWL",
        peer="p",
        outcome=AssociationOutcome.REJECTED,
        at=now - dt.timedelta(minutes=1),
    )

    day, month = sla_report(use_cache=False)
    measures = {str(m.label): m for m in day.measures}
    answer = measures["C-FIND answer, 95th percentile"]
    assert (answer.count, answer.met) == (100, True)
    assert answer.value == pytest.approx(0.09505)
    errors = measures["C-FIND error answer, 95th percentile"]
    assert errors.count == 2
    assert errors.value == pytest.approx(0.1 + 3.9 * 0.95)
    assert errors.met is False  # 3.805 s against 3 s
    hl7 = measures["HL7 message to ACK, 99th percentile"]
    assert hl7.count == 3
    assert hl7.met is False
    booking = measures["Booking answered, 99th percentile"]
    assert (booking.count, booking.value, booking.met) == (1, pytest.approx(0.3), True)
    assert measures["Any web update answered, 99th percentile"].met is False
    availability = measures["Gateway available"]
    assert availability.value == pytest.approx(100 * 23 / 24, abs=0.01)
    assert availability.count == 1
    assert day.gaps == [(now - dt.timedelta(hours=5), now - dt.timedelta(hours=4))]
    assert day.associations == {"accepted": 1, "rejected": 1, "aborted": 0}
    month_answers = {str(m.label): m for m in month.measures}["C-FIND answer, 95th percentile"]
    assert month_answers.count == 101
    # the page, for an admin
    client.force_login(admin_user)
    page = client.get("/operations/sla/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Last 24 hours" in text
    assert "Last 30 days" in text
    assert "0.095 s" in text


@pytest.mark.django_db
def test_a_service_never_seen_was_never_available() -> None:
    now = timezone.now()
    assert gaps("mwl_gateway", now - dt.timedelta(hours=1), now, dt.timedelta(seconds=90)) == [
        (now - dt.timedelta(hours=1), now)
    ]


@pytest.mark.django_db
def test_the_operations_pages_are_for_admins_only(client: Client, scheduler: Any) -> None:
    client.force_login(scheduler)
    assert client.get("/operations/sla/").status_code == 403
    assert client.get("/operations/check/").status_code == 403
