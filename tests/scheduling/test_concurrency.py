"""Double booking must be impossible under real concurrency (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction

from mwl_ris.lib.errors import Conflict
from orders.models import Order
from scheduling import booking as scheduling_booking
from scheduling.booking import SlotTaken, appointment_book
from scheduling.models import Appointment, AppointmentStatus, Station
from tests.conftest import at, requires_postgres
from worklist.models import WorklistItem

THREADS = 20


def arrive_at_the_station_lock_together(monkeypatch: pytest.MonkeyPatch, barrier: threading.Barrier) -> None:
    """Deliberate interleaving: every booking has passed its own checks and
    reaches the point where it takes the station lock at the same moment."""
    real = scheduling_booking.station_lock
    waited = threading.local()

    def wait_then_lock(station: Station) -> None:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait(timeout=30)
        real(station)

    monkeypatch.setattr(scheduling_booking, "station_lock", wait_then_lock)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_bookings_of_one_slot_give_exactly_one_winner(
    ct_station: Station, make_order: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [make_order() for _ in range(THREADS)]
    arrive_at_the_station_lock_together(monkeypatch, threading.Barrier(THREADS))
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


def _contending_client(
    index: int, clients: int, rounds: int, order_ids: list[int], station_id: int, barrier: Any, results: Any
) -> None:
    """One booking client in its own process (forked), like a gunicorn worker.
    Each round, all clients reach the station lock at the same moment."""
    connections.close_all()  # never share the parent's connection
    station = Station.objects.get(pk=station_id)
    real_lock = scheduling_booking.station_lock

    def wait_then_lock(station: Station) -> None:
        barrier.wait(timeout=60)
        real_lock(station)

    scheduling_booking.station_lock = wait_then_lock  # in this (forked) process only
    for round_ in range(rounds):
        try:
            order = Order.objects.get(pk=order_ids[round_ * clients + index])
            starts_at = at(8, day=2 + round_ % 3) + dt.timedelta(minutes=30 * (round_ // 3))
            appointment_book(order=order, station=station, starts_at=starts_at)
            results.put((round_, "booked"))
        except SlotTaken:
            results.put((round_, "conflict"))
        except Exception as exc:  # noqa: BLE001 - reported to the parent and asserted there
            results.put((round_, f"error: {exc!r}"))
    connections.close_all()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_contended_bookings_from_many_processes_never_fail_with_anything_but_a_conflict(
    ct_station: Station, make_order: Any
) -> None:
    """Simultaneous inserts into an exclusion constraint can deadlock in
    PostgreSQL (each waits for the other's index entry): found by
    bench/booking_api.py with 16 clients against 4 gunicorn workers as HTTP
    500s. The losers must get a plain conflict, never an error."""
    clients, rounds = 8, 12
    order_ids = [make_order().pk for _ in range(clients * rounds)]
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(clients), context.Queue()
    connections.close_all()
    processes = [
        context.Process(
            target=_contending_client, args=(i, clients, rounds, order_ids, ct_station.pk, barrier, results)
        )
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(clients * rounds)]
    for process in processes:
        process.join(timeout=30)
    errors = [outcome for _, outcome in outcomes if outcome.startswith("error")]
    assert errors == []
    booked = sorted(round_ for round_, outcome in outcomes if outcome == "booked")
    assert booked == list(range(rounds))  # exactly one winner per round
