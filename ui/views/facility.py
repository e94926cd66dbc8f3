"""The facility's details, as the slips print them (admins), and its logo."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.roles import Action
from facility.services import FIELDS, facility_get, facility_update
from mwl_ris.lib.errors import ApplicationError
from ui.forms import FacilityForm, add_service_error
from ui.permissions import requires


@requires(Action.MANAGE_FACILITY)
def facility_settings(request: HttpRequest) -> HttpResponse:
    facility = facility_get()
    form = FacilityForm(
        request.POST or None, request.FILES or None, initial={name: getattr(facility, name) for name in FIELDS}
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        upload = data.pop("logo")
        try:
            facility_update(logo=upload.read() if upload else None, remove_logo=data.pop("remove_logo"), **data)
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The facility's details were saved; the slips print them from now on."))
            return redirect("ui:facility-settings")
    status = 400 if form.errors else 200
    return render(request, "ui/facility/settings.html", {"form": form, "facility": facility}, status=status)


@requires(Action.READ)
def facility_logo(request: HttpRequest) -> HttpResponse:
    facility = facility_get()
    if not facility.logo_content_type or facility.logo is None:
        raise Http404
    response = HttpResponse(bytes(facility.logo), content_type=facility.logo_content_type)
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
