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
