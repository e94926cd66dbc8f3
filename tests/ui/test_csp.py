"""The Content-Security-Policy (django-csp): every page is sent with it, it
allows no inline script or style and no eval, and no page has anything the
policy would block (inline script, <style> without the nonce, on* handler or
style attribute). The browser tests (tests/ui/conftest.py) fail on any
violation the browser reports while htmx and the pages' scripts run."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, expect

from orders.models import Order
from scheduling.booking import appointment_book
from scheduling.models import Station
from tests.conftest import at

pytestmark = pytest.mark.django_db


class InlineContent(HTMLParser):
    """What a page has that a CSP without 'unsafe-inline' blocks."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, _value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...> (inline event handler)")
            if name == "style":
                self.found.append(f"<{tag} style=...> (inline style attribute)")
        if tag == "script" and not attributes.get("src"):
            kind = attributes.get("type") or ""
            if kind not in ("application/json", "application/ld+json") and attributes.get("nonce") != self.nonce:
                self.found.append("<script> without src (inline script)")
        if tag == "style" and (not self.nonce or attributes.get("nonce") != self.nonce):
            self.found.append("<style> without the nonce (inline style)")


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def nonce_of(policy: dict[str, list[str]]) -> str:
    for source in policy.get("style-src", []):
        match = re.fullmatch(r"'nonce-([^']+)'", source)
        if match:
            return match.group(1)
    return ""


@pytest.fixture
def staff_admin(admin_user: User) -> User:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    return admin_user


def test_every_page_has_the_policy_and_nothing_it_would_block(
    staff_admin: User, order: Order, ct_station: Station
) -> None:
    appointment = appointment_book(order=order, station=ct_station, starts_at=at(9))
    client = Client()
    pages = [
        reverse("login"),
        reverse("api-docs"),
    ]
    assert client.get(reverse("login")).status_code == 200
    client.force_login(staff_admin)
    pages += [
        reverse("ui:home"),
        reverse("ui:dashboard"),
        reverse("ui:patient-search") + "?q=a",
        reverse("ui:patient-new"),
        reverse("ui:patient-detail", args=[order.patient_id]),
        reverse("ui:order-queue"),
        reverse("ui:calendar-index"),
        reverse("ui:calendar", args=["CT"]),
        reverse("ui:calendar-order", args=[order.pk]),
        reverse("ui:appointment-detail", args=[appointment.pk]),
        reverse("ui:appointment-slip", args=[appointment.pk]),
        reverse("ui:daylist") + f"?station={ct_station.pk}",
        reverse("ui:stations"),
        reverse("ui:station-detail", args=[ct_station.pk]),
        reverse("ui:mpps"),
        reverse("ui:audit"),
        reverse("ui:facility-settings"),
        reverse("ui:api-tokens"),
        reverse("password_change"),
        reverse("admin:index"),
        reverse("admin:scheduling_station_change", args=[ct_station.pk]),
        reverse("admin:hl7_interface_destination_add"),
        reverse("api-docs"),
    ]
    problems: list[str] = []
    for url in pages:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        header = response.headers.get("Content-Security-Policy", "")
        policy = directives(header)
        assert policy.get("default-src") == ["'self'"], (url, header)
        assert policy.get("object-src") == ["'none'"], (url, header)
        assert policy.get("frame-ancestors") == ["'none'"], (url, header)
        assert "'unsafe-inline'" not in policy["script-src"], (url, header)
        assert "'unsafe-eval'" not in policy["script-src"], (url, header)
        docs = url == reverse("api-docs")  # Swagger UI: inline style allowed there only (mwl_ris/urls.py)
        assert ("'unsafe-inline'" in policy["style-src"]) == docs, (url, header)
        scan = InlineContent(nonce_of(policy))
        scan.feed(response.content.decode())
        problems += [f"{url}: {found}" for found in scan.found if not (docs and "inline style" in found)]
    assert not problems, "\n".join(problems)


def test_the_api_docs_script_is_a_separate_file(client: Client) -> None:
    script = client.get(reverse("api-docs") + "?script")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db(transaction=True)
def test_htmx_pages_and_swagger_work_under_the_policy_in_a_browser(
    browser: Browser,
    live_server: Any,
    scheduler: User,
    csp_violations: list[str],
    ct_station: Station,
    us_station: Station,
) -> None:
    from tests.ui.test_browser import log_in, wait_for_htmx

    page = log_in(browser, live_server.url, scheduler)
    page.goto(f"{live_server.url}{reverse('ui:patient-search')}")
    wait_for_htmx(page)
    page.fill("input[type=search]", "Nobody-by-this-name")
    expect(page.get_by_text("No patient found")).to_be_visible()
    # the day list's station choice submits itself (app.js, not an inline onchange)
    page.goto(f"{live_server.url}{reverse('ui:daylist')}?station={ct_station.pk}")
    page.select_option("#station-select", str(us_station.pk))
    page.wait_for_url(re.compile(rf"station={us_station.pk}"))
    page.goto(f"{live_server.url}{reverse('api-docs')}")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("mini-RIS")
    assert csp_violations == []

    # The watcher itself: an inline style added to a page is blocked and reported.
    page.goto(f"{live_server.url}{reverse('ui:daylist')}")
    with page.expect_console_message(lambda m: m.text.startswith("CSP violation:")):
        page.evaluate(
            "() => document.head.appendChild(Object.assign(document.createElement('style'), {textContent: 'b {}'}))"
        )
    assert any("style-src" in v for v in csp_violations)
    csp_violations.clear()
