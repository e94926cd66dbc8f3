"""The REST API's token sign-in, recording each token's last use."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from accounts.services import api_token_use_record


class RecordingTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication; a successful sign-in also records when and
    from which address the token was used (for the admin's API tokens page)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            api_token_use_record(token=result[1], address=request.META.get("REMOTE_ADDR", ""))
        return result
