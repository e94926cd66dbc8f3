"""Performed procedure steps from the modalities, and linking the unmatched ones."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.roles import Action, user_can
from dicom_gateway.models import PerformedProcedureStep
from dicom_gateway.mpps import mpps_link, mpps_review_done
from mwl_ris.lib.errors import ApplicationError
from orders.models import Order
from ui.permissions import requires


@requires(Action.READ)
def mpps_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "unmatched")
    qs = PerformedProcedureStep.objects.select_related("order__patient", "order__procedure")
    if show == "unmatched":
        qs = qs.filter(order__isnull=True)
    elif show == "review":
        qs = qs.filter(review_reason__gt="")
    steps = list(qs.order_by("-created_at")[:200])
    flagged = PerformedProcedureStep.objects.filter(review_reason__gt="").count()
    return render(request, "ui/mpps/list.html", {"steps": steps, "show": show, "flagged": flagged})


@requires(Action.EXAM_PROGRESS)
def mpps_reviewed_view(request: HttpRequest, pk: int) -> HttpResponse:
    step = get_object_or_404(PerformedProcedureStep, pk=pk)
    if request.method == "POST":
        mpps_review_done(step=step, note=request.POST.get("note", "")[:200])
        messages.success(request, _("Marked as reviewed."))
    return redirect(f"{reverse('ui:mpps')}?show=review")


@requires(Action.EXAM_PROGRESS)
def mpps_link_view(request: HttpRequest, pk: int) -> HttpResponse:
    step = get_object_or_404(PerformedProcedureStep, pk=pk)
    accession = request.POST.get("accession_number", "").strip()
    order = Order.objects.filter(accession_number=accession).first() if accession else None
    if request.method != "POST" or not user_can(request.user, Action.EXAM_PROGRESS):
        return redirect("ui:mpps")
    if order is None:
        messages.error(request, _("No order has accession number %(accession)s.") % {"accession": accession or "—"})
        return redirect("ui:mpps")
    try:
        problem = mpps_link(step=step, order=order)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("ui:mpps")
    if problem:
        messages.error(request, _("Linked, but the exam could not follow: %(problem)s") % {"problem": problem})
    else:
        messages.success(
            request,
            _("Linked to %(accession)s; the exam is now %(status)s.")
            % {
                "accession": order.accession_number,
                "status": Order.objects.get(pk=order.pk).get_status_display(),
            },
        )
    return redirect("ui:mpps")
