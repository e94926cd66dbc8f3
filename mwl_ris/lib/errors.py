"""The one application error type. Services raise these; the API exception
handler (api/common.py) and the UI map them to responses."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A domain rule refused the request. ``code`` is stable for clients."""

    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra: dict[str, Any] = extra or {}


class NotFound(ApplicationError):
    http_status = 404
    code = "not_found"


class Conflict(ApplicationError):
    """The request clashes with the current state (a taken slot, a duplicate)."""

    http_status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class PermissionRefused(ApplicationError):
    http_status = 403
    code = "permission_denied"
