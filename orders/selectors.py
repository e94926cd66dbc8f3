"""Reads for the catalogue and orders."""

from __future__ import annotations

from django.db.models import Case, QuerySet, Value, When

from orders.models import ExamStatus, Order, Priority, Procedure


def procedure_list(*, active_only: bool = False) -> QuerySet[Procedure]:
    qs = Procedure.objects.all()
    return qs.filter(active=True) if active_only else qs


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("patient", "procedure")


def order_unscheduled_list() -> QuerySet[Order]:
    """The scheduler's queue: orders not booked yet (from the API, the UI or HL7,
    with the reason when automatic booking failed): STAT first, then urgent,
    then routine; oldest first within each."""
    urgency = Case(
        When(priority=Priority.STAT, then=Value(0)),
        When(priority=Priority.URGENT, then=Value(1)),
        default=Value(2),
    )
    return order_list().filter(status=ExamStatus.REQUESTED).order_by(urgency, "created_at", "pk")
