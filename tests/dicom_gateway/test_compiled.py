"""compiled.py runs a worklist query through Django's compiler internals
(accel path); the public path runs the same queryset through the ORM. Both
must give the same rows, and the shortcut must notice a Django upgrade."""

from __future__ import annotations

import datetime as dt

import django
import pytest

from dicom_gateway import compiled
from dicom_gateway.compiled import CompiledQuery
from dicom_gateway.encoding import COLUMNS, ProfileSettings
from dicom_gateway.find import PLAN_CACHE, FindOutcome, _plan, find_worklist, find_worklist_preencoded
from tests.dicom_gateway.conftest import Worklist, mwl_query
from worklist.models import WorklistItem

DAY_LIST = {"ScheduledStationAETitle": "CT_ROOM3", "ScheduledProcedureStepStartDate": "20261201"}


def test_the_compiler_shortcut_is_used_only_with_the_django_it_was_written_for() -> None:
    # Fails on a Django upgrade: re-read compiled.py against the new
    # django/db/models/sql/compiler.py, run this file, then move TESTED_DJANGO.
    assert compiled.available(), (
        f"Django {django.get_version()} is not the tested {compiled.TESTED_DJANGO}: check compiled.py"
    )


@pytest.mark.parametrize(
    "filters",
    [
        {"station_ae_title": "CT_ROOM3"},
        {"sps_start_date__gte": dt.date(2026, 12, 2)},  # a date column: SQLite needs the converter
        {"patient_name__istartswith": "mwa"},
        {"pk__in": []},  # Django's EmptyResultSet: no SQL at all
    ],
    ids=["station", "date", "name", "nothing"],
)
def test_compiled_and_public_runs_give_the_same_rows(worklist: Worklist, filters: dict[str, object]) -> None:
    queryset = WorklistItem.objects.filter(**filters).order_by("sps_start", "pk").values(*COLUMNS)
    public = list(queryset.all())
    fast = CompiledQuery.of(queryset).rows()
    assert fast == public
    assert all(isinstance(row["sps_start_date"], dt.date) for row in fast)
    if filters != {"pk__in": []}:
        assert public, "the filter should match some of the test worklist"


def test_a_plan_is_compiled_only_on_the_accel_path(worklist: Worklist) -> None:
    PLAN_CACHE.clear()
    args = dict(calling_ae="CT_ROOM3", profile=ProfileSettings(), station_known=True, request_key=("q", "ts"))
    public = _plan(mwl_query(DAY_LIST), precompile=False, **args)  # type: ignore[arg-type]
    fast = _plan(mwl_query(DAY_LIST), precompile=True, **args)  # type: ignore[arg-type]
    assert public.compiled is None
    assert fast.compiled is not None
    assert public is not _plan(mwl_query(DAY_LIST), precompile=True, **args)  # type: ignore[arg-type]
    rows = public.rows()
    assert rows
    assert rows == fast.rows()

    answers = []
    for find in (find_worklist, find_worklist_preencoded):
        outcome = FindOutcome()
        list(
            find(
                mwl_query(DAY_LIST),
                calling_ae="CT_ROOM3",
                profile=ProfileSettings(),
                station_known=True,
                outcome=outcome,
            )
        )
        answers.append((outcome.matches, outcome.status))
    assert answers[0] == answers[1] == (len(rows), 0)
    PLAN_CACHE.clear()
