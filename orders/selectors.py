"""Reads for the catalogue and orders."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.lifecycle import ExamStatus
from orders.models import Order, Procedure


def procedure_list(*, active_only: bool = False) -> QuerySet[Procedure]:
    qs = Procedure.objects.all()
    return qs.filter(active=True) if active_only else qs


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("patient", "procedure")


def order_unscheduled_list() -> QuerySet[Order]:
    """The scheduler's queue: orders not booked yet, urgent first, then oldest."""
    return order_list().filter(status=ExamStatus.REQUESTED).order_by("-priority", "created_at")
