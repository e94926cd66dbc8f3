"""Double booking must be impossible under real concurrency (PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction

from mwl_ris.lib.errors import Conflict
from orders.models import Order
from scheduling import services as scheduling_services
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.services import SlotTaken, appointment_book
from tests.conftest import at, requires_postgres
from worklist.models import WorklistItem

THREADS = 20


def hold_after_clash_check(monkeypatch: pytest.MonkeyPatch, barrier: threading.Barrier) -> None:
    """Deliberate interleaving: every booking runs the real clash query, then
    waits until all have run it, so all of them see a free slot and try to
    insert at once. Only the database can then stop the double booking."""
    real = scheduling_services.appointment_clashes
    waited = threading.local()

    def clashes_then_wait(**kwargs: Any) -> Any:
        result = real(**kwargs)
        list(result)  # run the query now
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait(timeout=30)
        return result

    monkeypatch.setattr(scheduling_services, "appointment_clashes", clashes_then_wait)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_bookings_of_one_slot_give_exactly_one_winner(
    ct_station: Station, make_order: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [make_order() for _ in range(THREADS)]
    hold_after_clash_check(monkeypatch, threading.Barrier(THREADS))
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(order: Order, minute: int) -> None:
        try:
            barrier.wait()
            # Start times differ so each booking overlaps every other one but is not identical.
            appointment_book(order=order, station=ct_station, starts_at=at(10, minute))
            result = "booked"
        except SlotTaken as exc:
            named = bool(exc.extra.get("clashing_appointment")) or "same moment" in exc.message
            result = "conflict" if named else f"unexplained conflict: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
            result = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=book, args=(order, i % 5)) for i, order in enumerate(orders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["booked"] + ["conflict"] * (THREADS - 1)
    active = list(Appointment.objects.filter(station=ct_station, status=AppointmentStatus.ACTIVE))
    assert len(active) == 1
    assert WorklistItem.objects.count() == 1
    assert Order.objects.filter(status="scheduled").count() == 1
    with connection.cursor() as cursor:  # no overlapping active rows, asked of the database itself
        cursor.execute(
            """SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b
               ON a.station_id = b.station_id AND a.id < b.id
               AND a.status = 'active' AND b.status = 'active'
               AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"""
        )
        assert cursor.fetchone() == (0,)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_bookings_racing_without_the_deliberate_pause_still_give_one_winner(
    ct_station: Station, make_order: Any
) -> None:
    orders = [make_order() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    results: list[bool] = []

    def book(order: Order) -> None:
        barrier.wait(timeout=30)
        try:
            appointment_book(order=order, station=ct_station, starts_at=at(11))
            results.append(True)
        except SlotTaken:
            results.append(False)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * (THREADS - 1) + [True]


@requires_postgres
@pytest.mark.django_db
def test_the_database_itself_refuses_an_overlapping_active_appointment(
    appointment: Appointment, make_order: Any
) -> None:
    """Bypassing the service (raw ORM insert) still cannot double-book."""
    with pytest.raises(IntegrityError, match="appointment_no_overlap"), transaction.atomic():
        Appointment.objects.create(
            order=make_order(), station=appointment.station, starts_at=at(9, 10), ends_at=at(9, 20)
        )


@requires_postgres
@pytest.mark.django_db
def test_the_database_allows_overlap_with_a_cancelled_appointment(appointment: Appointment, make_order: Any) -> None:
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CANCELLED)
    Appointment.objects.create(order=make_order(), station=appointment.station, starts_at=at(9), ends_at=at(9, 30))


@pytest.mark.django_db
def test_an_order_has_at_most_one_active_appointment_in_the_database(appointment: Appointment) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            order=appointment.order, station=appointment.station, starts_at=at(15), ends_at=at(16)
        )


def test_conflicts_are_http_409() -> None:
    assert SlotTaken("x").http_status == Conflict("x").http_status == 409
