"""The monitoring jobs: answer ris_check's ping, and prune old timings and heartbeats."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from monitoring.models import ServiceHeartbeat, UpdateTiming


@shared_task(ignore_result=True)
def ping_task() -> str:
    """Sent by ris_check: its success (JobRun) shows a worker takes jobs from the broker."""
    return "pong"


@shared_task(ignore_result=True)
def monitoring_prune_task() -> int:
    """Timings and heartbeats older than MONITORING_RETENTION_DAYS (the SLA page shows 30 days)."""
    cutoff = timezone.now() - dt.timedelta(days=settings.MONITORING_RETENTION_DAYS)
    timings, _ = UpdateTiming.objects.filter(at__lt=cutoff).delete()
    beats, _ = ServiceHeartbeat.objects.filter(last_seen__lt=cutoff).delete()
    return timings + beats
