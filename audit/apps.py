from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """The tamper-evident audit trail: who did what, when, from where."""

    name = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from audit import logins

        logins.connect()
