"""The audit trail for admins: search by patient, user, AE title, date; export."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.roles import Action
from audit.models import AuditRecord, Verification
from audit.services import canonical, record_row
from ui.dates import parse_day
from ui.permissions import requires

PAGE_SIZE = 100


def _filtered(request: HttpRequest) -> tuple[QuerySet[AuditRecord], dict[str, str]]:
    params = {k: request.GET.get(k, "").strip() for k in ("patient", "user", "ae", "action", "from", "until")}
    qs = AuditRecord.objects.all()
    if params["patient"]:
        qs = qs.filter(patient_id=params["patient"])
    if params["user"]:
        qs = qs.filter(actor=params["user"])
    if params["ae"]:
        qs = qs.filter(ae_title=params["ae"].upper())
    if params["action"]:
        qs = qs.filter(action=params["action"])
    tz = timezone.get_current_timezone()
    for key, lookup, shift in (("from", "at__gte", 0), ("until", "at__lt", 1)):
        day = parse_day(params[key])  # 01/12/2026 as typed, or 2026-12-01 from a link
        if day is None:
            params[key] = ""
            continue
        qs = qs.filter(**{lookup: dt.datetime.combine(day + dt.timedelta(days=shift), dt.time(0), tzinfo=tz)})
    return qs.order_by("-at", "-pk"), params


@requires(Action.VIEW_AUDIT)
def audit_search(request: HttpRequest) -> HttpResponse:
    qs, params = _filtered(request)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "page": page,
        "params": params,
        "query": request.GET.urlencode(),
        "actions": AuditRecord.objects.values_list("action", flat=True).distinct().order_by("action"),
        "verification": Verification.objects.first(),
        "unsealed": AuditRecord.objects.filter(seq__isnull=True).count(),
    }
    return render(request, "ui/audit/search.html", context)


@requires(Action.VIEW_AUDIT)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered records as JSON lines, each with its place in the chain and hash."""
    qs, _params = _filtered(request)

    def lines() -> Iterator[str]:
        for record in qs.iterator(chunk_size=2000):
            row = {**canonical(record_row(record)), "hash": record.hash}
            yield json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localdate():%Y%m%d}.jsonl"'
    return response
