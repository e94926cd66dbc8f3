"""DRF permission: safe methods need an authenticated user; unsafe methods
need the action the view declares (``required_actions`` per DRF action name,
or ``write_action`` for all writes)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.roles import Action, user_can


class RolePermission(BasePermission):
    message = "Your role does not allow this action."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return user_can(request.user, Action.READ)
        view_action = getattr(view, "action", None)
        if view_action is None:  # no handler for this method: let the view answer 405
            return True
        actions: dict[str, Action] = getattr(view, "required_actions", {})
        action = actions.get(view_action, getattr(view, "write_action", None))
        if action is None:
            return False
        return user_can(request.user, action)
