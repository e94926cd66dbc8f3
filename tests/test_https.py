"""The web app behind a TLS reverse proxy: with the documented production
variables `manage.py check --deploy` is clean, plain HTTP is redirected
(except the health probe), and the cookies and HSTS header are the secure ones."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[1]
# docs/security.md "Running behind HTTPS" and README's configuration table list these.
PRODUCTION = {
    "DJANGO_HTTPS": "true",
    "DJANGO_HSTS_PRELOAD": "true",
    "DJANGO_ALLOWED_HOSTS": "ris.hospital.go.tz",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://ris.hospital.go.tz",
    "DJANGO_REQUIRE_SECRET_KEY": "true",
}


def check_deploy(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **extra}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_variables() -> None:
    run = check_deploy(PRODUCTION)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_check_deploy_names_what_is_missing_without_them() -> None:
    run = check_deploy({})
    assert run.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in run.stderr  # HSTS, SSL redirect, session cookie, CSRF cookie


HTTPS_ON = dict(
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    SECURE_SSL_REDIRECT=True,
    SESSION_COOKIE_SECURE=True,
    CSRF_COOKIE_SECURE=True,
    SECURE_HSTS_SECONDS=31536000,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
)


@pytest.mark.django_db
@override_settings(**HTTPS_ON)
def test_plain_http_is_redirected_but_the_health_probe_is_not() -> None:
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 301
    assert page["Location"] == "https://testserver/accounts/login/"
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
@override_settings(**HTTPS_ON)
def test_through_the_proxy_the_cookies_are_secure_and_hsts_is_sent() -> None:
    User.objects.create_user(username="neema", password="Kibo-2026-summit")
    client = Client(HTTP_X_FORWARDED_PROTO="https")
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert page.cookies["csrftoken"]["secure"]
    signed_in = client.post(
        "/accounts/login/",
        {"username": "neema", "password": "Kibo-2026-summit", "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
    )
    assert signed_in.status_code == 302
    assert signed_in.cookies["sessionid"]["secure"]
    assert signed_in.cookies["sessionid"]["httponly"]
