"""Stations, their closures (machine downtime) and moving the affected appointments."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.roles import Action, user_can
from dicom_gateway.selectors import station_usage
from edge.selectors import central_edges
from mwl_ris.lib.errors import ApplicationError
from scheduling.models import Closure, Station
from scheduling.selectors import closure_affected_appointments, station_list
from scheduling.stations import closure_create, closure_reschedule_affected
from ui.forms import ClosureForm, add_service_error
from ui.permissions import requires


@requires(Action.READ)
def stations(request: HttpRequest) -> HttpResponse:
    rows = []
    now = timezone.now()
    closures = Closure.objects.filter(ends_at__gt=now).order_by("starts_at")
    listed = list(station_list(active_only=False))
    usage = station_usage(listed)
    for station in listed:
        rows.append((station, [c for c in closures if c.station_id == station.pk], usage[station.ae_title]))
    return render(request, "ui/stations/list.html", {"rows": rows, "edges": central_edges()})


@requires(Action.READ)
def station_detail(request: HttpRequest, pk: int) -> HttpResponse:
    station = get_object_or_404(Station.objects.prefetch_related("opening_hours"), pk=pk)
    form = ClosureForm(request.POST or None)
    if request.method == "POST":
        if not user_can(request.user, Action.MANAGE_CATALOGUE):
            raise PermissionDenied
        if form.is_valid():
            try:
                closure = closure_create(station=station, **form.cleaned_data)
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("Closure recorded."))
                return redirect("ui:closure-detail", pk=closure.pk)
    closures = station.closures.filter(ends_at__gt=timezone.now()).order_by("starts_at")
    context = {"station": station, "form": form, "closures": closures, "hours": station.opening_hours.all()}
    return render(request, "ui/stations/detail.html", context, status=400 if form.errors else 200)


@requires(Action.READ)
def closure_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The appointments a downtime hits, and moving them all to the next free slots."""
    closure = get_object_or_404(Closure.objects.select_related("station"), pk=pk)
    results = None
    if request.method == "POST":
        if not user_can(request.user, Action.BOOK):
            raise PermissionDenied
        results = closure_reschedule_affected(closure=closure, actor=request.user)
        moved = sum(1 for r in results if r.new is not None)
        messages.success(
            request, _("%(moved)d of %(total)d appointments moved.") % {"moved": moved, "total": len(results)}
        )
    affected = list(closure_affected_appointments(closure=closure))
    return render(request, "ui/stations/closure.html", {"closure": closure, "affected": affected, "results": results})
