from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Charset(models.TextChoices):
    """Specific Character Set (0008,0005) of responses."""

    UTF8 = "ISO_IR 192", _("UTF-8 (ISO_IR 192): every name intact")
    LATIN1 = "ISO_IR 100", _("Latin-1 (ISO_IR 100): other characters transliterated")
    ASCII = "", _("ASCII only (default repertoire): names transliterated")


class NameFormat(models.TextChoices):
    FULL = "full", _("As stored: Family^Given^Middle (with ideographic group)")
    ALPHABETIC = "alphabetic", _("Alphabetic group only: Family^Given^Middle")
    FAMILY_GIVEN = "family_given", _("Family^Given only")


class Profile(models.Model):
    """How the gateway answers one kind of modality: character set, name
    format, result limit and the calling-AE-as-station rule. Stations point at
    a profile; a station without one gets the default (UTF-8, no limit)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    charset = models.CharField(
        _("response character set"), max_length=16, choices=Charset.choices, default=Charset.UTF8, blank=True
    )
    name_format = models.CharField(
        _("patient name format"), max_length=16, choices=NameFormat.choices, default=NameFormat.FULL
    )
    name_max_length = models.PositiveSmallIntegerField(
        _("maximum patient name length"),
        null=True,
        blank=True,
        help_text=_("Old scanners show only so many characters; longer names are cut at a component boundary."),
    )
    max_results = models.PositiveIntegerField(
        _("maximum number of results"),
        null=True,
        blank=True,
        help_text=_("Queries matching more are refused (0xA700) with an explanation, never silently cut."),
    )
    use_calling_ae_as_station = models.BooleanField(
        _("use the calling AE title when the query has no Scheduled Station AE Title"), default=True
    )
    include_code_sequences = models.BooleanField(
        _("return requested code sequences (procedure and protocol codes)"), default=True
    )

    class Meta:
        verbose_name = _("modality profile")
        verbose_name_plural = _("modality profiles")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CapturedQuery(models.Model):
    """The last queries of each calling AE (keys only, no patient data in the
    log line; values are kept here so "why isn't my patient on the scanner?"
    can replay the modality's real query). Pruned to MWL_CAPTURE_PER_AE rows per AE."""

    calling_ae_title = models.CharField(max_length=16)
    peer = models.CharField(max_length=64)
    identifier = models.JSONField()  # the query as DICOM JSON (PS3.18 F)
    matches = models.PositiveIntegerField(default=0)
    status = models.PositiveIntegerField()
    duration_ms = models.FloatField()
    received_at = models.DateTimeField()

    class Meta:
        verbose_name = _("captured query")
        verbose_name_plural = _("captured queries")
        ordering = ["-received_at", "-pk"]
        indexes = [
            # "last N queries of this AE" (explanations and pruning)
            models.Index(fields=["calling_ae_title", "-received_at"], name="capture_ae_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.calling_ae_title} {self.received_at:%Y-%m-%d %H:%M:%S} {self.matches}"


class AssociationOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    ABORTED = "aborted", _("Aborted by the gateway")


class AssociationRecord(models.Model):
    """Every association a modality opened: who, from where, and what the
    gateway decided (no patient data). Kept MWL_ASSOCIATION_RECORD_DAYS days."""

    calling_ae_title = models.CharField(max_length=16)
    called_ae_title = models.CharField(max_length=16)
    peer = models.CharField(max_length=64)
    outcome = models.CharField(max_length=8, choices=AssociationOutcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("association record")
        verbose_name_plural = _("association records")
        ordering = ["-at", "-pk"]
        indexes = [
            # "associations of this modality, newest first" (admin, API) and pruning by age
            models.Index(fields=["calling_ae_title", "-at"], name="assoc_ae_time_idx"),
            models.Index(fields=["at"], name="assoc_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.calling_ae_title} {self.outcome}"
