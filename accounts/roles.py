"""Roles are Django groups with these names; a superuser has every role.

What each role may do is decided here, in one table, and used by the API
permission class and (later) the UI views.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts, as services take it: a signed-in user (None is the system itself).
    UserLike: TypeAlias = AbstractBaseUser | AnonymousUser


class Role(StrEnum):
    SCHEDULER = "scheduler"
    TECHNOLOGIST = "technologist"
    RADIOLOGIST = "radiologist"
    ADMIN = "admin"


class Action(StrEnum):
    READ = "read"
    MANAGE_PATIENTS = "manage_patients"
    MANAGE_ORDERS = "manage_orders"
    BOOK = "book"  # book, reschedule, cancel appointments
    OVERRIDE_HOURS = "override_hours"  # book outside opening hours / in a closure
    EXAM_PROGRESS = "exam_progress"  # arrived, start, complete, no-show, discontinue
    MANAGE_CATALOGUE = "manage_catalogue"  # procedures and stations
    MERGE_PATIENTS = "merge_patients"
    VIEW_AUDIT = "view_audit"  # search and export the audit trail
    MANAGE_FACILITY = "manage_facility"  # the facility's name, address, phone and logo on the slips
    MANAGE_API_TOKENS = "manage_api_tokens"  # issue and revoke the REST API's tokens (HIS, scripts)
    VIEW_OPERATIONS = "view_operations"  # the set-up check and the SLA pages


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.SCHEDULER: frozenset(
        {Action.READ, Action.MANAGE_PATIENTS, Action.MANAGE_ORDERS, Action.BOOK, Action.EXAM_PROGRESS}
    ),
    Role.TECHNOLOGIST: frozenset({Action.READ, Action.EXAM_PROGRESS}),
    Role.RADIOLOGIST: frozenset({Action.READ}),
    Role.ADMIN: frozenset(Action),
}


def user_roles(user: Any) -> set[Role]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if user.is_superuser:
        return set(Role)
    cached = getattr(user, "_ris_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        user._ris_roles = cached
    return set(cached)


def user_can(user: Any, action: Action) -> bool:
    """Any authenticated user may read; everything else needs a role that allows it."""
    if action is Action.READ:
        return bool(getattr(user, "is_authenticated", False) and user.is_active)
    return any(action in ROLE_ACTIONS[role] for role in user_roles(user))


def stored_user(actor: UserLike | None) -> User | None:
    """The actor as a row a foreign key can point to (None for the system, an
    anonymous user or an unsaved one)."""
    from django.contrib.auth.models import User

    return actor if isinstance(actor, User) and actor.pk else None
