"""API tokens, issued and revoked by an admin (not only in Django's admin site)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from accounts.roles import Action, user_roles
from accounts.services import api_token_issue, api_token_revoke
from ui.permissions import requires


@requires(Action.MANAGE_API_TOKENS)
def api_tokens(request: HttpRequest) -> HttpResponse:
    tokens = {t.user_id: t for t in Token.objects.select_related("use")}
    uses = {t.user_id: getattr(t, "use", None) for t in tokens.values()}
    users = [
        {
            "user": u,
            "roles": sorted(r.value for r in user_roles(u)),
            "token": tokens.get(u.pk),
            "use": uses.get(u.pk),
        }
        for u in User.objects.filter(is_active=True).order_by("username")
    ]
    issued = request.session.pop("issued_token", None)  # shown once, right after issuing
    return render(request, "ui/tokens/list.html", {"users": users, "issued": issued})


@requires(Action.MANAGE_API_TOKENS)
def api_token_issue_view(request: HttpRequest, user_pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_pk, is_active=True)
    if request.method == "POST":
        token = api_token_issue(user=user, actor=request.user)
        request.session["issued_token"] = {"username": user.username, "key": token.key}
    return redirect("ui:api-tokens")


@requires(Action.MANAGE_API_TOKENS)
def api_token_revoke_view(request: HttpRequest, user_pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_pk)
    if request.method == "POST" and api_token_revoke(user=user, actor=request.user):
        messages.success(request, _("The API token of %(user)s was revoked.") % {"user": user.username})
    return redirect("ui:api-tokens")
