"""Forms of the web pages. They check shapes; the services check the rules and
their errors are put back on the form's fields (``add_service_error``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from mwl_ris.lib.errors import ApplicationError
from mwl_ris.lib.validation import FieldErrors
from orders.models import Priority, Procedure
from patients.models import BirthDatePrecision, IdentifierKind, Sex
from scheduling.models import Station

LOCAL_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


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
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=DateInput())
    birth_date_precision = forms.ChoiceField(
        label=_("Birth date known"),
        choices=BirthDatePrecision.choices,
        initial=BirthDatePrecision.DAY,
        help_text=_("If only the year is known, give 1 January of that year."),
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
    language = forms.ChoiceField(
        label=_("Preferred language"), choices=[("sw", _("Swahili")), ("en", _("English"))], initial="sw"
    )

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
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
        names = ("family_name", "given_name", "middle_name", "sex", "birth_date", "birth_date_precision", "phone")
        return {**{n: getattr(patient, n) for n in (*names, "address", "language")}, "nhif_number": nhif}


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


class BookForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.filter(active=True), widget=forms.HiddenInput)
    starts_at = forms.DateTimeField(input_formats=LOCAL_DATETIME_FORMATS, widget=forms.HiddenInput)
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
    starts_at = forms.DateTimeField(label=_("From"), input_formats=LOCAL_DATETIME_FORMATS, widget=DateTimeInput())
    ends_at = forms.DateTimeField(label=_("Until"), input_formats=LOCAL_DATETIME_FORMATS, widget=DateTimeInput())
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
