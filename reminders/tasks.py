from __future__ import annotations

from typing import Any

from celery import shared_task

from audit.context import acting_as
from audit.models import Interface
from reminders.services import reminders_send_due


@shared_task(ignore_result=True)
def reminders_send_task() -> dict[str, Any]:
    with acting_as(Interface.CELERY, "reminders"):
        return reminders_send_due()
