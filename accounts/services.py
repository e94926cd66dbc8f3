"""API tokens for the systems and scripts that use the REST API.

One token per user (Django REST framework's authtoken): a HIS gets its own user
with the role it needs and a token issued here. Issuing again replaces the old
key at once (a leaked key is dead the moment a new one is issued).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import TYPE_CHECKING

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import ApiTokenUse
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


# A busy client (the HIS polling every second) writes its token's row once a minute, not on every request.
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=1)


def api_token_use_record(*, token: Token, address: str) -> None:
    """Note that ``token`` was just used from ``address``; at most one write a
    minute per token. Not audited itself (a read would flood the trail); what
    the token's user changes through the API is."""
    now = timezone.now()
    try:
        ip: str | None = str(ipaddress.ip_address(address))
    except ValueError:
        ip = None
    updated = ApiTokenUse.objects.filter(token=token, last_used_at__lt=now - TOKEN_USE_RESOLUTION).update(
        last_used_at=now, last_address=ip, uses=F("uses") + 1
    )
    if not updated:
        ApiTokenUse.objects.get_or_create(token=token, defaults={"last_used_at": now, "last_address": ip, "uses": 1})


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
