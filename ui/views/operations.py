"""The operations pages for hospital IT: the set-up check (ris_check's table) and the SLA."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.roles import Action
from audit.context import acting_as
from audit.models import Interface
from operations.checks import FAIL, Options, run_checks
from operations.sla import sla_report
from ui.permissions import requires


@requires(Action.VIEW_OPERATIONS)
def setup_check(request: HttpRequest) -> HttpResponse:
    """Runs every check now (a few seconds: it sends a job to a worker and queries the gateway)."""
    with acting_as(Interface.WEB, request.user.get_username()):
        results = run_checks(Options(worker_wait=5.0))
    failed = sum(1 for r in results if r.status == FAIL)
    return render(request, "ui/operations/check.html", {"results": results, "failed": failed})


@requires(Action.VIEW_OPERATIONS)
def sla(request: HttpRequest) -> HttpResponse:
    return render(request, "ui/operations/sla.html", {"windows": sla_report()})
