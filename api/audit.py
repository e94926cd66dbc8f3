"""The audit trail over the API: read-only, for admins (the view_audit action)."""

from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import BasePermission

from accounts.roles import Action, user_can
from audit.models import AuditRecord
from audit.services import HASHED_FIELDS


class CanViewAudit(BasePermission):
    message = "Only admins may read the audit trail."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and user_can(request.user, Action.VIEW_AUDIT))


class AuditRecordSerializer(serializers.ModelSerializer[AuditRecord]):
    class Meta:
        model = AuditRecord
        fields = ["id", "seq", *HASHED_FIELDS, "prev_hash", "hash"]
        read_only_fields = fields


class AuditFilter(django_filters.FilterSet):
    at_from = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    at_until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditRecord
        fields = ["patient_id", "actor", "ae_title", "action", "interface", "object_type", "object_id"]


class AuditRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AuditRecord]):
    """The tamper-evident audit trail, newest first (admins only). Each record carries its place in the
    hash chain (`seq`, `prev_hash`, `hash`; empty for a few seconds until sealed)."""

    serializer_class = AuditRecordSerializer
    queryset = AuditRecord.objects.order_by("-at", "-pk")
    filterset_class = AuditFilter
    permission_classes = [CanViewAudit]
