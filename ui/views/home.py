from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.roles import Action, Role, user_can, user_roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands where its day starts: technologists on the day list,
    schedulers on the queue of orders to book, everyone else on the dashboard."""
    roles = user_roles(request.user)
    if roles == {Role.TECHNOLOGIST}:
        return redirect("ui:daylist")
    if user_can(request.user, Action.BOOK) and Role.ADMIN not in roles:
        return redirect("ui:order-queue")
    return redirect("ui:dashboard")
