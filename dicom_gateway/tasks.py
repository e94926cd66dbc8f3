"""The gateway's periodic job: MPPS that never matched an exam are flagged for review."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from audit.context import acting_as
from audit.models import Interface
from dicom_gateway.mpps import mpps_flag_stale


@shared_task(ignore_result=True)
def mpps_stale_task() -> int:
    with acting_as(Interface.CELERY, "mpps_stale"):
        return mpps_flag_stale(older_than=dt.timedelta(hours=settings.MPPS_UNMATCHED_STALE_HOURS))
