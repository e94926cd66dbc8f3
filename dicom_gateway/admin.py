from __future__ import annotations

from django.contrib import admin

from dicom_gateway.models import CapturedQuery, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin[Profile]):
    list_display = ["name", "charset", "name_format", "name_max_length", "max_results", "use_calling_ae_as_station"]


@admin.register(CapturedQuery)
class CapturedQueryAdmin(admin.ModelAdmin[CapturedQuery]):
    list_display = ["received_at", "calling_ae_title", "peer", "matches", "status", "duration_ms"]
    list_filter = ["calling_ae_title"]
    readonly_fields = [f.name for f in CapturedQuery._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
