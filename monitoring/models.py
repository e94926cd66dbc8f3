"""What the processes report about themselves, for the set-up check (operations.checks),
the SLA page (operations.sla) and /metrics: each long-running service's heartbeats,
each Celery job's last runs, and how long each web update took. No patient data."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ServiceHeartbeat(models.Model):
    """One run of a service process (from its start to its last heartbeat): the
    gateway's and the HL7 listener's availability are the union of these spans."""

    service = models.CharField(_("service"), max_length=32)  # mwl_gateway, hl7_listener
    host = models.CharField(_("host"), max_length=128)
    pid = models.PositiveIntegerField(_("process ID"))
    started_at = models.DateTimeField(_("started at"))
    last_seen = models.DateTimeField(_("last seen"))
    detail = models.CharField(_("detail"), max_length=200, blank=True)  # ports, AE title
    stopped = models.BooleanField(_("stopped cleanly"), default=False)

    class Meta:
        verbose_name = _("service heartbeat")
        verbose_name_plural = _("service heartbeats")
        ordering = ["-last_seen"]
        indexes = [models.Index(fields=["service", "last_seen"])]

    def __str__(self) -> str:
        return f"{self.service} {self.host}:{self.pid} {self.started_at:%Y-%m-%d %H:%M}…{self.last_seen:%H:%M}"


class JobRun(models.Model):
    """A Celery job's runs so far: when it last started, succeeded and failed, and how often."""

    task = models.CharField(_("job"), max_length=200, unique=True)
    last_started = models.DateTimeField(_("last started"), null=True, blank=True)
    last_succeeded = models.DateTimeField(_("last succeeded"), null=True, blank=True)
    last_failed = models.DateTimeField(_("last failed"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    succeeded = models.PositiveBigIntegerField(_("succeeded"), default=0)
    failed = models.PositiveBigIntegerField(_("failed"), default=0)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["task"]

    def __str__(self) -> str:
        return self.task


class UpdateTiming(models.Model):
    """How long one web update (a POST, PUT, PATCH or DELETE) took to answer: the
    bookings' and other updates' acknowledgement times on the SLA page."""

    at = models.DateTimeField(_("at"), db_index=True)
    view = models.CharField(_("view"), max_length=100)
    method = models.CharField(_("method"), max_length=8)
    status = models.PositiveSmallIntegerField(_("HTTP status"))
    ms = models.FloatField(_("milliseconds"))

    class Meta:
        verbose_name = _("update timing")
        verbose_name_plural = _("update timings")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.method} {self.view} {self.status} {self.ms:.0f} ms"
