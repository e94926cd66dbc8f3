"""Who is acting, for the audit trail, without passing it through every call:
the web and API middleware, the HL7 listener, the DICOM gateway and the Celery
tasks each say who they act for; services just record what they did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from audit.models import Interface


@dataclass(frozen=True)
class Actor:
    interface: str = Interface.SYSTEM
    actor: str = ""
    role: str = ""
    ip: str = ""
    request: Any = None  # a Django request: its user is read when a record is written (DRF authenticates late)


SYSTEM = Actor()  # frozen: safe to share as the default
_current: ContextVar[Actor] = ContextVar("audit_actor", default=SYSTEM)


def current_actor() -> Actor:
    actor = _current.get()
    if actor.request is None:
        return actor
    user = getattr(actor.request, "user", None)
    if user is None or not user.is_authenticated:
        return actor
    from accounts.roles import user_roles

    return replace(actor, actor=user.get_username(), role=",".join(sorted(r.value for r in user_roles(user))))


@contextmanager
def acting_as(interface: str, actor: str = "", *, role: str = "", ip: str = "", request: Any = None) -> Iterator[Actor]:
    token = _current.set(Actor(interface=interface, actor=actor, role=role, ip=ip, request=request))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
