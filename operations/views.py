"""/metrics and /readyz: for the monitoring server and the load balancer, not for people."""

from __future__ import annotations

import hmac
import ipaddress
import socket

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from edge.metrics import EdgeCollector
from monitoring.metrics import scrape_registry
from operations.collectors import DatabaseCollector

_database = CollectorRegistry(auto_describe=False)
_database.register(DatabaseCollector())
_database.register(EdgeCollector())


def _allowed(request: HttpRequest) -> bool:
    """With METRICS_TOKEN: that bearer token; without: requests from this host only."""
    if settings.METRICS_TOKEN:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {settings.METRICS_TOKEN}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(
            "Forbidden: set METRICS_TOKEN and send it as a bearer token\n", status=403, content_type="text/plain"
        )
    body = generate_latest(scrape_registry()) + generate_latest(_database)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _tcp(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=2):
            return "ok"
    except OSError as exc:
        return type(exc).__name__


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, the broker is reachable, the gateway listens (TCP)."""
    from mwl_ris.celery import app

    found: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        found["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        found["database"] = type(exc).__name__
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        found["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        found["broker"] = type(exc).__name__
    port = settings.MWL_TLS_PORT if settings.MWL_TLS_ONLY else settings.MWL_PORT
    found["gateway"] = _tcp(settings.MWL_CHECK_HOST, port)
    ready = all(v == "ok" for v in found.values())
    return JsonResponse({"status": "ok" if ready else "error", **found}, status=200 if ready else 503)
