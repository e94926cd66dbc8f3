from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = _("Stations and appointments")

    def ready(self) -> None:
        from scheduling import receivers  # noqa: F401  (connects the signal receivers)
