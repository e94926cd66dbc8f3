from __future__ import annotations

from django.contrib import admin

from audit.admin import AuditedAdmin
from dicom_gateway.models import AssociationRecord, CapturedQuery, PerformedProcedureStep, Profile


@admin.register(Profile)
class ProfileAdmin(AuditedAdmin):
    list_display = [
        "name",
        "charset",
        "name_format",
        "name_max_length",
        "max_results",
        "use_calling_ae_as_station",
        "pending_status_for_unsupported_keys",
    ]


@admin.register(CapturedQuery)
class CapturedQueryAdmin(admin.ModelAdmin[CapturedQuery]):
    list_display = ["received_at", "calling_ae_title", "peer", "matches", "status", "duration_ms"]
    list_filter = ["calling_ae_title"]
    readonly_fields = [f.name for f in CapturedQuery._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(AssociationRecord)
class AssociationRecordAdmin(admin.ModelAdmin[AssociationRecord]):
    list_display = ["at", "calling_ae_title", "called_ae_title", "peer", "outcome", "reason"]
    list_filter = ["outcome", "calling_ae_title"]
    readonly_fields = [f.name for f in AssociationRecord._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(PerformedProcedureStep)
class PerformedProcedureStepAdmin(AuditedAdmin):
    list_display = ["created_at", "calling_ae_title", "pps_id", "status", "accession_number", "order", "stale"]
    list_filter = ["status", "stale", "calling_ae_title"]
    search_fields = ["accession_number", "patient_id_value", "sop_instance_uid", "pps_id"]
    readonly_fields = [f.name for f in PerformedProcedureStep._meta.fields if f.name not in ("order", "stale")]
    raw_id_fields = ["order"]

    def audit_patient_id(self, obj: PerformedProcedureStep) -> str:
        return obj.patient_id_value
