"""Exam status to the order placer: queued in the status transaction,
delivered in order over MLLP to a real receiver, retried with backoff."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import hl7
import pytest
from hl7.mllp import start_hl7_server

from hl7_interface.models import DeliveryState, Destination, OutboundMessage
from hl7_interface.outbox import outbound_deliver, outbound_retry
from hl7_interface.tasks import hl7_outbound_deliver_task, hl7_outbound_sweep_task
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from scheduling.booking import appointment_book
from scheduling.models import Station
from tests.conftest import at

pytestmark = pytest.mark.django_db


class Receiver:
    """An order placer: python-hl7's asyncio MLLP server, answering AA (or
    ``answer``); behind TLS with ``tls``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[hl7.Message] = []
        self.answer = "AA"
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        async def handle(reader: Any, writer: Any) -> None:
            try:
                while not writer.is_closing():
                    message = await reader.readmessage()
                    self.received.append(message)
                    writer.writemessage(message.create_ack(self.answer))
                    await writer.drain()
            except asyncio.IncompleteReadError:
                writer.close()

        async def start() -> None:
            server = await start_hl7_server(handle, "127.0.0.1", 0, ssl=tls)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(start())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def placer(receiver: Receiver) -> Destination:
    return Destination.objects.create(name="HIS", host="127.0.0.1", port=receiver.port, receiving_application="HIS_APP")


def test_each_status_change_queues_one_message_per_destination(
    placer: Destination, order: Order, ct_station: Station, django_capture_on_commit_callbacks: Any
) -> None:
    Destination.objects.create(name="Only completed", host="127.0.0.1", port=9, statuses="completed")
    with django_capture_on_commit_callbacks() as callbacks:
        appointment_book(order=order, station=ct_station, starts_at=at(9))
        exam_transition(order=order, to=ExamStatus.ARRIVED)
    assert len(callbacks) == 2  # delivery is asked for after commit
    assert list(OutboundMessage.objects.order_by("pk").values_list("destination__name", "exam_status")) == [
        ("HIS", "scheduled"),
        ("HIS", "arrived"),
    ]


def test_messages_are_delivered_in_order_with_the_status(
    placer: Destination, receiver: Receiver, order: Order, ct_station: Station
) -> None:
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    for status in (ExamStatus.ARRIVED, ExamStatus.IN_PROGRESS, ExamStatus.COMPLETED):
        exam_transition(order=order, to=status)
    assert outbound_deliver(destination=placer) is None
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {DeliveryState.SENT}
    orc = [(str(m.segment("ORC")(1)), str(m.segment("ORC")(5))) for m in receiver.received]
    assert orc == [("SC", "SC"), ("SC", "SC"), ("SC", "IP"), ("SC", "CM")]
    first = receiver.received[0]
    assert str(first.segment("MSH")(9)) == "ORM^O01^ORM_O01"
    assert str(first.segment("ORC")(3)) == order.accession_number
    assert str(first.segment("ORC")(7)).endswith("20261201090000+0300")
    assert str(receiver.received[1].segment("ORC")(25)).startswith("ARRIVED")
    assert str(first.segment("ZDS")(1)).startswith(order.study_instance_uid)


def test_a_refused_message_is_retried_with_backoff_and_holds_the_ones_after_it(
    placer: Destination, receiver: Receiver, order: Order, ct_station: Station, time_machine: Any
) -> None:
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    exam_transition(order=order, to=ExamStatus.ARRIVED)
    receiver.answer = "AE"
    next_at = outbound_deliver(destination=placer)
    first, second = OutboundMessage.objects.order_by("pk")
    assert (first.state, first.attempts, first.ack_code) == (DeliveryState.RETRYING, 1, "AE")
    assert next_at == first.next_attempt_at
    assert next_at - at(7) == dt.timedelta(seconds=30)
    assert second.state == DeliveryState.PENDING
    assert second.attempts == 0
    assert outbound_deliver(destination=placer) == next_at  # not due yet: nothing sent
    assert len(receiver.received) == 1

    receiver.answer = "AA"
    time_machine.move_to(next_at + dt.timedelta(seconds=1), tick=False)
    assert outbound_deliver(destination=placer) is None
    assert list(OutboundMessage.objects.order_by("pk").values_list("state", "attempts")) == [("sent", 2), ("sent", 1)]


def test_an_unreachable_destination_gives_up_after_the_maximum(
    order: Order, ct_station: Station, settings: Any, time_machine: Any
) -> None:
    settings.HL7_OUTBOUND_MAX_ATTEMPTS = 2
    dead = Destination.objects.create(name="Down", host="127.0.0.1", port=1)
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    outbound_deliver(destination=dead)
    time_machine.move_to(at(8), tick=False)
    outbound_deliver(destination=dead)
    message = OutboundMessage.objects.get()
    assert (message.state, message.attempts) == (DeliveryState.FAILED, 2)
    assert "ConnectionRefusedError" in message.last_error


def test_the_sweep_and_the_task_deliver_what_is_due(
    placer: Destination, receiver: Receiver, order: Order, ct_station: Station, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True  # .delay() inside the sweep runs here, in this process
    from mwl_ris.celery import app

    app.conf.task_always_eager = True
    try:
        appointment_book(order=order, station=ct_station, starts_at=at(9))
        assert hl7_outbound_sweep_task() == 1
        assert OutboundMessage.objects.get().state == DeliveryState.SENT
        assert hl7_outbound_sweep_task() == 0  # a second run changes nothing
        hl7_outbound_deliver_task(placer.pk)
        assert len(receiver.received) == 1
    finally:
        app.conf.task_always_eager = False


def test_a_failed_message_can_be_retried_after_the_destination_is_fixed(
    receiver: Receiver, order: Order, ct_station: Station, settings: Any
) -> None:
    settings.HL7_OUTBOUND_MAX_ATTEMPTS = 1
    destination = Destination.objects.create(name="HIS", host="127.0.0.1", port=1)
    appointment_book(order=order, station=ct_station, starts_at=at(9))
    outbound_deliver(destination=destination)
    assert OutboundMessage.objects.get().state == DeliveryState.FAILED
    Destination.objects.filter(pk=destination.pk).update(port=receiver.port)  # the admin fixes the port
    destination.refresh_from_db()
    assert outbound_retry(messages=OutboundMessage.objects.all())[1] == 1
    outbound_deliver(destination=destination)
    assert OutboundMessage.objects.get().state == DeliveryState.SENT
    assert len(receiver.received) == 1
