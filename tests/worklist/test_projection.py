from __future__ import annotations

import pytest

from mwl_ris.lib.errors import ApplicationError
from orders.models import Order
from scheduling.models import Appointment, Station
from scheduling.stations import station_update
from worklist.models import SERVED_STATUSES, WorklistItem
from worklist.selectors import worklist_item_list
from worklist.services import worklist_item_sync, worklist_item_validate

pytestmark = pytest.mark.django_db


def test_an_unbooked_order_has_no_worklist_item(order: Order) -> None:
    assert worklist_item_sync(order=order) is None
    assert WorklistItem.objects.count() == 0


def test_every_type_1_key_is_checked_before_an_item_is_written(appointment: Appointment) -> None:
    item = WorklistItem.objects.get(order=appointment.order)
    item.study_instance_uid = "1.2.3.04"
    item.patient_id = ""
    item.accession_number = ""  # Type 2 in the worklist: allowed empty (imported items)
    with pytest.raises(ApplicationError) as info:
        worklist_item_validate(item)
    assert set(info.value.extra["fields"]) == {"study_instance_uid", "patient_id"}


def test_an_item_that_would_be_invalid_is_not_written_and_the_booking_is_undone(
    order: Order, ct_station: Station
) -> None:
    from scheduling.booking import appointment_book
    from tests.conftest import at

    Order.objects.filter(pk=order.pk).update(study_instance_uid="not-a-uid")
    order.refresh_from_db()
    with pytest.raises(ApplicationError, match="study_instance_uid"):
        appointment_book(order=order, station=ct_station, starts_at=at(9))
    assert not Appointment.objects.exists()
    order.refresh_from_db()
    assert order.status == "requested"


def test_renaming_a_station_renames_it_on_its_worklist_items(appointment: Appointment) -> None:
    station_update(station=appointment.station, ae_title="CT_NEW", name="CT Siemens")
    item = WorklistItem.objects.get(order=appointment.order)
    assert (item.station_ae_title, item.station_name) == ("CT_NEW", "CT Siemens")


def test_only_scheduled_and_arrived_items_are_served(appointment: Appointment) -> None:
    from orders.lifecycle import exam_transition
    from orders.models import ExamStatus

    assert list(worklist_item_list(served_only=True)) == [appointment.worklist_item]
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED)
    assert worklist_item_list(served_only=True).count() == 1
    exam_transition(order=appointment.order, to=ExamStatus.IN_PROGRESS)
    assert worklist_item_list(served_only=True).count() == 0
    assert set(SERVED_STATUSES) == {"SCHEDULED", "ARRIVED"}
