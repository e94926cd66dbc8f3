from __future__ import annotations

import datetime as dt
import itertools
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts.roles import Role, user_roles
from orders.models import Order, Procedure
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus, Station
from tests.conftest import DAR
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--patients", "40", "--days", "1", stdout=out)
    return out.getvalue()


def test_the_demo_is_a_realistic_hospital_and_a_second_run_adds_nothing() -> None:
    first = seed()
    assert "8 stations, 41 procedures, 40 patients" in first
    counts = (Order.objects.count(), Appointment.objects.count(), WorklistItem.objects.count())
    assert counts[0] > 50
    assert Station.objects.filter(modality="DX").count() == 2
    assert Station.objects.filter(modality="US").count() == 2
    assert {s.modality for s in Station.objects.all()} == {"CT", "MR", "DX", "US", "MG", "RF"}
    assert Patient.objects.filter(family_name="Müller").exists()
    assert Patient.objects.filter(identifiers__kind="nhif").count() > 10
    # today has exams still to be done on the worklist, and yesterday's are finished
    assert WorklistItem.objects.filter(sps_status="SCHEDULED").exists()
    assert Order.objects.filter(status="completed").exists()
    assert user_roles(User.objects.get(username="scheduler")) == {Role.SCHEDULER}

    second = seed()
    assert "0 new appointments" in second
    assert (Order.objects.count(), Appointment.objects.count(), WorklistItem.objects.count()) == counts
    assert Procedure.objects.count() == 41


def test_the_demo_never_double_books() -> None:
    seed()
    active = list(Appointment.objects.filter(status=AppointmentStatus.ACTIVE).order_by("station", "starts_at"))
    for a, b in itertools.pairwise(active):
        if a.station_id == b.station_id:
            assert a.ends_at <= b.starts_at


@pytest.mark.django_db
def test_seeding_minutes_after_a_short_exam_started_makes_no_early_no_show() -> None:
    """CI, Monday 07/12/2026 08:25:49: a 10-minute exam at 08:15 had ended, its
    15-minute no-show grace had not, and seeding stopped with an ApplicationError."""
    with time_machine.travel(dt.datetime(2026, 12, 7, 8, 25, 49, tzinfo=DAR), tick=False):
        call_command("seed_demo", no_users=True)
