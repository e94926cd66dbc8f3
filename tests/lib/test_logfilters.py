"""A 403 is logged in one line, without a traceback; a 500 keeps its traceback."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mwl_ris.lib.logfilters import RefusalWithoutTraceback


@pytest.mark.django_db
def test_a_refused_page_is_logged_without_a_traceback(technologist: User, caplog: pytest.LogCaptureFixture) -> None:
    client = Client()
    client.force_login(technologist)
    caplog.handler.addFilter(RefusalWithoutTraceback())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/patients/new/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert "Forbidden" in record.getMessage()
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_other_errors_keep_their_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, "", 0, "Internal Server Error", (), sys.exc_info())
    record.status_code = 500
    assert RefusalWithoutTraceback().filter(record)
    assert record.exc_info is not None
