from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders and procedure catalogue")

    def ready(self) -> None:
        from orders import checks  # noqa: F401  (registers system checks)
