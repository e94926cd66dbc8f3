from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = _("Stations and appointments")

    def ready(self) -> None:
        from orders.lifecycle import Stage, subscribe
        from scheduling import receivers  # noqa: F401  (connects the signal receivers)
        from scheduling.transitions import appointment_follows_exam, no_show_not_before_start

        subscribe(Stage.CHECK, no_show_not_before_start)
        subscribe(Stage.SLOT, appointment_follows_exam)
