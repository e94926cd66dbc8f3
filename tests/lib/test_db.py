"""mwl_ris/lib/db.py against the real PostgreSQL: the client-side deadline
and the per-process statement_timeout."""

from __future__ import annotations

import time

import pytest
from django.db import DatabaseError, connection

from mwl_ris.lib.db import deadline, set_statement_timeout

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the deadline and statement_timeout are PostgreSQL's")


def test_a_call_that_outlives_its_deadline_is_cut_off_and_the_next_one_reconnects() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor, deadline(0.2):  # in time: untouched
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    started = time.monotonic()
    with pytest.raises(DatabaseError), connection.cursor() as cursor, deadline(0.5):
        cursor.execute("SELECT pg_sleep(5)")  # the server would answer after 5 s
    assert time.monotonic() - started < 2
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)


def test_many_calls_in_time_leave_nothing_armed() -> None:
    from mwl_ris.lib import db

    connection.ensure_connection()
    for _ in range(200):
        with connection.cursor() as cursor, deadline(5):
            cursor.execute("SELECT 1")
    assert db._WATCHDOG._live == set()


def test_new_sessions_get_the_processs_statement_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    options = dict(connection.settings_dict.get("OPTIONS", {}))
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    set_statement_timeout(1234)
    set_statement_timeout(1500)  # set again: replaced, not appended
    connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone() == ("1500ms",)
        assert connection.settings_dict["OPTIONS"]["options"].count("statement_timeout") == 1
    finally:
        connection.close()
