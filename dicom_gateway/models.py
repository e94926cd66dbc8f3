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
    # A quirk for clients that stop reading at the first 0xFF01 (dcmjs-dimse's
    # worklist query does): answer Pending 0xFF00 even when the query holds
    # keys outside the Modality Worklist model. Off by default; PS3.4 wants 0xFF01.
    pending_status_for_unsupported_keys = models.BooleanField(
        _("answer 0xFF00 instead of 0xFF01 when the query has keys outside the worklist model"),
        default=False,
        help_text=_("Only for a modality that stops reading its worklist at the first 0xFF01 response."),
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


class PpsStatus(models.TextChoices):
    """Performed Procedure Step Status (0040,0252)."""

    IN_PROGRESS = "IN PROGRESS", _("In progress")
    COMPLETED = "COMPLETED", _("Completed")
    DISCONTINUED = "DISCONTINUED", _("Discontinued")


class PerformedProcedureStep(models.Model):
    """An MPPS instance a modality created (N-CREATE) and finished (N-SET).

    Linked to the order it performed through the Scheduled Step Attributes
    Sequence; one that matched nothing (an exam done at the scanner without
    a booking) stays unmatched until a user links it to an order."""

    sop_instance_uid = models.CharField(_("SOP Instance UID"), max_length=64, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=PpsStatus.choices)
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="performed_steps",
    )
    calling_ae_title = models.CharField(_("from (calling AE title)"), max_length=16)
    performed_station_ae_title = models.CharField(_("performed station AE title"), max_length=16, blank=True)
    pps_id = models.CharField(_("performed procedure step ID"), max_length=16, blank=True)
    patient_name = models.CharField(_("patient name (as sent)"), max_length=200, blank=True)
    patient_id_value = models.CharField(_("Patient ID (as sent)"), max_length=64, blank=True)
    accession_number = models.CharField(_("accession number (as sent)"), max_length=16, blank=True)
    study_instance_uid = models.CharField(_("study instance UID (as sent)"), max_length=64, blank=True)
    sps_id = models.CharField(_("scheduled step ID (as sent)"), max_length=16, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    discontinuation_reason = models.CharField(_("discontinuation reason"), max_length=200, blank=True)
    series = models.JSONField(_("performed series"), default=list, blank=True)
    attributes = models.JSONField(_("attributes (DICOM JSON)"), default=dict, blank=True)
    stale = models.BooleanField(_("unmatched for too long"), default=False)
    # Why the exam could not follow the step (an exam cancelled at the centre while an edge performed it):
    # the step is kept, linked, for a user to sort out.
    review_reason = models.CharField(_("needs review because"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("performed procedure step (MPPS)")
        verbose_name_plural = _("performed procedure steps (MPPS)")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["order"], name="mpps_order_idx"),
            models.Index(fields=["created_at"], condition=models.Q(order__isnull=True), name="mpps_unmatched_idx"),
        ]

    def __str__(self) -> str:
        return f"MPPS {self.pps_id or self.sop_instance_uid} {self.status}"


class RecorderJournal(models.Model):
    """How far the gateway's recorder has shipped one process's journal of
    answered queries into the database (dicom_gateway/recorder.py); written
    in the same transaction as the records, so none is written twice."""

    name = models.CharField(max_length=100, unique=True)
    shipped_offset = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.shipped_offset}"
