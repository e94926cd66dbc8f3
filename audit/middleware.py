from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import acting_as
from audit.models import Interface


class AuditActorMiddleware:
    """Web pages and API calls act for the logged-in user, from the client's address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        interface = Interface.API if request.path.startswith("/api/") else Interface.WEB
        with acting_as(interface, ip=request.META.get("REMOTE_ADDR", ""), request=request):
            return self.get_response(request)
