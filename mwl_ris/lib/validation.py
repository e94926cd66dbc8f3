"""Model validation that raises the application's error with field messages."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import models

from mwl_ris.lib.errors import ApplicationError


class FieldErrors(ApplicationError):
    """400 with one list of messages per field."""

    code = "invalid"

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("Some values are not valid.", extra={"fields": fields})
        self.fields = fields


def full_clean_or_raise(instance: models.Model, *, exclude: Iterable[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=list(exclude) if exclude else None)
    except ValidationError as exc:
        raise FieldErrors({k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from exc


def refuse_unknown(fields: Mapping[str, object], allowed: Collection[str], *, what: str) -> None:
    """One behaviour for every service that takes fields by name: a name it does
    not know (a misspelt field) is refused, never silently dropped."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ApplicationError(
            f"Unknown {what} fields: {', '.join(sorted(unknown))}.",
            code="unknown_fields",
            extra={"unknown": sorted(unknown)},
        )
