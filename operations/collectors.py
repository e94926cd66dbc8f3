"""What the database knows, as metrics, read when the web's /metrics is scraped: the HL7
inbox's errors waiting for review and the outbound queue, each Celery job's runs and last
success, the audit sealer's lag, and each service's last heartbeat. A handful of indexed
queries per scrape."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from audit.models import AuditRecord
from hl7_interface.models import DeliveryState, InboundMessage, InboundStatus, OutboundMessage
from monitoring.jobs import BEAT
from monitoring.models import JobRun, ServiceHeartbeat


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._collect()
        except DatabaseError:
            up = GaugeMetricFamily("ris_database_up", "1 when the web app could read the database at this scrape")
            up.add_metric([], 0)
            yield up

    def _collect(self) -> Iterator[Metric]:
        now = timezone.now()
        up = GaugeMetricFamily("ris_database_up", "1 when the web app could read the database at this scrape")
        up.add_metric([], 1)
        yield up
        inbox = GaugeMetricFamily("ris_hl7_inbox_errors", "HL7 messages refused or failed, waiting for review")
        inbox.add_metric(
            [], InboundMessage.objects.filter(status__in=(InboundStatus.ERROR, InboundStatus.REJECTED)).count()
        )
        yield inbox
        queue = GaugeMetricFamily("ris_hl7_outbound_queue_depth", "Outbound HL7 status messages not yet delivered")
        queue.add_metric(
            [], OutboundMessage.objects.filter(state__in=(DeliveryState.PENDING, DeliveryState.RETRYING)).count()
        )
        yield queue
        gave_up = GaugeMetricFamily("ris_hl7_outbound_failed", "Outbound HL7 messages given up on (see the admin)")
        gave_up.add_metric([], OutboundMessage.objects.filter(state=DeliveryState.FAILED).count())
        yield gave_up
        runs = CounterMetricFamily("ris_celery_jobs", "Celery job runs by job and outcome", labels=["job", "outcome"])
        last = GaugeMetricFamily(
            "ris_celery_job_last_success_timestamp_seconds", "When each Celery job last succeeded", labels=["job"]
        )
        beat = GaugeMetricFamily("ris_celery_beat_started_timestamp_seconds", "When Celery beat last started")
        for job in JobRun.objects.all():
            if job.task == BEAT:
                if job.last_started:
                    beat.add_metric([], job.last_started.timestamp())
                continue
            runs.add_metric([job.task, "success"], job.succeeded)
            runs.add_metric([job.task, "failure"], job.failed)
            if job.last_succeeded:
                last.add_metric([job.task], job.last_succeeded.timestamp())
        yield runs
        yield last
        yield beat
        lag = GaugeMetricFamily("ris_audit_seal_lag_seconds", "Age of the oldest audit record not yet sealed (0: none)")
        oldest = AuditRecord.objects.filter(seq__isnull=True).order_by("id").values_list("at", flat=True).first()
        lag.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield lag
        beat = GaugeMetricFamily(
            "ris_service_last_heartbeat_timestamp_seconds", "Each service's last heartbeat", labels=["service"]
        )
        for service in ("mwl_gateway", "hl7_listener"):
            seen = (
                ServiceHeartbeat.objects.filter(service=service)
                .order_by("-last_seen")
                .values_list("last_seen", flat=True)
                .first()
            )
            if seen:
                beat.add_metric([service], seen.timestamp())
        yield beat
