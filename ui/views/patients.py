from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from accounts.roles import Action, user_can
from mwl_ris.lib.errors import ApplicationError
from patients.models import IdentifierKind, Patient, PossibleDuplicate, normalise_phone, phone_is_valid
from patients.selectors import patient_list, possible_duplicates_open
from patients.services import (
    LikelyDuplicate,
    patient_create,
    patient_merge,
    patient_update,
    possible_duplicate_resolve,
)
from scheduling.models import AppointmentStatus
from ui.forms import PatientEditForm, PatientForm, PatientSearchForm, add_service_error
from ui.permissions import requires

SEARCH_LIMIT = 25


@requires(Action.READ)
def patient_search(request: HttpRequest) -> HttpResponse:
    """Search as you type: name words, Patient ID, NHIF number or phone."""
    form = PatientSearchForm(request.GET)
    valid = form.is_valid()
    q = form.cleaned_data["q"].strip() if valid else ""
    results = list(patient_list(q=q)[:SEARCH_LIMIT]) if q else []
    context = {"q": q, "results": results, "limit": SEARCH_LIMIT, "search_errors": form.errors.get("q", [])}
    template = "ui/patients/_results.html" if request.htmx else "ui/patients/search.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=200 if valid else 400)


def _initial_from_search(q: str) -> dict[str, str]:
    """What the scheduler searched for, carried into the registration form:
    a phone number, an NHIF number, or the name (family name first)."""
    q = " ".join(q.split())
    if not q:
        return {}
    if phone_is_valid(normalise_phone(q)):
        return {"phone": q}
    if q.isdigit():
        return {"nhif_number": q}
    family, _sep, given = q.partition(" ")
    return {"family_name": family, "given_name": given}


@requires(Action.MANAGE_PATIENTS)
def patient_new(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None, initial=_initial_from_search(request.GET.get("q", "")))
    candidates: list[dict[str, Any]] = []
    confirmed = request.POST.get("confirm_new") == "1"
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_create(duplicates="flag" if confirmed else "refuse", via="ui", **form.service_fields())
        except LikelyDuplicate as exc:
            candidates = exc.extra["candidates"]
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Patient %(name)s registered (ID %(id)s).")
                % {"name": patient.display_name, "id": patient.patient_id},
            )
            return redirect("ui:patient-detail", pk=patient.pk)
    status = 400 if form.errors else (409 if candidates else 200)
    return render(request, "ui/patients/new.html", {"form": form, "candidates": candidates}, status=status)


@requires(Action.MANAGE_PATIENTS)
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a patient's demographics; the change is audited and reaches the
    scanners' worklist at once (patient_update)."""
    patient = get_object_or_404(Patient.objects.prefetch_related("identifiers"), pk=pk, merged_into__isnull=True)
    form = PatientEditForm(request.POST or None, initial=PatientEditForm.initial_for(patient))
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_update(
                patient=patient, replace_identifier_kinds=frozenset({IdentifierKind.NHIF}), **form.service_fields()
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Patient %(name)s updated.") % {"name": patient.display_name})
            return redirect("ui:patient-detail", pk=patient.pk)
    status = 400 if form.errors else 200
    return render(request, "ui/patients/edit.html", {"form": form, "patient": patient}, status=status)


@requires(Action.READ)
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient.objects.prefetch_related("identifiers"), pk=pk)
    orders = (
        patient.orders.select_related("procedure").prefetch_related("appointments__station").order_by("-created_at")
    )
    rows = []
    for order in orders:
        active = next((a for a in order.appointments.all() if a.status == AppointmentStatus.ACTIVE), None)
        rows.append((order, active))
    flags = [
        f
        for f in possible_duplicates_open().filter(Q(patient=patient) | Q(candidate=patient))
        if user_can(request.user, Action.MERGE_PATIENTS)
    ]
    return render(request, "ui/patients/detail.html", {"patient": patient, "rows": rows, "flags": flags})


@requires(Action.MERGE_PATIENTS)
def patient_duplicates(request: HttpRequest) -> HttpResponse:
    """Pairs registered although they looked alike (a confirmed registration, the
    HIS): the admin merges them or marks them as two people."""
    flags = list(possible_duplicates_open()[:200])
    return render(request, "ui/patients/duplicates.html", {"flags": flags})


@requires(Action.MERGE_PATIENTS)
def patient_merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge this record (the duplicate) into another (the survivor, by Patient ID)."""
    source = get_object_or_404(Patient, pk=pk, merged_into__isnull=True)
    if request.method != "POST":
        return redirect("ui:patient-detail", pk=source.pk)
    wanted = (request.POST.get("into") or "").strip()
    target = Patient.objects.filter(patient_id__iexact=wanted, merged_into__isnull=True).first()
    if target is None:
        messages.error(request, _("No patient has the Patient ID %(id)s.") % {"id": wanted or "—"})
        return redirect("ui:patient-detail", pk=source.pk)
    try:
        merge = patient_merge(source=source, target=target, actor=request.user, via="ui")
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("ui:patient-detail", pk=source.pk)
    messages.success(
        request,
        _("%(source)s was merged into %(target)s (%(orders)d orders moved).")
        % {"source": source.patient_id, "target": target.patient_id, "orders": merge.orders_moved},
    )
    return redirect("ui:patient-detail", pk=target.pk)


@requires(Action.MERGE_PATIENTS)
def patient_duplicate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    flag = get_object_or_404(PossibleDuplicate.objects.select_related("patient", "candidate"), pk=pk)
    if request.method == "POST":
        possible_duplicate_resolve(flag=flag, resolution="different", actor=request.user)
        messages.success(request, _("Kept as two different people."))
    return redirect("ui:patient-duplicates")
