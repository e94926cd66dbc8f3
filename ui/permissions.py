"""Server-side role checks for the web pages: the same table (accounts.roles)
as the API. Every view is wrapped in ``requires``; there is no page without one."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from accounts.roles import Action, user_can

View = Callable[..., HttpResponseBase]


def requires(action: Action) -> Callable[[View], View]:
    """Log in first (redirect), then 403 unless the user's role allows ``action``."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not user_can(request.user, action):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator
