"""What an edge node keeps of its own (never replicated from the centre):
the MPPS it has yet to forward, the exams those MPPS took off its served
list, and its state; and, at the centre, what each edge last reported."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxState(models.TextChoices):
    PENDING = "pending", _("waiting to be forwarded")
    FORWARDED = "forwarded", _("forwarded")
    REFUSED = "refused", _("refused by the centre (kept for review)")


class OutboxMessage(models.Model):
    """An MPPS N-CREATE or N-SET the edge accepted from a modality, forwarded to
    the centre's gateway in id order (edge/forwarder.py). Written in the
    transaction that applied it at the edge, so an accepted MPPS is never lost."""

    operation = models.CharField(max_length=8)  # N-CREATE, N-SET
    sop_instance_uid = models.CharField(max_length=64)
    dataset = models.JSONField()  # DICOM JSON (PS3.18 F) of the attribute or modification list
    calling_ae_title = models.CharField(max_length=16)  # the modality's
    study_instance_uid = models.CharField(max_length=64, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    state = models.CharField(max_length=10, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Sent, and no answer yet seen: after a crash or a dropped link, a repeat may meet the first copy.
    in_doubt = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    dicom_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    forwarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("MPPS outbox message")
        verbose_name_plural = _("MPPS outbox")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["id"], condition=models.Q(state="pending"), name="edge_outbox_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.operation} {self.sop_instance_uid} {self.state}"


class Hold(models.Model):
    """An exam an MPPS at this edge started: off the edge's served list from
    that moment, until the centre's own change has come back by replication
    (its item no longer scheduled, or gone) and the step is forwarded."""

    study_instance_uid = models.CharField(max_length=64)
    sop_instance_uid = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("exam held at the edge")
        verbose_name_plural = _("exams held at the edge")
        constraints = [
            models.UniqueConstraint(fields=["study_instance_uid", "sop_instance_uid"], name="edge_hold_study_step")
        ]

    def __str__(self) -> str:
        return f"{self.study_instance_uid} ({self.sop_instance_uid})"


class EdgeStatus(models.Model):
    """One row per site. At an edge: its own state, kept by the forwarder. At
    the centre: what each edge last reported (over its replication user's
    connection), shown on the stations page and checked by ris_check."""

    site_code = models.CharField(max_length=16, unique=True)
    # the last moment the edge's copy was known to be current (the subscription's last confirmed position)
    worklist_as_of = models.DateTimeField(null=True, blank=True)
    replication_connected = models.BooleanField(default=False)
    outbox_depth = models.PositiveIntegerField(default=0)
    oldest_unforwarded_at = models.DateTimeField(null=True, blank=True)
    refused = models.PositiveIntegerField(default=0)
    last_forwarded_at = models.DateTimeField(null=True, blank=True)
    central_reachable = models.BooleanField(default=False)
    reported_at = models.DateTimeField()

    class Meta:
        verbose_name = _("edge node status")
        verbose_name_plural = _("edge node status")

    def __str__(self) -> str:
        return f"{self.site_code} @ {self.reported_at:%Y-%m-%d %H:%M:%S}"
