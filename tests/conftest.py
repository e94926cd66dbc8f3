"""Shared fixtures: users per role, stations, a procedure, a patient, an order,
an appointment. The clock is frozen on a Tuesday morning in Dar es Salaam."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role
from orders.models import Order, Procedure
from orders.services import order_create, procedure_create
from patients.models import Patient
from patients.services import patient_create
from scheduling.booking import appointment_book
from scheduling.models import Appointment, Station
from scheduling.stations import OpeningHoursEntry, station_create
from tests.audit_watch import AuditWatch
from tests.tls_certs import SiteCertificates, site_certificates

DAR = ZoneInfo("Africa/Dar_es_Salaam")
# Tuesday 1 December 2026, 07:00 in Dar es Salaam (04:00 UTC).
NOW = dt.datetime(2026, 12, 1, 7, 0, tzinfo=DAR)
WEEKDAY_HOURS = [OpeningHoursEntry(weekday=d, opens=dt.time(8), closes=dt.time(17)) for d in range(5)]


def at(hour: int, minute: int = 0, day: int = 1) -> dt.datetime:
    """An aware datetime on December ``day`` 2026, local time."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=DAR)


requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL; scripts/test does)"
)


DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback"}


@pytest.fixture(autouse=True)
def every_write_is_audited(request: pytest.FixtureRequest) -> Iterator[None]:
    """A write by the RIS's own code without its audit record fails the test (tests/audit_watch.py)."""
    if request.node.get_closest_marker("django_db") is None and not DB_FIXTURES & set(request.fixturenames):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up first, so the database outlives this check
    watch = AuditWatch()
    watch.start()
    try:
        yield
    finally:
        watch.stop()
    tampered = request.node.get_closest_marker("audit_unchecked") is not None
    if django_settings.AUDIT_ENABLED and not tampered and not connection.needs_rollback:
        missing = watch.unaudited()
        assert not missing, "written without an audit record: " + "; ".join(
            f"{w.kind} {w.label} #{w.pk} at {w.where}" for w in missing
        )


@pytest.fixture(autouse=True)
def audit_archive(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each test its own audit archive folder: the chain heads exported there
    belong to that test's database rows, which roll back at its end."""
    folder = tmp_path_factory.mktemp("audit-archive")
    settings.AUDIT_ARCHIVE_DIR = str(folder)
    return folder


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """A request in Swahili leaves Swahili active in the test's thread (LocaleMiddleware
    does not switch back): every test starts and ends in the default language."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def gateway_journal_dir(settings: Any, tmp_path: Any) -> Any:
    """Each test's gateway journals in its own folder (dicom_gateway/recorder.py)."""
    settings.MWL_JOURNAL_DIR = str(tmp_path / "gateway-journal")
    return tmp_path / "gateway-journal"


def _user(username: str, role: Role | None) -> User:
    user = User.objects.create_user(username=username, password="x-test-password")
    if role is not None:
        group, _ = Group.objects.get_or_create(name=role.value)
        user.groups.add(group)
    return user


@pytest.fixture(scope="session")
def site_certs(tmp_path_factory: pytest.TempPathFactory) -> SiteCertificates:
    """A site CA, the server's and a modality's certificates, and another CA's (tests/tls_certs.py)."""
    return site_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def scheduler(db: None) -> User:
    return _user("sched", Role.SCHEDULER)


@pytest.fixture
def technologist(db: None) -> User:
    return _user("techy", Role.TECHNOLOGIST)


@pytest.fixture
def radiologist(db: None) -> User:
    return _user("rad", Role.RADIOLOGIST)


@pytest.fixture
def admin_user(db: None) -> User:
    return _user("boss", Role.ADMIN)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_as() -> Any:
    return client_for


@pytest.fixture
def ct_station(db: None) -> Station:
    return station_create(
        name="CT Scanner", room="Room 3", modality="CT", ae_title="CT_ROOM3", opening_hours=WEEKDAY_HOURS
    )


@pytest.fixture
def us_station(db: None) -> Station:
    return station_create(name="Ultrasound 1", room="Room 4", modality="US", ae_title="US_ROOM4")


@pytest.fixture
def ct_head(db: None) -> Procedure:
    return procedure_create(
        code="CTHEAD",
        coding_scheme="RIS",
        name="CT Head without contrast",
        modality="CT",
        default_duration_minutes=30,
        body_part="HEAD",
        protocol_code="CT-HEAD-NC",
    )


@pytest.fixture
def patient(db: None) -> Patient:
    return patient_create(
        patient_id="MNH0001",
        issuer="MNH",
        family_name="Mwakyusa",
        given_name="Neema",
        middle_name="Joseph",
        birth_date=dt.date(1985, 3, 14),
        sex="F",
        phone="0712 345 678",
    )


@pytest.fixture
def order(patient: Patient, ct_head: Procedure) -> Order:
    return order_create(patient=patient, procedure=ct_head, referring_physician="Kimaro^Neema", reason="Headache")


@pytest.fixture
def appointment(order: Order, ct_station: Station) -> Appointment:
    return appointment_book(order=order, station=ct_station, starts_at=at(9))


@pytest.fixture
def make_order(ct_head: Procedure, patient: Patient) -> Any:
    """Orders, each for another patient unless ``patient`` is given (one patient
    cannot be booked in two places at once, so a station's neighbouring slots
    are other people's)."""
    count = iter(range(2, 10_000))

    def make(**kwargs: Any) -> Order:
        if "patient" not in kwargs:
            n = next(count)
            kwargs["patient"] = patient_create(
                patient_id=f"MNH{n:04d}", issuer="MNH", family_name="Mgonjwa", given_name=f"Namba{n}"
            )
        kwargs.setdefault("procedure", ct_head)
        return order_create(**kwargs)

    return make
