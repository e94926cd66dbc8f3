from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DicomGatewayConfig(AppConfig):
    name = "dicom_gateway"
    verbose_name = _("DICOM gateway")
