from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from accounts.roles import Action
from dicom_gateway.selectors import worklist_explain
from mwl_ris.lib.errors import ApplicationError
from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order, Procedure
from orders.selectors import order_unscheduled_list, procedure_list
from orders.services import order_create
from patients.models import Patient, Sex
from scheduling.models import Station
from ui.forms import OrderForm, WithdrawForm, add_service_error
from ui.permissions import requires


def _procedures(q: str = "", modality: str = "") -> list[Procedure]:
    qs = procedure_list(active_only=True)
    if modality:
        qs = qs.filter(modality=modality)
    for word in q.split():
        qs = qs.filter(Q(name__icontains=word) | Q(code__icontains=word) | Q(body_part__icontains=word))
    return list(qs)


@requires(Action.READ)
def procedure_choices(request: HttpRequest) -> HttpResponse:
    """The catalogue search of the order form (htmx): matching procedures as radio buttons."""
    q = request.GET.get("procedure_q", "").strip()
    procedures = _procedures(q, request.GET.get("modality", ""))
    return render(request, "ui/orders/_procedure_choices.html", {"procedures": procedures, "selected": "", "q": q})


@requires(Action.MANAGE_ORDERS)
def order_new(request: HttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=patient_pk, merged_into__isnull=True)
    form = OrderForm(request.POST or None)
    if patient.sex == Sex.MALE:
        del form.fields["pregnancy_status"]  # not asked for a man
    if request.method == "POST" and form.is_valid():
        try:
            order = order_create(patient=patient, created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Order %(accession)s created: %(procedure)s. Choose a slot.")
                % {"accession": order.accession_number, "procedure": order.procedure.name},
            )
            return redirect("ui:calendar-order", order_pk=order.pk)
    context = {
        "patient": patient,
        "form": form,
        "procedures": _procedures(),
        "selected": str(form.data.get("procedure", "")) if form.is_bound else "",
    }
    return render(request, "ui/orders/new.html", context, status=400 if form.errors else 200)


@requires(Action.READ)
def order_queue(request: HttpRequest) -> HttpResponse:
    """Orders waiting for a slot (entered here, by the API or by HL7): STAT first."""
    orders = list(order_unscheduled_list()[:200])
    return render(request, "ui/orders/queue.html", {"orders": orders})


@requires(Action.MANAGE_ORDERS)
def order_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw an order nobody booked (the request was a mistake, the doctor
    cancelled it): cancelled with the reason, off the queue, audited."""
    order = get_object_or_404(Order, pk=pk)
    form = WithdrawForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        messages.error(
            request, _("Give a reason to withdraw order %(accession)s.") % {"accession": order.accession_number}
        )
        return redirect("ui:order-queue")
    if order.status != ExamStatus.REQUESTED:
        messages.error(
            request,
            _("Order %(accession)s is booked: cancel its appointment instead.") % {"accession": order.accession_number},
        )
        return redirect("ui:order-queue")
    try:
        exam_transition(order=order, to=ExamStatus.CANCELLED, reason=form.cleaned_data["reason"], actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Order %(accession)s withdrawn.") % {"accession": order.accession_number})
    return redirect("ui:order-queue")


@requires(Action.READ)
def order_explain(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Why isn't my patient on the scanner?" for one exam and one station."""
    order = get_object_or_404(Order.objects.select_related("patient", "procedure"), pk=pk)
    stations = list(Station.objects.filter(active=True))
    station = None
    if request.GET.get("station"):
        station = get_object_or_404(Station, pk=request.GET["station"])
    explanation = worklist_explain(order=order, station=station)
    return render(
        request,
        "ui/orders/explain.html",
        {"order": order, "explanation": explanation, "stations": stations, "station": station},
    )
