from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Hl7InterfaceConfig(AppConfig):
    name = "hl7_interface"
    verbose_name = _("HL7 interface")

    def ready(self) -> None:
        from hl7_interface.subscribers import status_to_placer
        from orders.lifecycle import Stage, subscribe

        subscribe(Stage.NOTIFY, status_to_placer)
