from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Interface(models.TextChoices):
    WEB = "web", _("Web pages")
    API = "api", _("REST API")
    HL7 = "hl7", _("HL7 interface")
    DICOM = "dicom", _("DICOM gateway")
    CELERY = "celery", _("Background job")
    SYSTEM = "system", _("System / command line")


class AuditRecord(models.Model):
    """One thing that happened. Append-only: rows are inserted, then sealed
    into the hash chain (``seq``, ``prev_hash``, ``hash``) by ``audit_seal``,
    and never changed again; ``audit_verify`` detects any edited or deleted row.

    Who / what / when / where, in the spirit of IHE ATNA: ``interface`` and
    ``ip`` say where from, ``actor`` and ``role`` who (a user, a calling AE
    title, an HL7 sender), ``action`` and ``object_*`` what, ``before`` and
    ``after`` the changed values."""

    at = models.DateTimeField(_("when"), default=timezone.now)
    interface = models.CharField(_("interface"), max_length=8, choices=Interface.choices)
    actor = models.CharField(_("who"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=64, blank=True)
    ip = models.CharField(_("from (address)"), max_length=64, blank=True)
    action = models.CharField(_("action"), max_length=32)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object ID"), max_length=64, blank=True)
    patient_id = models.CharField(_("Patient ID"), max_length=64, blank=True)
    ae_title = models.CharField(_("AE title"), max_length=16, blank=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    # Written with the record: HMAC of its content with the key ``key_id`` (audit/keys.py), outside the
    # database; empty on records written before the key existed.
    key_id = models.CharField(max_length=16, blank=True)
    mac = models.CharField(max_length=64, blank=True)
    # The hash chain, filled by the sealer (audit.services.audit_seal); keyed (HMAC) when key_id is set.
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["at"], name="audit_at_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
            models.Index(fields=["patient_id", "at"], name="audit_patient_idx"),
            models.Index(fields=["ae_title", "at"], name="audit_ae_idx"),
            # the sealer's work list
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="audit_unsealed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Audit records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("Audit records are append-only; old days are exported, then pruned by the audit jobs.")


class ChainHead(models.Model):
    """The end of the sealed chain: the last sequence number and hash. One row;
    locking it serialises sealers. A deleted tail of the chain shows up as a
    head pointing past the last row."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"#{self.last_seq} {self.last_hash[:12]}"


class AuditExport(models.Model):
    """A closed day written to the archive: sealed records ``first_seq``..``last_seq``
    (a contiguous stretch of the chain) in a gzipped JSON-lines file."""

    day = models.DateField(_("day"), unique=True)
    path = models.CharField(_("file"), max_length=500)
    count = models.PositiveIntegerField(_("records"))
    first_seq = models.BigIntegerField(null=True)
    last_seq = models.BigIntegerField(null=True)
    first_prev_hash = models.CharField(max_length=64, blank=True)
    last_hash = models.CharField(max_length=64, blank=True)
    sha256 = models.CharField(_("file SHA-256"), max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    pruned_at = models.DateTimeField(_("pruned from the database"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit export")
        verbose_name_plural = _("audit exports")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} ({self.count})"


class Verification(models.Model):
    """The outcome of one run of the chain verification."""

    at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    checked = models.PositiveIntegerField()
    first_broken_seq = models.BigIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name = _("audit verification")
        verbose_name_plural = _("audit verifications")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'BROKEN'} {self.detail}"
