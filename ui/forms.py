"""Forms of the web pages. They check shapes; the services check the rules and
their errors are put back on the form's fields (``add_service_error``)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.errors import ApplicationError
from mwl_ris.lib.validation import FieldErrors
from orders.models import PregnancyStatus, Priority, Procedure
from patients.models import BirthDatePrecision, IdentifierKind, Sex
from scheduling.models import Station

BIRTH_DATE_FORMS = [
    # (pattern, precision): day/month/year, month/year, the year alone; ISO for pasted values
    (re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$"), BirthDatePrecision.DAY),
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), BirthDatePrecision.DAY),
    (re.compile(r"^(\d{1,2})[/.\-](\d{4})$"), BirthDatePrecision.MONTH),
    (re.compile(r"^(\d{4})$"), BirthDatePrecision.YEAR),
]


class BirthDateField(forms.CharField):
    """A birth date as Tanzanians write it, with as much as the patient knows:
    14/03/1985, 03/1985 or 1985. The precision follows from what was typed. A
    text box, not <input type="date">, whose order follows the browser's locale
    (month first in an American-English browser)."""

    default_error_messages = {
        "invalid": _(
            "Write the birth date as day/month/year (14/03/1985), month/year (03/1985) or the year alone (1985)."
        ),
        "future": _("The birth date cannot be in the future."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 10)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "placeholder": _("dd/mm/yyyy")}),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> tuple[dt.date, str] | None:  # type: ignore[override]
        text = " ".join(str(value or "").split())
        if not text:
            return None
        for pattern, precision in BIRTH_DATE_FORMS:
            match = pattern.match(text)
            if not match:
                continue
            numbers = [int(g) for g in match.groups()]
            try:
                if precision == BirthDatePrecision.DAY:
                    day, month, year = numbers if len(str(match.group(1))) <= 2 else numbers[::-1]
                    date = dt.date(year, month, day)
                elif precision == BirthDatePrecision.MONTH:
                    date = dt.date(numbers[1], numbers[0], 1)
                else:
                    date = dt.date(numbers[0], 1, 1)
            except ValueError:
                break
            if date.year < 1880:
                break
            if date > timezone.localdate():
                raise forms.ValidationError(self.error_messages["future"], code="future")
            return date, str(precision)
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")

    def validate(self, value: Any) -> None:
        if value is None and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value: Any) -> None:
        return None

    @staticmethod
    def shown(date: dt.date | None, precision: str) -> str:
        """The value to put back in the box for a stored date."""
        if date is None:
            return ""
        if precision == BirthDatePrecision.YEAR:
            return f"{date:%Y}"
        if precision == BirthDatePrecision.MONTH:
            return f"{date:%m/%Y}"
        return f"{date:%d/%m/%Y}"


class DateTimeInput(forms.DateTimeInput):
    """Day/month/year and the 24-hour clock in a text box (01/12/2026 14:30), not
    <input type="datetime-local">, whose order and clock follow the browser's locale."""

    def __init__(self, **kwargs: Any) -> None:
        attrs = {"inputmode": "numeric", "autocomplete": "off", "placeholder": _("dd/mm/yyyy hh:mm"), "size": 16}
        super().__init__(format="%d/%m/%Y %H:%M", attrs=attrs | kwargs.pop("attrs", {}), **kwargs)


def add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's refusal on the form: per field where it names one we show."""
    if isinstance(exc, FieldErrors):
        for name, messages in exc.fields.items():
            target = name if name in form.fields else None
            for message in messages:
                form.add_error(target, message)
        return
    form.add_error(None, exc.message)


class PatientSearchForm(forms.Form):
    """The search box: refuses what no name or number holds (a NUL character)."""

    q = forms.CharField(required=False, max_length=200)


class PatientForm(forms.Form):
    family_name = forms.CharField(label=_("Family name (surname)"), max_length=64)
    given_name = forms.CharField(label=_("Given name"), max_length=64, required=False)
    middle_name = forms.CharField(label=_("Middle name"), max_length=64, required=False)
    # "Unknown" is the empty choice (Sex.UNKNOWN is ""), once
    sex = forms.ChoiceField(
        label=_("Sex"), choices=[(Sex.UNKNOWN, Sex.UNKNOWN.label), *(c for c in Sex.choices if c[0])], required=False
    )
    birth_date = BirthDateField(
        label=_("Birth date"),
        required=False,
        help_text=_("Day/month/year: 14/03/1985. If the patient knows less: 03/1985, or only the year: 1985."),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        help_text=_("For example 0712 345 678, or +254 712 345 678 from abroad."),
    )
    nhif_number = forms.CharField(label=_("NHIF number"), max_length=64, required=False)
    patient_id = forms.CharField(
        label=_("Hospital Patient ID"),
        max_length=64,
        required=False,
        help_text=_("Leave empty to generate one."),
    )
    address = forms.CharField(label=_("Address"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    allergies = forms.CharField(
        label=_("Allergies"),
        max_length=64,
        required=False,
        help_text=_("Contrast or other allergies; the scanner shows them to the technologist."),
    )
    medical_alerts = forms.CharField(
        label=_("Medical alerts"),
        max_length=64,
        required=False,
        help_text=_("Pacemaker, diabetic, infectious…"),
    )
    language = forms.ChoiceField(
        label=_("Preferred language"), choices=[("sw", _("Swahili")), ("en", _("English"))], initial="sw"
    )

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        birth = data.pop("birth_date", None)
        data["birth_date"], data["birth_date_precision"] = birth if birth else (None, BirthDatePrecision.DAY)
        nhif = data.pop("nhif_number", "")
        data["identifiers"] = [{"kind": IdentifierKind.NHIF, "value": nhif}] if nhif else []
        return data


class PatientEditForm(PatientForm):
    """Correcting a registered patient: everything but the Patient ID, which
    other systems (HIS, scanners, PACS) already know the patient by."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["patient_id"]

    @classmethod
    def initial_for(cls, patient: Any) -> dict[str, Any]:
        nhif = next((i.value for i in patient.identifiers.all() if i.kind == IdentifierKind.NHIF), "")
        names = (
            "family_name",
            "given_name",
            "middle_name",
            "sex",
            "phone",
            "address",
            "allergies",
            "medical_alerts",
            "language",
        )
        return {
            **{n: getattr(patient, n) for n in names},
            "birth_date": BirthDateField.shown(patient.birth_date, patient.birth_date_precision),
            "nhif_number": nhif,
        }


class OrderForm(forms.Form):
    procedure = forms.ModelChoiceField(
        label=_("Examination"),
        queryset=Procedure.objects.filter(active=True),
        widget=forms.RadioSelect,
        empty_label=None,
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.ROUTINE)
    referring_physician = forms.CharField(label=_("Referring doctor"), max_length=64, required=False)
    reason = forms.CharField(label=_("Clinical indication"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    pregnancy_status = forms.TypedChoiceField(
        label=_("Pregnancy status"),
        choices=[("", _("not recorded")), *PregnancyStatus.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    comments = forms.CharField(
        label=_("Comments for the technologist"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class BookForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.filter(active=True), widget=forms.HiddenInput)
    starts_at = forms.DateTimeField(widget=forms.HiddenInput)  # DATETIME_INPUT_FORMATS (mwl_ris/formats)
    override_reason = forms.CharField(
        label=_("Reason for booking against the rules (admin)"),
        help_text=_("Outside opening hours, in a closure, or while the patient is booked elsewhere."),
        max_length=200,
        required=False,
    )
    reason = forms.CharField(label=_("Reason for the change"), max_length=200, required=False)


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason for cancelling"), max_length=200)


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Reason for withdrawing the order"), max_length=200)


class TransitionForm(forms.Form):
    to = forms.CharField(max_length=16)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class ClosureForm(forms.Form):
    starts_at = forms.DateTimeField(label=_("From"), widget=DateTimeInput())
    ends_at = forms.DateTimeField(label=_("Until"), widget=DateTimeInput())
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The closure must end after it starts."))
        return data


class FacilityForm(forms.Form):
    name = forms.CharField(label=_("Name of the facility"), max_length=120)
    department = forms.CharField(label=_("Department"), max_length=120, required=False)
    department_sw = forms.CharField(label=_("Department (Swahili)"), max_length=120, required=False)
    address = forms.CharField(label=_("Address"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    logo = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=_("PNG or JPEG, at most 512 KB. Printed at the top of every slip."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg"}),
    )
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)
