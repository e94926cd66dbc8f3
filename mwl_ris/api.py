"""REST API plumbing: pagination and the one exception handler that turns
application errors into JSON."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
