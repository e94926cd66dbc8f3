"""Sign-ins, sign-outs, failed sign-ins and lockouts, from Django's auth signals
and django-axes's (writes the RIS does not make through its own services)."""

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


def _locked_out(
    sender: Any, request: Any, username: str | None = None, ip_address: str | None = None, **kw: Any
) -> None:
    """django-axes locked an account, or refused a sign-in while it is locked."""
    name = str(username or "")[:150]
    audit_record(
        "login-locked",
        object_type="auth.User",
        actor=name,
        summary=f"sign-in refused for {name!r}: locked after repeated wrong passwords",
        after={"username": name},
        ip=str(ip_address or getattr(request, "META", {}).get("REMOTE_ADDR", ""))[:64],
    )


def connect() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="audit-login-locked")
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit-logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")
