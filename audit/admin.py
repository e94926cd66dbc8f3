from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from audit.models import AuditExport, AuditRecord, Verification
from audit.services import audit_record, audit_stored


class AuditedAdmin(admin.ModelAdmin[Any]):
    """Django admin writes rows without the RIS's services: this records each
    save and delete in the same transaction, as a service would. Admins whose
    save goes through a service (which records it) override save_model."""

    def audit_patient_id(self, obj: Any) -> str:
        """The Patient ID the row concerns, for searching the trail (override per model)."""
        return ""

    def _save_audited(self, obj: Any, save: Any) -> None:
        before = audit_stored(obj)
        save()
        action = "update" if before is not None else "create"
        audit_record(action, instance=obj, before=before, patient_id=self.audit_patient_id(obj))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            self._save_audited(obj, lambda: super(AuditedAdmin, self).save_model(request, obj, form, change))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record("delete", instance=obj, patient_id=self.audit_patient_id(obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows (a patient's identifiers, a station's hours) are recorded one by one."""
        with transaction.atomic():
            instances = formset.save(commit=False)
            for obj in formset.deleted_objects:
                audit_record("delete", instance=obj, patient_id=self.audit_patient_id(obj))
                obj.delete()
            for obj in instances:
                self._save_audited(obj, obj.save)
            formset.save_m2m()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Many-to-many changes (a user's groups, that is their roles) are recorded too."""
        obj: Model = form.instance
        names = [f.name for f in obj._meta.many_to_many]
        before = {name: sorted(str(o) for o in getattr(obj, name).all()) for name in names} if change else {}
        super().save_related(request, form, formsets, change)
        after = {name: sorted(str(o) for o in getattr(obj, name).all()) for name in names}
        changed = [name for name in names if before.get(name, []) != after[name]]
        if changed:
            audit_record(
                "update",
                instance=obj,
                before={name: before.get(name, []) for name in changed},
                after={name: after[name] for name in changed},
                patient_id=self.audit_patient_id(obj),
            )


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
