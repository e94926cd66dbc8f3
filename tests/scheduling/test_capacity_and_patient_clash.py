"""A room that takes N patients at once, and a patient who is in one place at a time.

Both are enforced by the database on PostgreSQL (exclusion constraints over a
lane or the patient and the time range), and by the booking service on both
databases; the refusals are 409s naming the clash.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from mwl_ris.lib.errors import ApplicationError, Conflict
from patients.services import patient_create, patient_merge
from scheduling.booking import PatientBusy, SlotTaken, appointment_book, appointment_reschedule
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.selectors import station_free_slots
from scheduling.stations import station_create, station_update
from tests.concurrency import run_together
from tests.conftest import WEEKDAY_HOURS, at, client_for, requires_postgres


@pytest.fixture
def trauma_ct(db: None) -> Station:
    return station_create(
        name="Trauma CT", room="Block B", modality="CT", ae_title="CT_TRAUMA", capacity=2, opening_hours=WEEKDAY_HOURS
    )


@pytest.fixture
def ct2(db: None) -> Station:
    return station_create(name="CT Scanner 2", modality="CT", ae_title="CT_ROOM4", opening_hours=WEEKDAY_HOURS)


# --- capacity ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_room_for_two_takes_two_overlapping_bookings_and_refuses_a_third(trauma_ct: Station, make_order: Any) -> None:
    first = appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    second = appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9, 15))
    assert (first.lane, second.lane) == (1, 2)
    with pytest.raises(SlotTaken, match="all its 2 places taken") as refused:
        appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9, 10))
    assert refused.value.http_status == 409
    assert refused.value.extra["clashing_appointment"]["station_name"] == "Trauma CT · Block B"
    # after the first ends its lane is free again, while the second still runs
    assert appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9, 30)).lane == 1


@pytest.mark.django_db
def test_free_slots_count_the_places_of_the_room(trauma_ct: Station, make_order: Any) -> None:
    day = at(9).date()
    half_hour = dt.timedelta(minutes=30)
    assert at(9) in [s for s, _ in station_free_slots(station=trauma_ct, day=day, duration=half_hour, not_before=at(0))]
    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    starts = [s for s, _ in station_free_slots(station=trauma_ct, day=day, duration=half_hour, not_before=at(0))]
    assert at(9) in starts  # one place is still free
    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    starts = [s for s, _ in station_free_slots(station=trauma_ct, day=day, duration=half_hour, not_before=at(0))]
    assert at(9) not in starts
    assert at(8, 45) not in starts
    assert at(9, 30) in starts


@pytest.mark.django_db
def test_capacity_cannot_drop_below_a_place_that_is_booked(trauma_ct: Station, make_order: Any) -> None:
    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    with pytest.raises(ApplicationError, match="place 2 is booked"):
        station_update(station=trauma_ct, capacity=1)
    assert Station.objects.get(pk=trauma_ct.pk).capacity == 2


@requires_postgres
@pytest.mark.django_db
def test_the_database_refuses_two_appointments_in_one_lane(trauma_ct: Station, make_order: Any) -> None:
    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    Appointment.objects.create(order=make_order(), station=trauma_ct, lane=2, starts_at=at(9), ends_at=at(9, 30))
    with pytest.raises(IntegrityError, match="appointment_no_overlap"), transaction.atomic():
        Appointment.objects.create(order=make_order(), station=trauma_ct, lane=2, starts_at=at(9), ends_at=at(9, 30))


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_bookings_of_a_room_for_two_give_exactly_two_winners(
    trauma_ct: Station, make_order: Any
) -> None:
    orders = [make_order() for _ in range(10)]
    outcomes = run_together(
        [
            functools.partial(appointment_book, order=order, station=trauma_ct, starts_at=at(10, i % 5))
            for i, order in enumerate(orders)
        ],
        expected=SlotTaken,
    )
    assert outcomes == ["booked"] * 2 + ["conflict"] * 8
    lanes = sorted(Appointment.objects.filter(station=trauma_ct, status="active").values_list("lane", flat=True))
    assert lanes == [1, 2]


# --- one patient, one place -------------------------------------------------------


@pytest.mark.django_db
def test_a_patient_cannot_be_booked_in_two_rooms_at_once(
    ct_station: Station, ct2: Station, make_order: Any, patient: Any
) -> None:
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(12, 30))
    with pytest.raises(PatientBusy, match="CT Scanner · Room 3") as refused:
        appointment_book(order=make_order(patient=patient), station=ct2, starts_at=at(12, 45))
    assert refused.value.http_status == 409
    assert refused.value.extra["clashing_appointment"]["station"] == "CT_ROOM3"
    # right after the first exam is fine
    assert appointment_book(order=make_order(patient=patient), station=ct2, starts_at=at(13))


@pytest.mark.django_db
def test_only_an_admin_with_a_reason_books_a_patient_twice_at_once(
    ct_station: Station, ct2: Station, make_order: Any, patient: Any, scheduler: Any, admin_user: Any
) -> None:
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(12, 30))
    order = make_order(patient=patient)
    with pytest.raises(PatientBusy):
        appointment_book(order=order, station=ct2, starts_at=at(12, 30), override_reason="x", actor=scheduler)
    with pytest.raises(PatientBusy):
        appointment_book(order=order, station=ct2, starts_at=at(12, 30), actor=admin_user)
    allowed = appointment_book(
        order=order,
        station=ct2,
        starts_at=at(12, 30),
        override_reason="Sedated once for both scans",
        actor=admin_user,
    )
    assert allowed.patient_overlap_allowed
    assert allowed.override_reason == "Sedated once for both scans"


@pytest.mark.django_db
def test_a_reschedule_into_the_patients_other_booking_is_refused(
    ct_station: Station, ct2: Station, make_order: Any, patient: Any
) -> None:
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(9))
    second = appointment_book(order=make_order(patient=patient), station=ct2, starts_at=at(11))
    with pytest.raises(PatientBusy):
        appointment_reschedule(appointment=second, starts_at=at(9, 15), reason="patient asked")
    # moving within its own time is not a clash with itself
    assert appointment_reschedule(appointment=second, starts_at=at(11, 15), reason="patient asked").pk


@requires_postgres
@pytest.mark.django_db
def test_the_database_itself_refuses_a_patient_in_two_places(
    ct_station: Station, ct2: Station, make_order: Any, patient: Any
) -> None:
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(9))
    with pytest.raises(IntegrityError, match="appointment_patient_no_overlap"), transaction.atomic():
        Appointment.objects.create(order=make_order(patient=patient), station=ct2, starts_at=at(9), ends_at=at(9, 30))


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_one_patient_in_different_rooms_give_one_winner(make_order: Any, patient: Any) -> None:
    rooms = [
        station_create(name=f"Room {n}", modality="CT", ae_title=f"CT_R{n}", opening_hours=WEEKDAY_HOURS)
        for n in range(6)
    ]
    orders = [make_order(patient=patient) for _ in rooms]
    outcomes = run_together(
        [
            functools.partial(appointment_book, order=order, station=room, starts_at=at(10))
            for order, room in zip(orders, rooms, strict=True)
        ],
        expected=PatientBusy,
    )
    assert outcomes == ["booked"] + ["conflict"] * 5
    assert Appointment.objects.filter(patient=patient, status=AppointmentStatus.ACTIVE).count() == 1


@pytest.mark.django_db
def test_the_api_answers_409_naming_the_patients_other_booking(
    ct_station: Station, ct2: Station, make_order: Any, patient: Any, scheduler: Any
) -> None:
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(12, 30))
    order = make_order(patient=patient)
    response = client_for(scheduler).post(
        "/api/v1/appointments/",
        {"order": order.pk, "station": ct2.pk, "starts_at": at(12, 30).isoformat()},
        format="json",
    )
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "patient_busy"
    assert body["clashing_appointment"]["station"] == "CT_ROOM3"
    assert body["clashing_appointment"]["starts_at"].endswith("+03:00")


@pytest.mark.django_db
def test_a_merge_of_two_records_booked_at_once_keeps_both_and_marks_the_overlap(
    ct_station: Station, ct2: Station, make_order: Any, patient: Any
) -> None:
    twin = patient_create(patient_id="MNH0999", issuer="MNH", family_name="Mwakyusa", given_name="Neema")
    appointment_book(order=make_order(patient=patient), station=ct_station, starts_at=at(9))
    moved = appointment_book(order=make_order(patient=twin), station=ct2, starts_at=at(9))
    patient_merge(source=twin, target=patient)
    moved.refresh_from_db()
    assert moved.patient_id == patient.pk
    assert moved.patient_overlap_allowed


def test_both_refusals_are_conflicts() -> None:
    assert issubclass(PatientBusy, Conflict)
    assert issubclass(SlotTaken, Conflict)


@pytest.mark.django_db
def test_the_admin_site_refuses_fewer_places_than_are_booked_with_a_form_error(
    trauma_ct: Station, make_order: Any, admin_user: Any
) -> None:
    from django.test import Client

    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    appointment_book(order=make_order(), station=trauma_ct, starts_at=at(9))
    admin_user.is_staff = admin_user.is_superuser = True  # Django's admin site, as seed_demo's admin
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/scheduling/station/{trauma_ct.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data |= {"capacity": "1", "active": "on", "dicom_profile": ""}
    for prefix in ("opening_hours", "closures"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = client.post(f"/admin/scheduling/station/{trauma_ct.pk}/change/", data)
    assert response.status_code == 200  # the form again, not a crash
    assert "place 2 is booked" in response.content.decode()
    assert Station.objects.get(pk=trauma_ct.pk).capacity == 2
