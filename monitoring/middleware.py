"""Each web request's time to answer: the request histogram of /metrics, and for
updates (POST, PUT, PATCH, DELETE) an UpdateTiming row for the SLA page."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from monitoring.metrics import HTTP_REQUESTS
from monitoring.models import UpdateTiming

logger = logging.getLogger(__name__)
UPDATES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_TIMED = frozenset({"metrics", "healthz", "readyz"})


class RequestTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = request.resolver_match
        view = (match.view_name if match else "") or "(unmatched)"
        if view in NOT_TIMED:
            return response
        method = request.method or ""
        HTTP_REQUESTS.labels(view=view[:100], method=method, status=f"{response.status_code // 100}xx").observe(seconds)
        if method in UPDATES:
            try:
                UpdateTiming.objects.create(
                    at=timezone.now(), view=view[:100], method=method, status=response.status_code, ms=seconds * 1000
                )
            except DatabaseError:
                logger.warning("update timing not recorded: database unavailable")
        return response
