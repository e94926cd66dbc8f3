"""The technologist's day list, the exam actions, and the worklist as the modality sees it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from accounts.roles import Action, user_can
from dicom_gateway.selectors import station_served_worklist
from mwl_ris.lib.errors import ApplicationError
from orders.lifecycle import ExamStatus, allowed_transitions, exam_step_undo, exam_transition, undo_allowed
from orders.models import Modality, Order
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.selectors import no_show_allowed_from, station_day_appointments, station_list
from ui.dates import day_or_today
from ui.forms import TransitionForm
from ui.permissions import requires

# The buttons of a day-list row, in lifecycle order; discontinue asks for a reason.
ACTIONS: list[tuple[ExamStatus, Any]] = [
    (ExamStatus.ARRIVED, _("Arrived")),
    (ExamStatus.IN_PROGRESS, _("Start")),
    (ExamStatus.COMPLETED, _("Complete")),
    (ExamStatus.NO_SHOW, _("No-show")),
]
REFRESH_SECONDS = 10
FINISHED = frozenset({ExamStatus.COMPLETED, ExamStatus.DISCONTINUED, ExamStatus.NO_SHOW, ExamStatus.CANCELLED})
UNDO_LABELS: dict[str, Any] = {
    ExamStatus.ARRIVED: _("Undo arrived"),
    ExamStatus.IN_PROGRESS: _("Undo start"),
    ExamStatus.NO_SHOW: _("Undo no-show"),
}


def _selection(request: HttpRequest, params: QueryDict) -> tuple[list[Station], Station | None, str]:
    """The stations shown: ?station=<pk>, or ?modality=CT, or the last choice (kept in the session)."""
    stations = list(station_list())
    wanted_station = params.get("station") or ""
    wanted_modality = params.get("modality") or ""
    if not wanted_station and not wanted_modality:
        wanted_station = str(request.session.get("daylist_station", ""))
        wanted_modality = str(request.session.get("daylist_modality", ""))
    station = next((s for s in stations if str(s.pk) == wanted_station), None)
    if station is not None:
        request.session["daylist_station"], request.session["daylist_modality"] = station.pk, ""
        return [station], station, ""
    if wanted_modality in Modality.values:
        request.session["daylist_station"], request.session["daylist_modality"] = "", wanted_modality
        return [s for s in stations if s.modality == wanted_modality], None, wanted_modality
    return stations[:1], (stations[0] if stations else None), ""


def _row(appointment: Appointment, user: Any) -> dict[str, Any]:
    order = appointment.order
    allowed = allowed_transitions(order.status)
    may = user_can(user, Action.EXAM_PROGRESS)
    waiting = None
    if order.status == ExamStatus.ARRIVED and order.arrived_at:
        waiting = int((timezone.now() - order.arrived_at).total_seconds() // 60)
    if appointment.status == AppointmentStatus.ACTIVE and timezone.now() < no_show_allowed_from(appointment):
        allowed = allowed - {ExamStatus.NO_SHOW}  # not yet: the service would refuse it
    return {
        "appointment": appointment,
        "order": order,
        "actions": [(s.value, label) for s, label in ACTIONS if may and s in allowed],
        "can_discontinue": may and ExamStatus.DISCONTINUED in allowed,
        "can_undo": may and undo_allowed(order, user),
        "undo_label": UNDO_LABELS.get(order.status, ""),
        "waiting_minutes": waiting,
    }


def _day(params: QueryDict) -> dt.date:
    return day_or_today(params.get("date"))


def _list_context(request: HttpRequest, params: QueryDict | None = None) -> dict[str, Any]:
    """The rows of the day list: the exams still to do in time order, then the
    finished ones (completed, discontinued, not come), so the waiting patients
    stay at the top of a tablet's screen."""
    params = request.GET if params is None else params
    shown, station, modality = _selection(request, params)
    day = _day(params)
    appointments = list(station_day_appointments(stations=shown, day=day)) if shown else []
    rows = [_row(a, request.user) for a in appointments]
    rows.sort(key=lambda row: (row["order"].status in FINISHED, row["appointment"].starts_at))
    counts = {status.value: 0 for status in ExamStatus}
    for row in rows:
        counts[row["order"].status] += 1
    return {
        "rows": rows,
        "station": station,
        "show_station": station is None,
        "modality": modality,
        "shown": shown,
        "day": day,
        "is_today": day == timezone.localdate(),
        "counts": counts,
        "refresh_seconds": REFRESH_SECONDS,
        "query": params.urlencode(),
    }


@requires(Action.READ)
def daylist(request: HttpRequest) -> HttpResponse:
    context = _list_context(request)
    stations = list(station_list())
    used = {s.modality for s in stations}
    context.update(
        stations=stations,
        modalities=[(v, label) for v, label in Modality.choices if v in used],
        previous=context["day"] - dt.timedelta(days=1),
        next=context["day"] + dt.timedelta(days=1),
    )
    return render(request, "ui/daylist/daylist.html", context)


@requires(Action.READ)
def daylist_rows(request: HttpRequest) -> HttpResponse:
    """The table body alone: what the page polls every few seconds, so changes
    made elsewhere (another console, MPPS, HL7) appear without reloading."""
    return render(request, "ui/daylist/_rows.html", _list_context(request))


@requires(Action.EXAM_PROGRESS)
def order_transition(request: HttpRequest, pk: int) -> HttpResponse:
    """Arrived / start / complete / no-show / discontinue from the day list."""
    order = get_object_or_404(Order, pk=pk)
    form = TransitionForm(request.POST)
    error = ""
    if request.method != "POST" or not form.is_valid():
        error = str(_("Choose an action."))
    else:
        target = form.cleaned_data["to"]
        if target not in {s.value for s, _label in ACTIONS} | {ExamStatus.DISCONTINUED.value}:
            error = str(_("This action is not available on the day list."))
        else:
            try:
                exam_transition(order=order, to=target, reason=form.cleaned_data["reason"], actor=request.user)
            except ApplicationError as exc:
                error = exc.message
    return _after_action(request, order, error)


def _after_action(request: HttpRequest, order: Order, error: str) -> HttpResponse:
    """htmx gets the whole list back (the row moved, the summary counted again,
    the refusal in the row); a plain form post goes back to the day list."""
    if request.htmx:  # type: ignore[attr-defined]
        context = _list_context(request, QueryDict(request.POST.get("query", "")))
        for row in context["rows"]:
            if row["order"].pk == order.pk:
                row["error"] = error
        return render(request, "ui/daylist/_rows.html", context)
    if error:
        messages.error(request, error)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("ui:daylist")
    return redirect(back)


@requires(Action.EXAM_PROGRESS)
def order_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back a mistaken arrived / start / no-show (same user, soon; or an admin)."""
    order = get_object_or_404(Order, pk=pk)
    error = ""
    if request.method != "POST":
        error = str(_("Choose an action."))
    else:
        try:
            exam_step_undo(order=order, actor=request.user)
        except ApplicationError as exc:
            error = exc.message
        else:
            if not request.htmx:  # type: ignore[attr-defined]
                messages.success(request, _("Undone."))
    return _after_action(request, order, error)


@requires(Action.EXAM_PROGRESS)
def daylist_arrive(request: HttpRequest) -> HttpResponse:
    """The patient hands in the slip: its barcode (a reader types the accession
    number and Enter) or the number typed by hand marks the exam as arrived."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("ui:daylist")
    accession = (request.POST.get("accession") or "").strip().upper()[:16]
    if request.method != "POST" or not accession:
        messages.error(request, _("Scan the slip's barcode or type its accession number."))
        return redirect(back)
    appointment = (
        Appointment.objects.filter(order__accession_number=accession, status=AppointmentStatus.ACTIVE)
        .select_related("order__patient", "order__procedure", "station")
        .first()
    )
    if appointment is None:
        messages.error(request, _("No booked exam has the accession number %(accession)s.") % {"accession": accession})
        return redirect(back)
    order, start = appointment.order, timezone.localtime(appointment.starts_at)
    facts = {
        "patient": order.patient.display_name,
        "exam": order.procedure.display_name,
        "station": appointment.station.display_name,
        "when": formats.date_format(start, "SHORT_DATETIME_FORMAT"),
    }
    if start.date() != timezone.localdate():
        messages.error(request, _("%(patient)s is booked for %(when)s, not today (%(exam)s).") % facts)
        return redirect(back)
    try:
        exam_transition(order=order, to=ExamStatus.ARRIVED, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, f"{facts['patient']}: {exc.message}")
    else:
        messages.success(request, _("%(patient)s has arrived for %(exam)s at %(when)s, %(station)s.") % facts)
    return redirect(back)


@requires(Action.READ)
def station_worklist(request: HttpRequest, pk: int) -> HttpResponse:
    """Today's worklist exactly as the gateway serves it to this station's modality."""
    station = get_object_or_404(Station, pk=pk)
    served, profile = station_served_worklist(station=station)
    return render(request, "ui/daylist/served.html", {"station": station, "served": served, "profile": profile})
