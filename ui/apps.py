from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UiConfig(AppConfig):
    """The scheduler's and technologist's web pages (server-rendered, htmx)."""

    name = "ui"
    verbose_name = _("Web interface")
