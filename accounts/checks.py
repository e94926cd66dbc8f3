"""System checks for configuration mistakes, with hints."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if getattr(settings, "INSECURE_SECRET_KEY", False) and not settings.DEBUG:
        return [
            Warning(
                "DJANGO_SECRET_KEY is not set; the built-in quick-start key is in use.",
                hint="Set DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) before exposing this server.",
                id="ris.accounts.W001",
            )
        ]
    return []


@register()
def check_tls_certificates(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """The DICOM and HL7 TLS certificates: readable, and not expiring within 30 days."""
    from mwl_ris.lib import tls

    found: list[Warning] = []
    for name in ("MWL_TLS_CERT_FILE", "HL7_TLS_CERT_FILE"):
        path = getattr(settings, name, "")
        if not path:
            continue
        try:
            problem = tls.certificate_info(path).problem()
        except tls.TLSConfigError as exc:
            problem = str(exc)
        if problem:
            found.append(
                Warning(
                    f"{name}: {problem}.",
                    hint="Issue a new certificate from the site CA and restart the service (docs/security.md).",
                    id="ris.accounts.W002",
                )
            )
    return found
