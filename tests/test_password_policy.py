"""The staff password policy: where a password is set (the password-change
page here), a short, common or all-digit one is refused with every
reason at once, and a good one is taken."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

OLD = "x-test-password"  # tests/conftest.py's users


def change(client: Client, new: str) -> tuple[int, str]:
    response = client.post(
        "/accounts/password_change/", {"old_password": OLD, "new_password1": new, "new_password2": new}
    )
    return response.status_code, response.content.decode()


def test_weak_passwords_are_refused_with_every_reason(scheduler: User) -> None:
    client = Client()
    client.force_login(scheduler)
    status, page = change(client, "20261201")  # 8 digits: short, common-looking, numeric
    assert status == 200
    assert "at least 12 characters" in page
    assert "entirely numeric" in page
    status, page = change(client, "Kili-2026-x")  # 11 characters
    assert "at least 12 characters" in page
    status, page = change(client, "password1234")
    assert "too common" in page
    scheduler.refresh_from_db()
    assert scheduler.check_password(OLD)


def test_a_long_unusual_password_is_taken(scheduler: User) -> None:
    client = Client()
    client.force_login(scheduler)
    status, _page = change(client, "Kilimanjaro-asubuhi-2026")
    assert status == 302
    scheduler.refresh_from_db()
    assert scheduler.check_password("Kilimanjaro-asubuhi-2026")
