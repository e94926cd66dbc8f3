"""API tokens for the systems and scripts that use the REST API.

One token per user (Django REST framework's authtoken): a HIS gets its own user
with the role it needs and a token issued here. Issuing again replaces the old
key at once (a leaked key is dead the moment a new one is issued).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import Group, User
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.roles import Role

if TYPE_CHECKING:
    from accounts.roles import UserLike
from audit.services import audit_record


@transaction.atomic
def api_token_issue(*, user: User, actor: UserLike | None = None) -> Token:
    replaced = Token.objects.filter(user=user).delete()[0] > 0
    token = Token.objects.create(user=user)
    audit_record(
        "create",
        object_type="authtoken.Token",
        object_id=user.pk,
        summary=f"API token {'re' if replaced else ''}issued for {user.username}",
        after={"user": user.username, "key_prefix": token.key[:6], "replaced": replaced},
    )
    return token


@transaction.atomic
def api_token_revoke(*, user: User, actor: UserLike | None = None) -> bool:
    deleted = Token.objects.filter(user=user).delete()[0] > 0
    if deleted:
        audit_record(
            "delete",
            object_type="authtoken.Token",
            object_id=user.pk,
            summary=f"API token revoked for {user.username}",
            before={"user": user.username},
        )
    return deleted


@transaction.atomic
def staff_user_ensure(*, username: str, role: Role, password: str) -> tuple[User, bool]:
    """A staff user with ``role`` (created with ``password`` if missing; an
    existing user keeps theirs). Returns the user and whether it was created."""
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role == Role.ADMIN})
    if created:
        user.set_password(password)
        user.is_superuser = role == Role.ADMIN
        user.save()
        audit_record("create", instance=user, summary=f"user {username} created")
    group = Group.objects.get(name=role.value)
    if not user.groups.filter(pk=group.pk).exists():
        user.groups.add(group)
        audit_record(
            "update", instance=user, summary=f"{username} given the {role.value} role", after={"role": role.value}
        )
    return user, created
