"""The core of the gateway: one C-FIND identifier in, responses out.
A generator testable without a socket (find_handler.FindHandler is the thin wrapper
that pynetdicom calls)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q, QuerySet
from pydicom.dataset import Dataset

from dicom_gateway import status
from dicom_gateway.compiled import CompiledQuery
from dicom_gateway.compiled import available as compiled_available
from dicom_gateway.encoding import (
    COLUMNS,
    PreEncodedResponse,
    ProfileSettings,
    build_preencoded_response,
    build_response,
)
from dicom_gateway.matching import InvalidIdentifier, ParsedQuery, parse_identifier
from edge.services import served_filter
from mwl_ris.lib.cache import LruCache
from mwl_ris.lib.db import deadline
from worklist.models import SERVED_STATUSES, WorklistItem

logger = logging.getLogger(__name__)

Response = tuple[int | Dataset, Dataset | None]
PreEncodedReply = tuple[int | Dataset, PreEncodedResponse | None]
QUERY_CANCELED = "57014"  # SQLSTATE of a statement ended by statement_timeout


class ResponseCache(LruCache[tuple[Any, ...], Dataset | PreEncodedResponse]):
    """Responses already built, keyed by the item's row version (pk and
    updated_at), the shape of the query (which keys, which unsupported ones)
    and the station profile. Modalities poll the same day list all day: an
    unchanged item asked for in the same way is built and encoded once. Any
    change to the item changes updated_at, hence the key."""


def _response_weight(key: tuple[Any, ...], response: Dataset | PreEncodedResponse) -> int:
    """Roughly what a cached response holds: its encodings (once sent) and
    its elements as Python objects (~200 bytes each)."""
    encodings = response.__dict__.get("_encodings", {})
    return 1024 + 200 * len(response) + sum(len(data) for data in encodings.values())


RESPONSE_CACHE = ResponseCache(
    settings.MWL_RESPONSE_CACHE_SIZE, max_bytes=settings.MWL_RESPONSE_CACHE_BYTES, weigh=_response_weight
)


@dataclass(frozen=True)
class QueryPlan:
    """One C-FIND identifier parsed and its query built, ready to run again. A
    modality sends the same day-list query all day; decoding the identifier,
    parsing it and building the ORM query cost several times more than running
    the SQL (measured: ~1.5 ms against 0.45 ms). On the accel path the query is
    also compiled once (compiled.py, Django internals behind ``MWL_ACCEL``);
    otherwise the queryset runs through Django's public API each time."""

    parsed: ParsedQuery
    queryset: QuerySet[Any, dict[str, Any]]
    compiled: CompiledQuery | None

    @classmethod
    def build(cls, parsed: ParsedQuery, queryset: QuerySet[Any, dict[str, Any]], *, precompile: bool) -> QueryPlan:
        return cls(parsed, queryset, CompiledQuery.of(queryset) if precompile else None)

    def rows(self) -> list[dict[str, Any]]:
        if self.compiled is not None:
            return self.compiled.rows()
        return list(self.queryset.all())  # .all(): a fresh copy, never the first run's result cache

    @property
    def sql_length(self) -> int:
        return len(self.compiled.sql or "") if self.compiled is not None else 0


class PlanCache(LruCache[Hashable, "QueryPlan"]):
    """QueryPlans by the exact request (identifier bytes, transfer syntax) and
    everything else that shapes the query (calling AE, whether it is a known
    station, its profile)."""


def _plan_weight(key: Hashable, plan: QueryPlan) -> int:
    """Roughly what a plan holds: the request's bytes, the SQL and the
    compiled query behind it (an estimate: 40 KiB for the compiler's objects)."""
    request = key[0] if isinstance(key, tuple) and key else None
    request_bytes = len(request[0]) if isinstance(request, tuple) and isinstance(request[0], bytes) else 0
    return 40 * 1024 + request_bytes + 2 * plan.sql_length


PLAN_CACHE = PlanCache(settings.MWL_PLAN_CACHE_SIZE, max_bytes=settings.MWL_PLAN_CACHE_BYTES, weigh=_plan_weight)


@dataclass
class FindOutcome:
    """Filled in while the generator runs; read by the handler for the log line."""

    matches: int = 0
    status: int = status.SUCCESS
    summary: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    comment: str = ""


def failure(code: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]  # LO
    return ds


def worklist_queryset(parsed: ParsedQuery, *, calling_ae: str, station_known: bool, profile: ProfileSettings) -> Q:
    """The full filter of one query: what was asked, limited to served items,
    and to the calling station when the query names none and the profile says so."""
    filters = parsed.filters & Q(sps_status__in=SERVED_STATUSES) & served_filter()
    if not parsed.station_ae_given and profile.use_calling_ae_as_station and station_known:
        filters &= Q(station_ae_title=calling_ae)
    return filters


def _plan(
    identifier: Dataset | Callable[[], Dataset],
    *,
    calling_ae: str,
    profile: ProfileSettings,
    station_known: bool,
    request_key: Hashable | None,
    precompile: bool,
) -> QueryPlan:
    """The query plan of this request, from PLAN_CACHE when the same request
    was planned before. Raises InvalidIdentifier (and whatever decoding
    raises) for an identifier that is not a worklist query."""
    key = (request_key, calling_ae, station_known, profile, precompile) if request_key is not None else None
    plan = PLAN_CACHE.get(key) if key is not None else None
    if plan is not None:
        return plan
    dataset = identifier() if callable(identifier) else identifier
    parsed = parse_identifier(dataset, facility_tz=ZoneInfo(settings.TIME_ZONE))
    filters = worklist_queryset(parsed, calling_ae=calling_ae, station_known=station_known, profile=profile)
    queryset = WorklistItem.objects.filter(filters).order_by("sps_start", "pk").values(*COLUMNS)
    limit = profile.max_results
    plan = QueryPlan.build(parsed, queryset[: limit + 1] if limit else queryset, precompile=precompile)
    if key is not None:
        PLAN_CACHE.put(key, plan)
    return plan


def find_worklist(
    identifier: Dataset | Callable[[], Dataset],
    *,
    calling_ae: str,
    profile: ProfileSettings,
    station_known: bool,
    is_cancelled: Callable[[], bool] = lambda: False,
    outcome: FindOutcome | None = None,
    request_key: Hashable | None = None,
) -> Iterator[Response]:
    """Responses to one C-FIND. ``identifier`` may be a callable that decodes
    it: with ``request_key`` (the identifier's bytes and transfer syntax) a
    request planned before is neither decoded nor parsed again."""
    return cast(
        Iterator[Response],
        _responses(
            identifier, calling_ae, profile, station_known, is_cancelled, outcome, request_key, preencoded=False
        ),
    )


def find_worklist_preencoded(
    identifier: Dataset | Callable[[], Dataset],
    *,
    calling_ae: str,
    profile: ProfileSettings,
    station_known: bool,
    is_cancelled: Callable[[], bool] = lambda: False,
    outcome: FindOutcome | None = None,
    request_key: Hashable | None = None,
) -> Iterator[PreEncodedReply]:
    """The same responses for the accel path: PreEncodedResponses, encoded
    without pydicom objects when pynetdicom sends them (fastencode.py)."""
    return cast(
        Iterator[PreEncodedReply],
        _responses(identifier, calling_ae, profile, station_known, is_cancelled, outcome, request_key, preencoded=True),
    )


def _responses(
    identifier: Dataset | Callable[[], Dataset],
    calling_ae: str,
    profile: ProfileSettings,
    station_known: bool,
    is_cancelled: Callable[[], bool],
    outcome: FindOutcome | None,
    request_key: Hashable | None,
    *,
    preencoded: bool,
) -> Iterator[tuple[int | Dataset, Any]]:
    build = build_preencoded_response if preencoded else build_response
    outcome = outcome or FindOutcome()
    limit = profile.max_results
    try:
        try:
            plan = _plan(
                identifier,
                calling_ae=calling_ae,
                profile=profile,
                station_known=station_known,
                request_key=request_key,
                precompile=preencoded and compiled_available(),
            )
        except (InvalidIdentifier, ValueError, TypeError, KeyError, AttributeError) as exc:
            outcome.status, outcome.comment = status.IDENTIFIER_INVALID, str(exc)
            yield failure(status.IDENTIFIER_INVALID, str(exc)), None
            return
        parsed = plan.parsed
        outcome.summary = parsed.summary
        # One indexed query; all rows loaded before the first response, so no
        # transaction or cursor stays open while we send. Bounded: PostgreSQL's
        # statement_timeout for a slow query, the deadline for a server that
        # does not answer at all.
        connection.ensure_connection()
        with deadline(settings.MWL_DB_DEADLINE):
            rows = plan.rows()
    except DatabaseError as exc:
        timed_out = getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED
        logger.exception("worklist query %s for %s", "timed out" if timed_out else "failed", calling_ae)
        connection.close()  # the next query reconnects as soon as the database is back
        outcome.status, outcome.comment = status.UNABLE_TO_PROCESS, type(exc.__cause__ or exc).__name__
        comment = (
            f"Worklist query took longer than {settings.MWL_DB_STATEMENT_TIMEOUT_MS} ms; narrow it"
            if timed_out
            else "Worklist database unavailable; try again shortly"
        )
        yield failure(status.UNABLE_TO_PROCESS, comment), None
        return
    if limit and len(rows) > limit:
        outcome.status = status.OUT_OF_RESOURCES
        outcome.comment = f"more than {limit} matches"
        yield (
            failure(
                status.OUT_OF_RESOURCES,
                f"More than {limit} matches for this station; narrow the query (date, station)",
            ),
            None,
        )
        return
    # 0xFF01: some keys are outside the model (returned empty); a profile may
    # ask for 0xFF00 for a client that stops reading at 0xFF01.
    warn = parsed.unsupported and not profile.pending_status_for_unsupported_keys
    pending = status.PENDING_WARNING if warn else status.PENDING
    shape = (
        preencoded,
        tuple(parsed.top_keys),
        tuple(parsed.sps_keys) if parsed.sps_keys is not None else None,
        tuple(parsed.unsupported),
        profile,
    )
    for row in rows:
        if is_cancelled():
            outcome.status = status.CANCELLED
            yield status.CANCELLED, None
            return
        try:
            response = RESPONSE_CACHE.get_or_build(
                (row["pk"], row["updated_at"], *shape),
                partial(build, row, parsed, profile),
            )
        except Exception:
            logger.exception("worklist item %s could not be encoded; skipped", row.get("pk"))
            outcome.skipped += 1
            continue
        outcome.matches += 1
        yield pending, response
    outcome.status = status.SUCCESS
