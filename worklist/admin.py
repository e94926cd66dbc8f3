from __future__ import annotations

from django.contrib import admin

from worklist.models import WorklistItem


@admin.register(WorklistItem)
class WorklistItemAdmin(admin.ModelAdmin[WorklistItem]):
    """Read-only view of what modalities are served."""

    list_display = ["sps_start", "station_ae_title", "modality", "accession_number", "patient_id", "sps_status"]
    list_filter = ["sps_status", "modality", "station_ae_title"]
    search_fields = ["accession_number", "patient_id", "patient_name_search"]
    date_hierarchy = "sps_start"

    def get_readonly_fields(self, request: object, obj: object = None) -> list[str]:
        return [f.name for f in WorklistItem._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
