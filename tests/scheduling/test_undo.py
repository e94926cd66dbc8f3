"""Undo of a mistaken step: the same user soon, an admin later; an undone
no-show takes its slot back only if it is still free."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from audit.models import AuditRecord
from mwl_ris.lib.errors import Conflict, PermissionRefused
from orders.lifecycle import exam_step_undo, exam_transition, undo_allowed
from orders.models import ExamStatus
from scheduling.booking import SlotTaken, appointment_book
from scheduling.models import Appointment, AppointmentStatus
from tests.conftest import at
from worklist.models import WorklistItem

pytestmark = pytest.mark.django_db


def test_the_same_user_undoes_a_mistaken_arrived_within_the_window(
    appointment: Appointment, technologist: User, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(8, 50))
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED, actor=technologist)
    frozen_clock.move_to(at(8, 55))
    order = exam_step_undo(order=appointment.order, actor=technologist)
    assert (order.status, order.arrived_at) == (ExamStatus.SCHEDULED, None)
    assert AuditRecord.objects.filter(summary__contains="undo arrived -> scheduled").exists()
    with pytest.raises(Conflict, match="no step to undo"):  # one step back only
        exam_step_undo(order=order, actor=technologist)


def test_after_the_window_or_for_another_user_only_an_admin_undoes(
    appointment: Appointment, technologist: User, scheduler: User, admin_user: User, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(8, 50))
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED, actor=technologist)
    appointment.order.refresh_from_db()
    assert not undo_allowed(appointment.order, scheduler)  # someone else
    frozen_clock.move_to(at(8, 50) + dt.timedelta(minutes=11))  # EXAM_UNDO_MINUTES is 10
    with pytest.raises(PermissionRefused):
        exam_step_undo(order=appointment.order, actor=technologist)
    assert exam_step_undo(order=appointment.order, actor=admin_user).status == ExamStatus.SCHEDULED


def test_an_undone_start_goes_back_to_arrived(appointment: Appointment, technologist: User, frozen_clock: Any) -> None:
    frozen_clock.move_to(at(8, 50))
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED, actor=technologist)
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS, actor=technologist)
    order = exam_step_undo(order=appointment.order, actor=technologist)
    assert (order.status, order.started_at) == (ExamStatus.ARRIVED, None)
    assert order.arrived_at is not None
    assert WorklistItem.objects.get(order=order).sps_status == "ARRIVED"


def test_an_undone_no_show_takes_its_slot_back_if_free(
    appointment: Appointment, technologist: User, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(9, 20))
    exam_transition(order=appointment.order, to=ExamStatus.NO_SHOW, reason="not here", actor=technologist)
    assert not WorklistItem.objects.filter(order=appointment.order).exists()
    order = exam_step_undo(order=appointment.order, actor=technologist)
    assert order.status == ExamStatus.SCHEDULED
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ACTIVE
    assert WorklistItem.objects.filter(order=order).exists()


def test_an_undone_no_show_whose_slot_was_given_away_is_refused(
    appointment: Appointment, technologist: User, make_order: Any, frozen_clock: Any
) -> None:
    frozen_clock.move_to(at(9, 20))
    exam_transition(order=appointment.order, to=ExamStatus.NO_SHOW, reason="not here", actor=technologist)
    walk_in = appointment_book(order=make_order(), station=appointment.station, starts_at=at(9, 20))
    with pytest.raises(SlotTaken, match="given to someone else"):
        exam_step_undo(order=appointment.order, actor=technologist)
    appointment.order.refresh_from_db()
    assert appointment.order.status == ExamStatus.NO_SHOW  # nothing changed
    assert Appointment.objects.get(pk=walk_in.pk).status == AppointmentStatus.ACTIVE
