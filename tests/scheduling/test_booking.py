from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from mwl_ris.lib.errors import ApplicationError, Conflict, InvalidTransition, PermissionRefused
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from scheduling.booking import BookingRefused, SlotTaken, appointment_book, appointment_cancel, appointment_reschedule
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.stations import closure_create
from tests.conftest import at
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def test_booking_schedules_the_order_and_puts_it_on_the_worklist(order: Order, ct_station: Station) -> None:
    appointment = appointment_book(order=order, station=ct_station, starts_at=at(9))
    order.refresh_from_db()
    assert order.status == ExamStatus.SCHEDULED
    assert appointment.ends_at == at(9, 30)  # the procedure's default duration
    item = WorklistItem.objects.get(order=order)
    assert item.appointment == appointment
    assert item.patient_name == "Mwakyusa^Neema^Joseph"
    assert item.patient_id == "MNH0001"
    assert item.issuer_of_patient_id == "MNH"
    assert item.patient_birth_date == dt.date(1985, 3, 14)
    assert item.patient_sex == "F"
    assert item.accession_number == order.accession_number
    assert item.study_instance_uid == order.study_instance_uid
    assert item.requested_procedure_id == item.sps_id == order.requested_procedure_id
    assert item.requested_procedure_description == "CT Head without contrast"
    assert (item.requested_procedure_code_value, item.requested_procedure_coding_scheme) == ("CTHEAD", "RIS")
    assert item.requested_procedure_priority == "ROUTINE"
    assert item.referring_physician_name == "Kimaro^Neema"
    assert item.sps_start == at(9)
    assert (item.sps_start_date, item.sps_start_time) == (dt.date(2026, 12, 1), dt.time(9, 0))
    assert (item.modality, item.station_ae_title, item.station_name) == ("CT", "CT_ROOM3", "CT Scanner")
    assert item.protocol_code_value == "CT-HEAD-NC"
    assert item.sps_status == "SCHEDULED"


def test_local_date_and_time_columns_are_in_the_facility_time_zone(order: Order, us_station: Station) -> None:
    from orders.services import order_update, procedure_create

    us = procedure_create(code="USABD", name="US Abdomen", modality="US", default_duration_minutes=20)
    late = order_update(order=order, procedure=us)
    # 00:30 local on 2 December is 21:30 UTC on the 1st: the DICOM date is the local one.
    appointment_book(order=late, station=us_station, starts_at=at(0, 30, day=2))
    item = WorklistItem.objects.get(order=late)
    assert (item.sps_start_date, item.sps_start_time) == (dt.date(2026, 12, 2), dt.time(0, 30))


def test_an_overlapping_booking_is_refused_naming_the_clash(appointment: Appointment, make_order: Any) -> None:
    other = make_order()
    with pytest.raises(SlotTaken) as info:
        appointment_book(order=other, station=appointment.station, starts_at=at(9, 15))
    clash = info.value.extra["clashing_appointment"]
    assert clash["id"] == appointment.pk
    assert clash["accession_number"] == appointment.order.accession_number
    assert info.value.http_status == 409
    other.refresh_from_db()
    assert other.status == ExamStatus.REQUESTED
    assert not WorklistItem.objects.filter(order=other).exists()


def test_back_to_back_appointments_do_not_overlap(appointment: Appointment, make_order: Any) -> None:
    before = appointment_book(order=make_order(), station=appointment.station, starts_at=at(8, 30))
    after = appointment_book(order=make_order(), station=appointment.station, starts_at=at(9, 30))
    assert before.ends_at == appointment.starts_at
    assert after.starts_at == appointment.ends_at


def test_the_same_time_on_another_station_is_free(appointment: Appointment, make_order: Any) -> None:
    from scheduling.stations import station_create

    second = station_create(name="CT 2", modality="CT", ae_title="CT_ROOM9")
    assert appointment_book(order=make_order(), station=second, starts_at=at(9)).pk


@pytest.mark.parametrize("free_with", [ExamStatus.CANCELLED, ExamStatus.NO_SHOW])
def test_cancelled_and_no_show_appointments_free_their_slot(
    appointment: Appointment, make_order: Any, free_with: ExamStatus, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(9, 15))  # the 09:00 exam's start plus the no-show grace
    exam_transition(order=appointment.order, to=free_with, reason="patient phoned")
    appointment.refresh_from_db()
    assert appointment.status == (
        AppointmentStatus.CANCELLED if free_with == ExamStatus.CANCELLED else AppointmentStatus.NO_SHOW
    )
    assert not WorklistItem.objects.filter(order=appointment.order).exists()
    assert appointment_book(order=make_order(), station=appointment.station, starts_at=at(9)).pk


def test_a_no_show_before_the_start_plus_the_grace_is_refused(appointment: Appointment, frozen_clock: Any) -> None:
    for when in (at(7), at(9), at(9, 14)):  # the 09:00 exam, with 15 minutes' grace
        frozen_clock.move_to(when)
        with pytest.raises(ApplicationError) as info:
            exam_transition(order=appointment.order, to=ExamStatus.NO_SHOW)
        assert info.value.code == "no_show_too_early"
        assert "from 01/12/2026 09:15" in info.value.message
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ACTIVE
    frozen_clock.move_to(at(9, 15))
    assert exam_transition(order=appointment.order, to=ExamStatus.NO_SHOW).status == ExamStatus.NO_SHOW


def test_a_booking_outside_opening_hours_is_refused_with_the_hours(order: Order, ct_station: Station) -> None:
    with pytest.raises(BookingRefused, match="opening hours") as info:
        appointment_book(order=order, station=ct_station, starts_at=at(16, 45))
    assert "08:00-17:00" in info.value.message
    with pytest.raises(BookingRefused, match="closed all day"):
        appointment_book(order=order, station=ct_station, starts_at=at(10, day=5))  # a Saturday


def test_a_booking_in_a_closure_is_refused_with_its_reason(order: Order, ct_station: Station) -> None:
    closure_create(station=ct_station, starts_at=at(10), ends_at=at(12), reason="Tube replacement")
    with pytest.raises(BookingRefused, match="Tube replacement"):
        appointment_book(order=order, station=ct_station, starts_at=at(11, 45))


def test_a_booking_in_the_past_is_refused(order: Order, ct_station: Station) -> None:
    with pytest.raises(BookingRefused, match="before now"):
        appointment_book(order=order, station=ct_station, starts_at=at(9, day=30) - dt.timedelta(days=30))


def test_overriding_opening_hours_needs_a_reason_and_the_admin_role(
    order: Order, ct_station: Station, scheduler: User, admin_user: User
) -> None:
    with pytest.raises(PermissionRefused):
        appointment_book(
            order=order, station=ct_station, starts_at=at(18), override_reason="Emergency", actor=scheduler
        )
    appointment = appointment_book(
        order=order, station=ct_station, starts_at=at(18), override_reason="Emergency", actor=admin_user
    )
    assert appointment.override_reason == "Emergency"


def test_an_override_never_allows_an_overlap(appointment: Appointment, make_order: Any, admin_user: User) -> None:
    with pytest.raises(SlotTaken):
        appointment_book(
            order=make_order(), station=appointment.station, starts_at=at(9), override_reason="x", actor=admin_user
        )


def test_a_ct_order_cannot_be_booked_on_an_ultrasound(order: Order, us_station: Station) -> None:
    with pytest.raises(BookingRefused, match="CT exam"):
        appointment_book(order=order, station=us_station, starts_at=at(9))


def test_an_order_cannot_be_booked_twice(appointment: Appointment) -> None:
    with pytest.raises(Conflict, match="reschedule"):
        appointment_book(order=appointment.order, station=appointment.station, starts_at=at(11))


def test_a_naive_start_time_is_refused(order: Order, ct_station: Station) -> None:
    with pytest.raises(ApplicationError, match="time zone"):
        appointment_book(order=order, station=ct_station, starts_at=dt.datetime(2026, 12, 1, 9))


def test_rescheduling_moves_the_worklist_item_and_keeps_the_history(appointment: Appointment) -> None:
    new = appointment_reschedule(appointment=appointment, starts_at=at(14), reason="patient asked")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULED
    assert appointment.replaced_by == new
    assert new.ends_at - new.starts_at == dt.timedelta(minutes=30)
    item = WorklistItem.objects.get(order=appointment.order)
    assert item.appointment == new
    assert item.sps_start == at(14)
    assert item.sps_start_time == dt.time(14)


def test_rescheduling_by_a_few_minutes_may_overlap_its_own_old_slot(appointment: Appointment) -> None:
    new = appointment_reschedule(appointment=appointment, starts_at=at(9, 15), reason="patient asked")
    assert new.starts_at == at(9, 15)


def test_rescheduling_to_another_station_updates_the_station_on_the_worklist(appointment: Appointment) -> None:
    from scheduling.stations import station_create

    second = station_create(name="CT 2", modality="CT", ae_title="CT_ROOM9")
    appointment_reschedule(appointment=appointment, starts_at=at(9), station=second, reason="room change")
    item = WorklistItem.objects.get(order=appointment.order)
    assert (item.station_ae_title, item.station_name) == ("CT_ROOM9", "CT 2")


def test_rescheduling_into_a_taken_slot_changes_nothing(appointment: Appointment, make_order: Any) -> None:
    other = appointment_book(order=make_order(), station=appointment.station, starts_at=at(11))
    with pytest.raises(SlotTaken):
        appointment_reschedule(appointment=appointment, starts_at=at(11, 15), reason="patient asked")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ACTIVE
    assert WorklistItem.objects.get(order=appointment.order).sps_start == at(9)
    assert WorklistItem.objects.get(order=other.order).sps_start == at(11)


def test_a_no_show_can_be_rebooked(appointment: Appointment, frozen_clock: Any) -> None:
    frozen_clock.move_to(at(9, 15))
    exam_transition(order=appointment.order, to=ExamStatus.NO_SHOW)
    new = appointment_book(order=appointment.order, station=appointment.station, starts_at=at(9, day=2))
    assert new.order.status == ExamStatus.SCHEDULED
    assert WorklistItem.objects.get(order=appointment.order).sps_start == at(9, day=2)


def test_cancelling_takes_the_exam_off_the_worklist(appointment: Appointment) -> None:
    order = appointment_cancel(appointment=appointment, reason="Referring doctor cancelled")
    assert order.status == ExamStatus.CANCELLED
    assert order.status_reason == "Referring doctor cancelled"
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert not WorklistItem.objects.filter(order=order).exists()


def test_cancelling_needs_a_reason(appointment: Appointment) -> None:
    with pytest.raises(ApplicationError, match="reason"):
        appointment_cancel(appointment=appointment, reason=" ")


def test_the_exam_lifecycle_is_reflected_in_the_sps_status(appointment: Appointment) -> None:
    order = appointment.order
    for status, sps in [
        (ExamStatus.ARRIVED, "ARRIVED"),
        (ExamStatus.IN_PROGRESS, "STARTED"),
        (ExamStatus.COMPLETED, "COMPLETED"),
    ]:
        exam_transition(order=order, to=status)
        assert WorklistItem.objects.get(order=order).sps_status == sps
    order.refresh_from_db()
    assert order.status == ExamStatus.COMPLETED


def test_an_invalid_transition_is_refused_and_changes_nothing(appointment: Appointment) -> None:
    with pytest.raises(InvalidTransition, match="cannot become completed"):
        exam_transition(order=appointment.order, to=ExamStatus.COMPLETED)
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.SCHEDULED
    assert WorklistItem.objects.get(order=appointment.order).sps_status == "SCHEDULED"


def test_a_completed_exam_cannot_be_rescheduled(appointment: Appointment) -> None:
    for status in (ExamStatus.IN_PROGRESS, ExamStatus.COMPLETED):
        exam_transition(order=appointment.order, to=status)
    with pytest.raises(InvalidTransition):
        appointment_reschedule(appointment=appointment, starts_at=at(15), reason="patient asked")


def test_a_discontinued_exam_stays_off_the_served_worklist_with_its_reason(appointment: Appointment) -> None:
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS)
    exam_transition(order=appointment.order, to=ExamStatus.DISCONTINUED, reason="Patient unwell")
    item = WorklistItem.objects.get(order=appointment.order)
    assert item.sps_status == "DISCONTINUED"
    appointment.order.refresh_from_db()
    assert appointment.order.status_reason == "Patient unwell"


def test_a_status_change_made_meanwhile_is_detected(appointment: Appointment) -> None:
    from orders.lifecycle import _apply as _set_order_status

    stale = appointment.order  # still believes it is scheduled
    Order.objects.filter(pk=stale.pk).update(status=ExamStatus.ARRIVED)
    with pytest.raises(Conflict, match="meanwhile"):
        _set_order_status(stale, ExamStatus.NO_SHOW)


@pytest.mark.django_db
def test_moving_an_exam_needs_a_reason(appointment: Appointment) -> None:
    with pytest.raises(ApplicationError, match="reason") as refused:
        appointment_reschedule(appointment=appointment, starts_at=at(14), reason="  ")
    assert refused.value.code == "reason_required"
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ACTIVE
