from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.dicom import validate_ae_title
from orders.models import Modality

MAX_CAPACITY = 20


class Station(models.Model):
    """A room with one modality, known to the worklist by its AE title."""

    name = models.CharField(_("name"), max_length=64)
    name_sw = models.CharField(
        _("name (Swahili)"), max_length=64, blank=True, help_text=_("On Swahili pages and slips.")
    )
    room = models.CharField(_("room"), max_length=64, blank=True)
    modality = models.CharField(_("modality"), max_length=2, choices=Modality.choices)
    ae_title = models.CharField(_("AE title"), max_length=16, unique=True, validators=[validate_ae_title])
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    tls_required = models.BooleanField(
        _("TLS required"),
        default=False,
        help_text=_("Refuse this AE title on the gateway's plain DICOM port: it must use the TLS port."),
    )
    capacity = models.PositiveSmallIntegerField(
        _("patients at a time"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY)],
        help_text=_("How many patients the room takes at once (two ultrasound machines: 2)."),
    )
    dicom_profile = models.ForeignKey(
        "dicom_gateway.Profile",
        verbose_name=_("modality profile"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stations",
        help_text=_("How the worklist answers this station (character set, name format, limits)."),
    )
    site = models.ForeignKey(
        "facility.Site",
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stations",
        help_text=_("A remote site's stations are served by its edge node; empty: the main site."),
    )

    class Meta:
        verbose_name = _("station")
        verbose_name_plural = _("stations")
        ordering = ["modality", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title})"

    @property
    def display_name(self) -> str:
        """The station as people in the department name it: the room's name, and
        where it has one the room number ("Ultrasound 1 · Room 12")."""
        name = self.name_for(translation.get_language() or "")
        return f"{name} · {self.room}" if self.room else name

    def name_for(self, language: str) -> str:
        return self.name_sw if language.startswith("sw") and self.name_sw else self.name

    @property
    def name_for_page(self) -> str:
        """The name alone, in the language of the page being shown."""
        return self.name_for(translation.get_language() or "")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class OpeningHours(models.Model):
    """One opening interval of a station on a weekday, in local time. A station
    with no rows at all is open around the clock (an emergency CT); a weekday
    without rows is closed. ``closes`` 00:00 means midnight at the end of the day."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["station", "weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class Closure(models.Model):
    """Downtime: maintenance, breakdown, holiday. No booking may fall in it."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="closures")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    reason = models.CharField(_("reason"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        ordering = ["station", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="closure_ends_after_start"),
        ]
        indexes = [
            # booking check: closures of one station overlapping [start, end)
            models.Index(fields=["station", "starts_at", "ends_at"], name="closure_station_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.station}: {self.reason}"


class AppointmentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")
    RESCHEDULED = "rescheduled", _("Rescheduled (replaced)")


class Appointment(models.Model):
    """An order booked into a station's time slot [starts_at, ends_at).

    Only ACTIVE appointments hold their slot. A station takes ``capacity``
    patients at once: each appointment holds one of its lanes 1..capacity. On
    PostgreSQL two exclusion constraints (migrations 0002 and 0004) make it
    impossible, whatever the application does, for two active appointments to
    overlap in one lane of one station (``appointment_no_overlap``) or for one
    patient to be in two places at once (``appointment_patient_no_overlap``,
    unless an admin allowed it with a reason: ``patient_overlap_allowed``). On
    SQLite the booking service checks inside an IMMEDIATE transaction.
    """

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="appointments")
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="appointments")
    lane = models.PositiveSmallIntegerField(_("place in the room"), default=1)
    # The order's patient, kept here because an exclusion constraint can only see
    # this table's columns; set on save, moved by a patient merge.
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments", editable=False
    )
    patient_overlap_allowed = models.BooleanField(
        _("patient booked elsewhere at the same time (allowed)"), default=False
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"), max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.ACTIVE
    )
    override_reason = models.CharField(_("reason for booking outside opening hours"), max_length=200, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=200, blank=True)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="appointment_ends_after_start"),
            models.CheckConstraint(condition=Q(lane__gte=1, lane__lte=MAX_CAPACITY), name="appointment_lane_in_range"),
            # an order has at most one active appointment
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="active"),
                name="appointment_one_active_per_order",
            ),
        ]
        indexes = [
            # overlap check and station calendar: active appointments of a station in a time window
            models.Index(fields=["station", "starts_at", "ends_at"], name="appt_station_time_idx"),
            # patient clash check: the patient's active appointments in a time window
            models.Index(fields=["patient", "starts_at"], name="appt_patient_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.station.ae_title} {self.starts_at:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.patient_id is None and self.order_id is not None:
            self.patient_id = self.order.patient_id
        super().save(*args, **kwargs)  # type: ignore[arg-type]
