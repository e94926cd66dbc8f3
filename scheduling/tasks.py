"""The expiry job: stale worklist items leave, finished ones are purged."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from audit.context import acting_as
from audit.models import Interface
from scheduling.expiry import exams_expire_stale
from worklist.services import worklist_items_purge_finished


@shared_task(ignore_result=True)
def worklist_expiry_task() -> dict[str, int]:
    with acting_as(Interface.CELERY, "worklist_expiry"):
        return {
            "expired": exams_expire_stale(grace=dt.timedelta(hours=settings.WORKLIST_EXPIRY_GRACE_HOURS)),
            "purged": worklist_items_purge_finished(
                older_than=dt.timedelta(hours=settings.WORKLIST_DONE_RETENTION_HOURS)
            ),
        }
