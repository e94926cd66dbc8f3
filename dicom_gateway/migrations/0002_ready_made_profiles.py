"""Ready-made modality profiles for the common cases."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from dicom_gateway.services import profiles_install_ready_made


def create(apps: Any, schema_editor: Any) -> None:
    profiles_install_ready_made(apps.get_model("dicom_gateway", "Profile"))


class Migration(migrations.Migration):
    dependencies = [("dicom_gateway", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
