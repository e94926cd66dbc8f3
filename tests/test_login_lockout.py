"""Sign-in throttling (django-axes, mwl_ris/settings.py): wrong passwords lock
an account, even for the right password; another device and another account
are not locked with it; an admin unlocks it in the Django admin; the lock and
the unlock are in the audit trail."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from audit.models import AuditRecord

PASSWORD = "Kibo-2026-summit"


def sign_in(client: Client, username: str, password: str) -> int:
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token}
    )
    return response.status_code


@pytest.fixture
def staff(db: None) -> dict[str, User]:
    return {name: User.objects.create_user(name, password=PASSWORD) for name in ("neema", "baraka")}


def lock(client: Client, username: str) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert sign_in(client, username, "wrong-password") in (200, 429)


def test_wrong_passwords_lock_the_account_even_for_the_right_password(staff: dict[str, User]) -> None:
    ward = Client(REMOTE_ADDR="10.0.4.21", HTTP_USER_AGENT="ward-tablet")
    lock(ward, "neema")
    page = ward.post("/accounts/login/", {"username": "neema", "password": PASSWORD}, follow=False)
    assert page.status_code == 429
    assert "Sign-in locked" in page.content.decode()
    assert "_auth_user_id" not in ward.session
    # the account is locked from every device
    desk = Client(REMOTE_ADDR="10.0.9.7", HTTP_USER_AGENT="front-desk")
    assert sign_in(desk, "neema", PASSWORD) == 429
    # another account on another device signs in as before
    assert sign_in(desk, "baraka", PASSWORD) == 302
    # the lock, and each attempt it refused, is in the trail, with the address it came from
    locked = list(AuditRecord.objects.filter(action="login-locked").order_by("pk"))
    assert [(r.actor, r.ip) for r in locked] == [("neema", "10.0.4.21")] * 2 + [("neema", "10.0.9.7")]


def test_one_device_trying_many_accounts_is_locked_but_not_its_neighbours(staff: dict[str, User]) -> None:
    sprayer = Client(REMOTE_ADDR="10.0.4.99", HTTP_USER_AGENT="curl/8")
    for number in range(settings.AXES_FAILURE_LIMIT):
        sign_in(sprayer, f"guess{number}", "wrong-password")
    assert sign_in(sprayer, "baraka", PASSWORD) == 429
    # same ward address, another browser: not locked (a ward shares one NAT address)
    neighbour = Client(REMOTE_ADDR="10.0.4.99", HTTP_USER_AGENT="ward-tablet")
    assert sign_in(neighbour, "baraka", PASSWORD) == 302


def test_a_right_password_before_the_limit_resets_the_count(staff: dict[str, User]) -> None:
    client = Client(REMOTE_ADDR="10.0.4.21")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "neema", "wrong-password")
    assert sign_in(client, "neema", PASSWORD) == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "neema", "wrong-password")
    assert sign_in(client, "neema", PASSWORD) == 302


def test_an_admin_unlocks_the_account_in_the_django_admin(staff: dict[str, User], admin_user: User) -> None:
    ward = Client(REMOTE_ADDR="10.0.4.21")
    lock(ward, "neema")
    assert sign_in(ward, "neema", PASSWORD) == 429
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    it = Client()
    it.force_login(admin_user)
    attempt = AccessAttempt.objects.get(username="neema")
    listing = it.get("/admin/axes/accessattempt/")
    assert "neema" in listing.content.decode()
    assert it.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code == 302
    assert sign_in(ward, "neema", PASSWORD) == 302
    unlocked = AuditRecord.objects.get(action="delete", object_type="axes.AccessAttempt")
    assert unlocked.object_id == str(attempt.pk)
