"""What the HL7 interface does when an exam changes status (orders.lifecycle
calls it; Hl7InterfaceConfig.ready registers it)."""

from __future__ import annotations

from hl7_interface.outbox import outbound_status_queue
from hl7_interface.tasks import deliver_after_commit
from orders.lifecycle import Transition


def status_to_placer(change: Transition) -> None:
    """NOTIFY: the order placer hears of the new status (one ORM^O01 per
    destination that wants it, queued now, delivered after commit)."""
    deliver_after_commit(outbound_status_queue(order=change.order, status=change.target))
