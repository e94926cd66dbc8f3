from __future__ import annotations

from typing import Any

from django.contrib import admin

from orders.models import Order, Procedure
from orders.services import PROCEDURE_FIELDS, procedure_create, procedure_update


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin[Procedure]):
    list_display = ["code", "coding_scheme", "name", "modality", "default_duration_minutes", "body_part", "active"]
    list_filter = ["modality", "active"]
    search_fields = ["code", "name"]

    def save_model(self, request: Any, obj: Procedure, form: Any, change: bool) -> None:
        # Through the service: a renamed procedure is renamed on the worklist too.
        if change:
            procedure_update(procedure=obj)
        else:
            obj.pk = procedure_create(**{name: getattr(obj, name) for name in PROCEDURE_FIELDS}).pk
            obj._state.adding = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin[Order]):
    """Read-mostly: orders change through the RIS services (API/UI), which keep
    the worklist in step; editing them here would bypass that."""

    list_display = ["accession_number", "patient", "procedure", "priority", "status", "created_at"]
    list_filter = ["status", "priority", "procedure__modality"]
    search_fields = ["accession_number", "placer_order_number", "patient__patient_id", "patient__name_search"]
    readonly_fields = [f.name for f in Order._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
