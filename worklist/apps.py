from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorklistConfig(AppConfig):
    name = "worklist"
    verbose_name = _("Modality worklist")

    def ready(self) -> None:
        from orders.lifecycle import Stage, subscribe
        from worklist.services import worklist_follows_exam

        subscribe(Stage.PROJECTION, worklist_follows_exam)
