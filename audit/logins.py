"""Sign-ins, sign-outs and failed sign-ins, from Django's auth signals (the one
write the RIS does not make through its own services)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.services import audit_record


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record("login", object_type="auth.User", object_id=user.pk, summary=f"{user.get_username()} logged in")


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record("logout", object_type="auth.User", object_id=user.pk, summary=f"{user.get_username()} logged out")


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record("login-failed", object_type="auth.User", actor=username, summary=f"failed login as {username!r}")


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
