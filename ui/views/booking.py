"""The station calendar, booking, rescheduling, cancelling and the slip."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from accounts.roles import Action
from facility.services import facility_get
from mwl_ris.lib.clock import patient_time
from mwl_ris.lib.errors import ApplicationError
from orders.models import ExamStatus, Modality, Order
from scheduling.booking import COMPATIBLE_MODALITIES, appointment_book, appointment_cancel, appointment_reschedule
from scheduling.models import Appointment, AppointmentStatus, Station
from scheduling.selectors import next_available_slots, station_list
from ui.barcode import code128_data_uri
from ui.calendar import day_grid, week_days, week_grid
from ui.dates import day_or_today
from ui.forms import BookForm, CancelForm, add_service_error
from ui.permissions import requires


def _day(request: HttpRequest) -> dt.date:
    return day_or_today(request.GET.get("date"))


def _modalities() -> list[tuple[str, Any]]:
    used = set(Station.objects.filter(active=True).values_list("modality", flat=True))
    return [(value, label) for value, label in Modality.choices if value in used]


def _stations_for(modality: str) -> list[Station]:
    wanted = {modality} | COMPATIBLE_MODALITIES.get(modality, set())
    return [s for s in station_list() if s.modality in wanted]


def _calendar_context(
    request: HttpRequest,
    *,
    modality: str,
    order: Order | None = None,
    appointment: Appointment | None = None,
    form: BookForm | None = None,
) -> dict[str, Any]:
    day = _day(request)
    view = "week" if request.GET.get("view") == "week" else "day"
    stations = _stations_for(modality)
    duration = None
    if appointment is not None:
        duration = appointment.ends_at - appointment.starts_at
    elif order is not None:
        duration = dt.timedelta(minutes=order.procedure.default_duration_minutes)
    context: dict[str, Any] = {
        "modality": modality,
        "modalities": _modalities(),
        "day": day,
        "view": view,
        "previous": day - dt.timedelta(days=7 if view == "week" else 1),
        "next": day + dt.timedelta(days=7 if view == "week" else 1),
        "today": timezone.localdate(),
        "stations": stations,
        "order": order,
        "appointment": appointment,
        "duration_minutes": int(duration.total_seconds() // 60) if duration else None,
        "form": form or BookForm(),
    }
    if view == "week":
        context["week"] = week_grid(stations=stations, day=day, duration=duration)
        context["week_days"] = week_days(day)
    else:
        context["grid"] = day_grid(stations=stations, day=day, duration=duration)
    if duration is not None:
        context["suggestions"] = next_available_slots(stations=stations, duration=duration, limit=6)
        # The day and view go with the booking, so a refusal shows the same calendar again.
        keep = f"?{urlencode({'date': day.isoformat(), 'view': view})}"
        if appointment is not None:
            context["post_url"] = reverse("ui:appointment-reschedule", args=[appointment.pk]) + keep
        elif order is not None:
            context["post_url"] = reverse("ui:book", args=[order.pk]) + keep
    return context


@requires(Action.READ)
def calendar_index(request: HttpRequest) -> HttpResponse:
    modalities = _modalities()
    if not modalities:
        return render(request, "ui/booking/no_stations.html")
    return redirect("ui:calendar", modality=modalities[0][0])


@requires(Action.READ)
def calendar(request: HttpRequest, modality: str) -> HttpResponse:
    if modality not in Modality.values:
        raise Http404
    return render(request, "ui/booking/calendar.html", _calendar_context(request, modality=modality))


@requires(Action.BOOK)
def calendar_order(request: HttpRequest, order_pk: int) -> HttpResponse:
    """Book an order: its modality's calendar with the free slots that fit it."""
    order = get_object_or_404(Order.objects.select_related("patient", "procedure"), pk=order_pk)
    context = _calendar_context(request, modality=order.procedure.modality, order=order)
    return render(request, "ui/booking/calendar.html", context)


def _refused(request: HttpRequest, exc: ApplicationError, form: BookForm, **context: Any) -> HttpResponse:
    """Re-show the calendar with what the service refused (a conflict names the
    booking that holds the slot: the other scheduler won)."""
    add_service_error(form, exc)
    page = _calendar_context(request, form=form, **context)
    page["refusal"] = exc
    return render(request, "ui/booking/calendar.html", page, status=exc.http_status)


@requires(Action.BOOK)
def book(request: HttpRequest, order_pk: int) -> HttpResponse:
    order = get_object_or_404(Order.objects.select_related("patient", "procedure"), pk=order_pk)
    if request.method != "POST":
        return redirect("ui:calendar-order", order_pk=order.pk)
    form = BookForm(request.POST)
    if not form.is_valid():
        page = _calendar_context(request, modality=order.procedure.modality, order=order, form=form)
        return render(request, "ui/booking/calendar.html", page, status=400)
    try:
        appointment = appointment_book(
            order=order,
            station=form.cleaned_data["station"],
            starts_at=form.cleaned_data["starts_at"],
            override_reason=form.cleaned_data["override_reason"],
            actor=request.user,
        )
    except ApplicationError as exc:
        return _refused(request, exc, form, modality=order.procedure.modality, order=order)
    messages.success(request, _("Booked: %(when)s on %(station)s.") % _when_where(appointment))
    return redirect("ui:appointment-detail", pk=appointment.pk)


def _when_where(appointment: Appointment) -> dict[str, str]:
    return {
        "when": formats.date_format(timezone.localtime(appointment.starts_at), "l j F Y, H:i"),
        "station": appointment.station.name,
    }


@requires(Action.READ)
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(
        Appointment.objects.select_related("order__patient", "order__procedure", "station", "replaced_by"), pk=pk
    )
    active = appointment.status == AppointmentStatus.ACTIVE
    changeable = active and appointment.order.status in (ExamStatus.SCHEDULED, ExamStatus.ARRIVED)
    context = {
        "appointment": appointment,
        "changeable": changeable,
        "cancel_form": CancelForm(),
        "active": active,
        "current": None if active else current_booking(appointment),
    }
    return render(request, "ui/booking/appointment.html", context)


@requires(Action.BOOK)
def appointment_reschedule_view(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(
        Appointment.objects.select_related("order__patient", "order__procedure", "station"), pk=pk
    )
    modality = appointment.order.procedure.modality
    if request.method != "POST":
        page = _calendar_context(request, modality=modality, appointment=appointment, order=appointment.order)
        return render(request, "ui/booking/calendar.html", page)
    form = BookForm(request.POST)
    if not form.is_valid():
        page = _calendar_context(
            request, modality=modality, appointment=appointment, order=appointment.order, form=form
        )
        return render(request, "ui/booking/calendar.html", page, status=400)
    try:
        new = appointment_reschedule(
            appointment=appointment,
            station=form.cleaned_data["station"],
            starts_at=form.cleaned_data["starts_at"],
            reason=form.cleaned_data["reason"],
            override_reason=form.cleaned_data["override_reason"],
            actor=request.user,
        )
    except ApplicationError as exc:
        return _refused(request, exc, form, modality=modality, appointment=appointment, order=appointment.order)
    messages.success(request, _("Rescheduled to %(when)s on %(station)s.") % _when_where(new))
    return redirect("ui:appointment-detail", pk=new.pk)


@requires(Action.BOOK)
def appointment_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_object_or_404(
        Appointment.objects.select_related("order__patient", "order__procedure", "station"), pk=pk
    )
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            appointment_cancel(appointment=appointment, reason=form.cleaned_data["reason"], actor=request.user)
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The exam was cancelled and its slot freed."))
            return redirect("ui:patient-detail", pk=appointment.order.patient_id)
    context = {"appointment": appointment, "changeable": True, "cancel_form": form, "active": True}
    return render(request, "ui/booking/appointment.html", context, status=400 if form.errors else 200)


def current_booking(appointment: Appointment) -> Appointment | None:
    """Where a moved appointment went: the end of its chain of reschedules, if still active."""
    seen = {appointment.pk}
    current = appointment
    while current.replaced_by_id is not None and current.replaced_by_id not in seen:
        seen.add(current.replaced_by_id)
        current = Appointment.objects.select_related("station").get(pk=current.replaced_by_id)
    return current if current.status == AppointmentStatus.ACTIVE and current.pk != appointment.pk else None


@requires(Action.READ)
def appointment_slip(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable slip, in the patient's language whatever the user's. Only an
    active appointment has one: a cancelled or moved one answers 410 with a page
    that says plainly it is void and links to the current booking, if any."""
    appointment = get_object_or_404(
        Appointment.objects.select_related("order__patient", "order__procedure", "station"), pk=pk
    )
    if appointment.status != AppointmentStatus.ACTIVE:
        context = {"appointment": appointment, "current": current_booking(appointment)}
        return render(request, "ui/booking/slip_void.html", context, status=410)
    procedure = appointment.order.procedure
    language = appointment.order.patient.language or "sw"
    preparation = procedure.preparation_sw if language == "sw" and procedure.preparation_sw else procedure.preparation
    start = timezone.localtime(appointment.starts_at)
    facility = facility_get()
    with translation.override(language):
        response = render(
            request,
            "ui/booking/slip.html",
            {
                "appointment": appointment,
                "preparation": preparation,
                "slip_language": language,
                "facility": facility,
                "department": facility.department_for(language),
                "exam_name": procedure.name_for(language),
                "station_name": appointment.station.name_for(language),
                "time_for_patient": patient_time(start, language),
                "barcode": code128_data_uri(appointment.order.accession_number),
            },
        )
    return response
