from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.dicom import validate_lo, validate_sh, validate_uid


class Modality(models.TextChoices):
    """DICOM Modality (0008,0060) values a worklist serves."""

    CT = "CT", _("Computed tomography")
    MR = "MR", _("Magnetic resonance")
    CR = "CR", _("Computed radiography")
    DX = "DX", _("Digital radiography")
    US = "US", _("Ultrasound")
    MG = "MG", _("Mammography")
    RF = "RF", _("Fluoroscopy")
    XA = "XA", _("Angiography")
    NM = "NM", _("Nuclear medicine")
    PT = "PT", _("PET")
    OT = "OT", _("Other")


class Procedure(models.Model):
    """A catalogue entry: what can be ordered, and how long it takes."""

    code = models.CharField(_("code"), max_length=16, validators=[validate_sh])
    coding_scheme = models.CharField(_("coding scheme"), max_length=16, default="RIS", validators=[validate_sh])
    name = models.CharField(_("name"), max_length=64, validators=[validate_lo])
    name_sw = models.CharField(
        _("name (Swahili)"),
        max_length=120,
        blank=True,
        help_text=_("As the slip of a Swahili-speaking patient says it; the worklist keeps the name above."),
    )
    modality = models.CharField(_("modality"), max_length=2, choices=Modality.choices)
    default_duration_minutes = models.PositiveSmallIntegerField(
        _("default duration (minutes)"), validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    body_part = models.CharField(_("body part examined"), max_length=16, blank=True)
    protocol_code = models.CharField(_("protocol code"), max_length=16, blank=True, validators=[validate_sh])
    preparation = models.TextField(_("patient preparation"), blank=True)
    preparation_sw = models.TextField(
        _("patient preparation (Swahili)"), blank=True, help_text=_("Printed on the slip of Swahili-speaking patients.")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        ordering = ["modality", "name"]
        constraints = [
            models.UniqueConstraint(fields=["coding_scheme", "code"], name="procedure_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def name_for(self, language: str) -> str:
        """The name in the patient's language (the English one where none is given)."""
        return self.name_sw if language.startswith("sw") and self.name_sw else self.name

    @property
    def display_name(self) -> str:
        """The name in the language of the page being shown."""
        return self.name_for(translation.get_language() or "")


class ExamStatus(models.TextChoices):
    """Where an exam is in its lifecycle; the moves between them are orders/lifecycle.py."""

    REQUESTED = "requested", _("Requested (not booked)")
    SCHEDULED = "scheduled", _("Scheduled")
    ARRIVED = "arrived", _("Arrived")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")
    DISCONTINUED = "discontinued", _("Discontinued")


class Priority(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    STAT = "stat", _("STAT")

    @property
    def dicom(self) -> str:
        """Requested Procedure Priority (0040,1003): STAT, HIGH, ROUTINE, MEDIUM, LOW."""
        return {"routine": "ROUTINE", "urgent": "HIGH", "stat": "STAT"}[self.value]


class PregnancyStatus(models.IntegerChoices):
    """Pregnancy Status (0010,21C0) enumerated values."""

    NOT_PREGNANT = 1, _("not pregnant")
    POSSIBLY_PREGNANT = 2, _("possibly pregnant")
    DEFINITELY_PREGNANT = 3, _("definitely pregnant")
    UNKNOWN = 4, _("unknown")


class Order(models.Model):
    """An imaging order: one requested procedure for one patient."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="orders")
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="orders")
    placer_order_number = models.CharField(
        _("placer order number"), max_length=64, blank=True, validators=[validate_lo]
    )
    filler_order_number = models.CharField(
        _("filler order number"), max_length=64, blank=True, validators=[validate_lo]
    )
    # Unique when given. Empty only for an order imported from a worklist file
    # that had none (Type 2 in the worklist: the modality is served it empty).
    accession_number = models.CharField(_("accession number"), max_length=16, blank=True, validators=[validate_sh])
    study_instance_uid = models.CharField(
        _("study instance UID"), max_length=64, unique=True, validators=[validate_uid]
    )
    requested_procedure_id = models.CharField(_("requested procedure ID"), max_length=16, validators=[validate_sh])
    scheduled_procedure_step_id = models.CharField(
        _("scheduled procedure step ID"),
        max_length=16,
        blank=True,
        validators=[validate_sh],
        help_text=_("Empty: the requested procedure ID (one step per requested procedure)."),
    )
    extra_station_ae_titles = models.CharField(
        _("more scheduled station AE titles"),
        max_length=200,
        blank=True,
        help_text=_("Imported items scheduled on several stations: the AE titles after the booked one."),
    )
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    referring_physician = models.CharField(_("referring physician"), max_length=64, blank=True)
    reason = models.TextField(_("reason / clinical indication"), blank=True)
    comments = models.TextField(
        _("comments for the technologist"), blank=True, help_text=_("Served as Requested Procedure Comments.")
    )
    pregnancy_status = models.PositiveSmallIntegerField(
        _("pregnancy status"), choices=PregnancyStatus.choices, null=True, blank=True
    )
    scheduled_performing_physician = models.CharField(
        _("scheduled performing physician"), max_length=64, blank=True, help_text=_("Radiologist or technologist.")
    )
    # An imported item's worklist attributes (dicom_gateway.importing), served
    # as imported (worklist.services): {"top": {keyword: value}, "sps": {…}} in
    # the plain form of dicom_gateway.attributes, with the procedure, station and
    # priority it was imported with and what the RIS's records said then.
    imported_attributes = models.JSONField(default=dict, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=ExamStatus.choices, default=ExamStatus.REQUESTED)
    status_reason = models.CharField(_("reason for the last status change"), max_length=200, blank=True)
    # The last step, so that a mis-tap can be undone (orders.lifecycle.exam_step_undo).
    status_previous = models.CharField(_("status before the last change"), max_length=12, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the exam reached these steps (the dashboard's waiting time: arrived → started).
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # HL7 placer numbers identify an order; the same one twice is a duplicate order
            models.UniqueConstraint(
                fields=["accession_number"],
                condition=~Q(accession_number=""),
                name="order_accession_number_unique",
            ),
            models.UniqueConstraint(
                fields=["placer_order_number"],
                condition=~Q(placer_order_number=""),
                name="order_placer_number_unique",
            ),
        ]
        indexes = [
            # scheduler's queue of unscheduled orders: status = requested, oldest first
            models.Index(fields=["status", "created_at"], name="order_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.accession_number} {self.procedure.name}"


class Counter(models.Model):
    """Named counters: one per accession-number scope (per day by default) and
    one for generated patient IDs. See orders/accession.py."""

    scope = models.CharField(max_length=32, unique=True)
    value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("counter")

    def __str__(self) -> str:
        return f"{self.scope}={self.value}"
