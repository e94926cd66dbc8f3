from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from orders.models import Order
from scheduling.models import Appointment, Station
from tests.conftest import at
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def test_admins_create_stations_with_hours_and_bad_ae_titles_are_refused(
    api_as: Any, admin_user: User, scheduler: User, ct_station: Station
) -> None:
    body = {
        "name": "MRI",
        "modality": "MR",
        "ae_title": "MR_ROOM5",
        "opening_hours": [{"weekday": 0, "opens": "08:00", "closes": "18:00"}],
    }
    assert api_as(scheduler).post("/api/v1/stations/", body, format="json").status_code == 403
    created = api_as(admin_user).post("/api/v1/stations/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["opening_hours"] == [{"weekday": 0, "opens": "08:00:00", "closes": "18:00:00"}]
    for bad in ("MR\\ROOM", "A" * 17, " "):
        response = api_as(admin_user).post("/api/v1/stations/", {**body, "ae_title": bad}, format="json")
        assert response.status_code == 400
        assert "ae_title" in response.json()
    taken = api_as(admin_user).post("/api/v1/stations/", {**body, "ae_title": "CT_ROOM3"}, format="json")
    assert taken.status_code == 400
    assert "ae_title" in taken.json()


def test_free_slots_and_closures(api_as: Any, admin_user: User, appointment: Appointment) -> None:
    client = api_as(admin_user)
    url = f"/api/v1/stations/{appointment.station_id}/"
    slots = client.get(url + "free-slots/", {"date": "2026-12-01", "minutes": 30}).json()
    starts = [s["starts_at"] for s in slots]
    assert starts[0] == "2026-12-01T08:00:00+03:00"
    assert "2026-12-01T09:00:00+03:00" not in starts
    assert "2026-12-01T09:30:00+03:00" in starts
    assert client.get(url + "free-slots/", {"minutes": 2}).status_code == 400
    closure = {"starts_at": "2026-12-02T08:00:00+03:00", "ends_at": "2026-12-02T12:00:00+03:00", "reason": "Service"}
    assert client.post(url + "closures/", closure, format="json").status_code == 201
    assert [c["reason"] for c in client.get(url + "closures/").json()] == ["Service"]


def test_booking_through_the_api_and_the_409_names_the_clash(
    api_as: Any, scheduler: User, order: Order, make_order: Any, ct_station: Station
) -> None:
    client = api_as(scheduler)
    first = client.post(
        "/api/v1/appointments/",
        {"order": order.pk, "station": ct_station.pk, "starts_at": "2026-12-01T10:00:00+03:00"},
        format="json",
    )
    assert first.status_code == 201, first.json()
    assert first.json()["ends_at"] == "2026-12-01T10:30:00+03:00"
    assert first.json()["exam_status"] == "scheduled"
    clash = client.post(
        "/api/v1/appointments/",
        {"order": make_order().pk, "station": ct_station.pk, "starts_at": "2026-12-01T10:15:00+03:00"},
        format="json",
    )
    assert clash.status_code == 409
    body = clash.json()
    assert body["code"] == "slot_taken"
    assert body["clashing_appointment"]["id"] == first.json()["id"]
    assert body["clashing_appointment"]["accession_number"] == order.accession_number
    # the clash's times with the facility's offset, like every other time in the API
    assert body["clashing_appointment"]["starts_at"] == "2026-12-01T10:00:00+03:00"
    assert body["clashing_appointment"]["ends_at"] == "2026-12-01T10:30:00+03:00"
    assert "from 01/12/2026 10:00 to 10:30" in body["detail"]


def test_booking_errors_are_400_or_403(
    api_as: Any, scheduler: User, technologist: User, order: Order, ct_station: Station
) -> None:
    body = {"order": order.pk, "station": ct_station.pk, "starts_at": "2026-12-01T20:00:00+03:00"}
    assert api_as(technologist).post("/api/v1/appointments/", body, format="json").status_code == 403
    outside = api_as(scheduler).post("/api/v1/appointments/", body, format="json")
    assert outside.status_code == 400
    assert outside.json()["code"] == "outside_booking_rules"
    override = api_as(scheduler).post("/api/v1/appointments/", {**body, "override_reason": "urgent"}, format="json")
    assert override.status_code == 403
    missing = api_as(scheduler).post("/api/v1/appointments/", {"order": order.pk}, format="json")
    assert missing.status_code == 400
    assert set(missing.json()) == {"station", "starts_at"}


def test_reschedule_and_cancel_through_the_api(api_as: Any, scheduler: User, appointment: Appointment) -> None:
    client = api_as(scheduler)
    moved = client.post(
        f"/api/v1/appointments/{appointment.pk}/reschedule/",
        {"starts_at": "2026-12-02T11:00:00+03:00", "reason": "patient request"},
        format="json",
    )
    assert moved.status_code == 201, moved.json()
    assert WorklistItem.objects.get(order=appointment.order).sps_start == at(11, day=2)
    old = client.get(f"/api/v1/appointments/{appointment.pk}/").json()
    assert (old["status"], old["replaced_by"]) == ("rescheduled", moved.json()["id"])
    unexplained = client.post(
        f"/api/v1/appointments/{moved.json()['id']}/reschedule/", {"starts_at": "2026-12-02T13:00:00+03:00"}
    )
    assert unexplained.status_code == 400  # a move needs its reason
    assert "reason" in unexplained.json()
    stale = client.post(
        f"/api/v1/appointments/{appointment.pk}/reschedule/",
        {"starts_at": "2026-12-02T13:00:00+03:00", "reason": "again"},
    )
    assert stale.status_code == 409
    assert client.post(f"/api/v1/appointments/{moved.json()['id']}/cancel/", {}, format="json").status_code == 400
    cancelled = client.post(f"/api/v1/appointments/{moved.json()['id']}/cancel/", {"reason": "died"}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert not WorklistItem.objects.exists()


def test_listing_appointments_by_station_and_local_date(
    api_as: Any, radiologist: User, appointment: Appointment, make_order: Any
) -> None:
    from scheduling.booking import appointment_book

    appointment_book(order=make_order(), station=appointment.station, starts_at=at(9, day=2))
    client = api_as(radiologist)
    today = client.get("/api/v1/appointments/", {"station_ae_title": "CT_ROOM3", "date": "2026-12-01"}).json()
    assert [a["id"] for a in today["results"]] == [appointment.pk]
    assert client.get("/api/v1/appointments/", {"date": "2026-13-01"}).status_code == 400
