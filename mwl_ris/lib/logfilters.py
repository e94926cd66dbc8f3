"""Logging filters."""

from __future__ import annotations

import logging


class RefusalWithoutTraceback(logging.Filter):
    """A 403 (a user without the role, a CSRF refusal) is an expected answer, not
    a crash: Django logs it with the PermissionDenied traceback, which buries real
    errors in the log. Keep the one-line record (who, which path), drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
