"""REST API plumbing: pagination and the one exception handler that turns
application errors into JSON."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import status
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import exception_handler as drf_exception_handler

from audit.services import audit_record, audit_stored
from mwl_ris.lib.errors import ApplicationError
from mwl_ris.lib.validation import FieldErrors


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """ApplicationError -> its status with ``{"code", "detail", ...extra}``;
    field errors -> 400 ``{"field": ["message"]}`` like DRF's own validation."""
    if isinstance(exc, FieldErrors):
        return Response(exc.fields, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "detail": exc.message, **exc.extra}
        return Response(body, status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        data = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(data, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


class StrictQueryParameters(BaseFilterBackend):
    """A list asked with a query parameter it does not know answers 400 naming
    it, instead of silently ignoring it: ``?modaliy=CT`` (a typo) must not return
    every order as if it had been understood. Knows the view's filters, ordering,
    pagination, ``format`` and the view's own ``extra_query_params``."""

    ALWAYS = frozenset({"page", "page_size", "format", "ordering"})

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        if getattr(view, "action", None) != "list":
            return queryset
        known = set(self.ALWAYS) | set(getattr(view, "extra_query_params", ()))
        filterset_class = DjangoFilterBackend().get_filterset_class(view, queryset)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise DRFValidationError(
                {
                    "unknown_parameters": [
                        f"{name!r} is not a filter of this list; known: {', '.join(sorted(known))}." for name in unknown
                    ]
                }
            )
        return queryset


class AuditedWrites:
    """For a ModelViewSet of plain configuration rows that has no service of its
    own (HL7 code map, destinations): each create, update and delete writes its
    audit record in the same transaction, as a service would."""

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        with transaction.atomic():
            instance = serializer.save()
            audit_record("create", instance=instance)

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        with transaction.atomic():
            assert serializer.instance is not None
            before = audit_stored(serializer.instance)
            instance = serializer.save()
            audit_record("update", instance=instance, before=before)

    def perform_destroy(self, instance: Model) -> None:
        with transaction.atomic():
            audit_record("delete", instance=instance)
            instance.delete()
