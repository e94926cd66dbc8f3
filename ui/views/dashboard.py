from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.roles import Action
from orders.models import Modality
from orders.selectors import order_unscheduled_list
from scheduling.selectors import day_summary, station_list, station_next_free
from ui.permissions import requires


@requires(Action.READ)
def dashboard(request: HttpRequest) -> HttpResponse:
    """Today per modality: booked, waiting, in progress, done, no-show, waiting
    time; the next free slot of every station; the queue waiting for a slot."""
    try:
        day = dt.date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        day = timezone.localdate()
    stations = list(station_list())
    labels = dict(Modality.choices)
    summaries = day_summary(day=day)
    free = station_next_free(stations=stations)
    context = {
        "day": day,
        "summaries": [(labels.get(s.modality, s.modality), s) for s in summaries],
        "stations": [(s, free[s.pk]) for s in stations],
        "queue_count": order_unscheduled_list().count(),
    }
    return render(request, "ui/dashboard.html", context)
