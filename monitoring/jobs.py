"""Each Celery job's runs, recorded by Celery's own signals in the worker (JobRun):
ris_check reads "beat is running" from the periodic jobs' last starts, /metrics
exposes the counts and the last success of each job."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import beat_init, task_failure, task_prerun, task_success
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from monitoring.models import JobRun

logger = logging.getLogger(__name__)


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", sender))[:200]


def _update(task: str, **changes: Any) -> None:
    try:
        with transaction.atomic():
            JobRun.objects.get_or_create(task=task)
            JobRun.objects.filter(task=task).update(**changes)
    except DatabaseError:
        # the job's own outcome is logged by Celery; losing this note must not fail the job
        logger.warning("job run of %s not recorded: database unavailable", task)


BEAT = "celery.beat"  # the JobRun row of beat itself: last_started is when beat last started


@beat_init.connect
def _beat_started(sender: Any = None, **kwargs: Any) -> None:
    _update(BEAT, last_started=timezone.now())


@task_prerun.connect
def _started(sender: Any = None, **kwargs: Any) -> None:
    _update(_task_name(sender), last_started=timezone.now())


@task_success.connect
def _succeeded(sender: Any = None, **kwargs: Any) -> None:
    _update(_task_name(sender), last_succeeded=timezone.now(), succeeded=F("succeeded") + 1)


@task_failure.connect
def _failed(sender: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    _update(
        _task_name(sender),
        last_failed=timezone.now(),
        failed=F("failed") + 1,
        last_error=f"{type(exception).__name__}: {exception}"[:300] if exception else "",
    )
