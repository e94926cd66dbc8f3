from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.roles import Action, user_can, user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the navigation bar may offer this user (the views check again)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can": {action.value: user_can(user, action) for action in Action},
        "roles": sorted(role.value for role in user_roles(user)),
    }
