from __future__ import annotations

import datetime as dt

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.dicom import normalise_for_search, person_name, validate_lo


def validate_not_in_future(value: dt.date) -> None:
    """A birth date after today (the facility's today) is a typing mistake."""
    if value > timezone.localdate():
        raise ValidationError(_("The birth date cannot be in the future."), code="future")


PHONE_REGION = "TZ"  # numbers written without a country code are Tanzanian


def _parsed_phone(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, PHONE_REGION)
    except phonenumbers.NumberParseException:
        return None


def phone_is_valid(value: str) -> bool:
    """A real number (Tanzanian or international), as the phonenumbers library knows them."""
    number = _parsed_phone(value)
    return number is not None and phonenumbers.is_valid_number(number)


def validate_phone(value: str) -> None:
    if not phone_is_valid(value):
        raise ValidationError(
            _(
                "Enter a valid phone number: a Tanzanian one (e.g. 0712 345 678) or an international one "
                "starting with + and the country code (e.g. +254 712 345 678)."
            ),
            code="phone",
        )


def normalise_phone(raw: str) -> str:
    """The ways people write numbers (0712 345 678, 255712345678, +255 712-345-678,
    +254 712 345 678) as E.164 (+255712345678); a number that is not one is
    returned as typed, for the validator to refuse."""
    text = (raw or "").strip()
    if not text:
        return ""
    if text[0].isdigit() and text.startswith("255") and len("".join(c for c in text if c.isdigit())) == 12:
        text = "+" + text  # 255712345678: the country code without its +
    number = _parsed_phone(text)
    if number is None or not phonenumbers.is_valid_number(number):
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")
    OTHER = "O", _("Other")
    UNKNOWN = "", _("Unknown")


class BirthDatePrecision(models.TextChoices):
    """Many patients know only their birth year. The date column then holds the
    first day of the known period, and this says how much of it is real."""

    DAY = "day", _("Exact date")
    MONTH = "month", _("Month and year only")
    YEAR = "year", _("Year only")


class Patient(models.Model):
    patient_id = models.CharField(_("patient ID"), max_length=64, validators=[validate_lo])
    issuer = models.CharField(
        _("issuer of patient ID"), max_length=64, blank=True, default="", validators=[validate_lo]
    )
    family_name = models.CharField(_("family name"), max_length=64)
    given_name = models.CharField(_("given name"), max_length=64, blank=True)
    middle_name = models.CharField(_("middle name"), max_length=64, blank=True)
    name_prefix = models.CharField(_("name prefix (title)"), max_length=64, blank=True, help_text=_("Dr, Mrs, Sr…"))
    name_suffix = models.CharField(_("name suffix"), max_length=64, blank=True, help_text=_("Jr, III…"))
    ideographic_name = models.CharField(
        _("name in ideographic characters"),
        max_length=64,
        blank=True,
        help_text=_("DICOM second name group, e.g. 李^磊 for LI^Lei (Family^Given)."),
    )
    phonetic_name = models.CharField(
        _("name in phonetic characters"),
        max_length=64,
        blank=True,
        help_text=_("DICOM third name group (Family^Given^Middle^Prefix^Suffix)."),
    )
    # Patient Medical module (PS3.3 C.2.4): what the modality shows the technologist.
    medical_alerts = models.CharField(
        _("medical alerts"),
        max_length=64,
        blank=True,
        validators=[validate_lo],
        help_text=_("Conditions the technologist must know: pacemaker, diabetic, infectious…"),
    )
    allergies = models.CharField(
        _("allergies"),
        max_length=64,
        blank=True,
        validators=[validate_lo],
        help_text=_("Contrast or other allergies."),
    )
    # Normalised "family given middle" (case/accent folded): the search column.
    name_search = models.CharField(max_length=200, editable=False, db_index=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True, validators=[validate_not_in_future])
    birth_date_precision = models.CharField(
        _("birth date precision"),
        max_length=5,
        choices=BirthDatePrecision.choices,
        default=BirthDatePrecision.DAY,
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=16, blank=True, validators=[validate_phone])  # E.164
    address = models.TextField(_("address"), blank=True)
    language = models.CharField(
        _("preferred language"),
        max_length=2,
        choices=[("sw", _("Swahili")), ("en", _("English"))],
        default="sw",
        help_text=_("The language of the appointment slip and reminders."),
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_patients",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["family_name", "given_name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "patient_id"], name="patient_id_unique_per_issuer"),
        ]
        indexes = [
            # patient search by ID prefix (UI search-as-you-type, API ?patient_id=)
            models.Index(fields=["patient_id"], name="patient_pid_idx"),
            # patient search by phone (scheduler's search box)
            models.Index(fields=["phone"], name="patient_phone_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.patient_id})"

    @property
    def display_name(self) -> str:
        parts = (self.name_prefix, self.given_name, self.middle_name, self.family_name.upper(), self.name_suffix)
        return " ".join(p for p in parts if p)

    @property
    def birth_date_display(self) -> str:
        """Day/month/year as Tanzanians write it, with only what is known: 14/03/1985,
        03/1985 or 1985."""
        if self.birth_date is None:
            return ""
        if self.birth_date_precision == BirthDatePrecision.YEAR:
            return f"{self.birth_date:%Y}"
        if self.birth_date_precision == BirthDatePrecision.MONTH:
            return f"{self.birth_date:%m/%Y}"
        return f"{self.birth_date:%d/%m/%Y}"

    @property
    def dicom_name(self) -> str:
        """PN value: Family^Given^Middle^Prefix^Suffix, then =Ideographic and
        =Phonetic when known (PS3.5 6.2.1; empty trailing parts left out)."""
        alphabetic = person_name(
            self.family_name, self.given_name, self.middle_name, self.name_prefix, self.name_suffix
        )
        groups = [alphabetic]
        for group in (self.ideographic_name, self.phonetic_name):
            cleaned = "^".join(p.replace("=", " ").replace("\\", " ").strip() for p in group.split("^"))
            groups.append(cleaned.rstrip("^") if cleaned.strip("^ ") else "")
        while len(groups) > 1 and not groups[-1]:
            groups.pop()
        return "=".join(groups)

    def refresh_search_fields(self) -> None:
        self.name_search = normalise_for_search(" ".join((self.family_name, self.given_name, self.middle_name)))

    def clean(self) -> None:
        if self.birth_date and self.birth_date_precision != BirthDatePrecision.DAY:
            if self.birth_date_precision == BirthDatePrecision.YEAR and (
                self.birth_date.month,
                self.birth_date.day,
            ) != (1, 1):
                raise ValidationError({"birth_date": _("With 'year only', give the 1st of January.")})
            if self.birth_date_precision == BirthDatePrecision.MONTH and self.birth_date.day != 1:
                raise ValidationError({"birth_date": _("With 'month and year only', give the 1st day.")})


class IdentifierKind(models.TextChoices):
    NHIF = "nhif", _("NHIF card number")
    NATIONAL_ID = "nida", _("National ID (NIDA)")
    PREVIOUS_ID = "previous", _("Previous patient ID (merged)")
    OTHER = "other", _("Other")


class PatientIdentifier(models.Model):
    """Other identifiers: NHIF card, national ID, IDs from merged records."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(_("kind"), max_length=10, choices=IdentifierKind.choices)
    issuer = models.CharField(_("issuer"), max_length=64, blank=True, default="")
    value = models.CharField(_("value"), max_length=64, validators=[validate_lo])

    class Meta:
        verbose_name = _("patient identifier")
        constraints = [
            # one NHIF number / national ID belongs to one patient
            models.UniqueConstraint(fields=["kind", "issuer", "value"], name="identifier_unique"),
        ]
        indexes = [
            # patient search by NHIF number or national ID (value lookups)
            models.Index(fields=["value"], name="identifier_value_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class PatientMerge(models.Model):
    """Who merged which patient into which, and when (HL7 A40 or a user)."""

    source = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    source_patient_id = models.CharField(max_length=64)
    source_issuer = models.CharField(max_length=64, blank=True)
    orders_moved = models.PositiveIntegerField(default=0)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_via = models.CharField(max_length=32, default="ui")
    merged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patient merge")
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"{self.source_patient_id} -> {self.target_id}"


class PossibleDuplicate(models.Model):
    """A patient registered although a likely duplicate existed: the scheduler
    confirmed "a new patient" anyway, or the HIS sent one (HL7 ADT) without an ID
    known here. An admin looks at each pair and merges them or marks them as two
    people; until then both records stay as they are."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="duplicate_flags")
    candidate = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    reasons = models.CharField(_("why they look alike"), max_length=200)
    flagged_via = models.CharField(max_length=32, default="ui")
    flagged_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=16, blank=True)  # "merged", "different"
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("possible duplicate patient")
        ordering = ["-flagged_at"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "candidate"], name="possible_duplicate_pair_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} ~ {self.candidate_id}"
