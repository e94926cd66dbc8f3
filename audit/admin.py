from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditExport, AuditRecord, Verification


class ReadOnly(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnly):
    list_display = ["at", "seq", "interface", "actor", "action", "object_type", "object_id", "patient_id", "summary"]
    list_filter = ["interface", "action"]
    search_fields = ["actor", "patient_id", "ae_title", "object_id", "summary"]
    date_hierarchy = "at"


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnly):
    list_display = ["day", "count", "first_seq", "last_seq", "path", "pruned_at"]


@admin.register(Verification)
class VerificationAdmin(ReadOnly):
    list_display = ["at", "ok", "checked", "first_broken_seq", "detail"]
