from __future__ import annotations

from django.contrib import admin

from audit.admin import AuditedAdmin
from patients.models import Patient, PatientIdentifier, PatientMerge


class IdentifierInline(admin.TabularInline[PatientIdentifier, Patient]):
    model = PatientIdentifier
    extra = 0


@admin.register(Patient)
class PatientAdmin(AuditedAdmin):
    list_display = ["patient_id", "issuer", "family_name", "given_name", "birth_date", "sex", "phone", "merged_into"]
    search_fields = ["patient_id", "name_search", "phone", "identifiers__value"]
    list_filter = ["sex"]
    inlines = [IdentifierInline]
    readonly_fields = ["merged_into", "created_at", "updated_at"]

    def audit_patient_id(self, obj: Patient | PatientIdentifier) -> str:
        return obj.patient_id if isinstance(obj, Patient) else obj.patient.patient_id


@admin.register(PatientMerge)
class PatientMergeAdmin(admin.ModelAdmin[PatientMerge]):
    list_display = ["merged_at", "source_patient_id", "target", "orders_moved", "merged_by", "merged_via"]
    readonly_fields = [f.name for f in PatientMerge._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
