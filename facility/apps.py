from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FacilityConfig(AppConfig):
    name = "facility"
    verbose_name = _("The facility")
