"""Reads for the worklist projection."""

from __future__ import annotations

from django.db.models import QuerySet

from worklist.models import SERVED_STATUSES, WorklistItem


def worklist_item_list(*, served_only: bool = False) -> QuerySet[WorklistItem]:
    qs = WorklistItem.objects.all()
    return qs.filter(sps_status__in=SERVED_STATUSES) if served_only else qs
