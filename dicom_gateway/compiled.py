"""A values() query compiled once and run again without Django compiling it
each time: the one place the gateway uses Django's query-compiler internals
(``get_compiler``, ``as_sql``, ``results_iter``), behind ``MWL_ACCEL``.

Why: a modality sends the same day-list query all day; compiling the ORM
query costs more than running its SQL (docs/performance.md). Django has no
public API to keep a compiled statement, so this keeps the compiler for its
column converters (none on PostgreSQL for these columns; SQLite's turn text
into dates) and runs the statement through the connection's cursor.

These are private to Django: they are used only with the Django series they
were written against (``TESTED_DJANGO``). With another, ``available()`` is
False and the plan runs the queryset through the public API; a test fails on
a Django upgrade until someone re-checks this file and moves the pin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import django
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

logger = logging.getLogger(__name__)
TESTED_DJANGO = (5, 2)


def available() -> bool:
    """Whether this Django is the series the shortcut was written for."""
    return tuple(django.VERSION[:2]) == TESTED_DJANGO


@dataclass(frozen=True)
class CompiledQuery:
    sql: str | None  # None: the filter can match nothing (Django's EmptyResultSet)
    params: tuple[Any, ...] | None
    names: tuple[str, ...]
    compiler: Any

    @classmethod
    def of(cls, queryset: QuerySet[Any, dict[str, Any]]) -> CompiledQuery:
        query = queryset.query
        compiler = query.get_compiler(queryset.db)
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return cls(None, None, names, compiler)
        if connection.vendor == "postgresql":
            # Quote the values in once (psycopg's own client-side quoting, which
            # Django uses anyway) instead of on every run.
            sql, params = connection.ops.compose_sql(sql, params), None  # type: ignore[attr-defined]
        return cls(sql, tuple(params) if params is not None else None, names, compiler)

    def rows(self) -> list[dict[str, Any]]:
        if self.sql is None:
            return []
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            fetched = cursor.fetchall()
        return [dict(zip(self.names, row, strict=True)) for row in self.compiler.results_iter(results=[fetched])]
