"""The scheduler's and technologist's day in a real browser: Debian's Chromium
driven by Playwright against the live server (PostgreSQL in CI)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from orders.models import ExamStatus, Order, Procedure
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus, Station
from tests.conftest import at

PASSWORD = "x-test-password"  # tests/conftest.py's users

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(browser: Browser, base: str, user: User, language: str | None = None) -> Page:
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/accounts/login/")
    if language:
        page.click(f"button[name=language][value={language}]")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("form button.primary")
    expect(page.locator("header .who")).to_contain_text(user.username)
    return page


def wait_for_htmx(page: Page) -> None:
    """Wait until htmx has processed the page: it binds its attributes in its
    DOMContentLoaded handler, so typing before then sends no request."""
    page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")


def test_book_a_ct_and_take_it_through_the_day_list(
    browser: Browser, live_server: Any, scheduler: User, technologist: User, ct_station: Station, ct_head: Procedure
) -> None:
    page = log_in(browser, live_server.url, scheduler)
    # register
    page.click("header nav >> text=Patients")
    wait_for_htmx(page)
    page.fill("#q", "Mushi")
    expect(page.locator("#results")).to_contain_text("No patient found")
    page.click("#new-patient")
    expect(page.locator("#id_family_name")).to_have_value("Mushi")
    page.fill("#id_given_name", "Rehema")
    page.select_option("#id_sex", "F")
    page.fill("#id_phone", "0754 111 222")
    page.fill("#id_nhif_number", "123456789012")
    page.click("button.primary")
    expect(page.locator(".messages")).to_contain_text("registered")
    patient = Patient.objects.get(family_name="Mushi")
    # order a CT, found through the catalogue search
    page.click("#new-order")
    wait_for_htmx(page)
    page.fill("#procedure_q", "head")
    page.locator("#procedure-choices label", has_text="CT Head without contrast").click()
    page.click("button.primary")
    expect(page.locator("#booking-title")).to_contain_text("Rehema")
    order = Order.objects.get(patient=patient)
    # book the next free slot: the station opens at 08:00 on this Tuesday
    first = page.locator(".suggestions button.slot").first
    expect(first).to_have_attribute("data-start", "2026-12-01 08:00")
    first.click()
    page.locator("dialog#confirm-booking").get_by_role("button", name="Book").click()
    expect(page.locator(".messages")).to_contain_text("Booked")
    appointment = Appointment.objects.get(order=order, status=AppointmentStatus.ACTIVE)
    assert (appointment.station, appointment.starts_at) == (ct_station, at(8))
    # the technologist sees it on the station's day list and works through it
    tech = log_in(browser, live_server.url, technologist)
    tech.goto(f"{live_server.url}/daylist/?station={ct_station.pk}")
    row = tech.locator(f"#exam-{order.pk}")
    expect(row).to_contain_text("Rehema")
    expect(row).to_contain_text(order.accession_number)
    for button, shown in (("Arrived", "Arrived"), ("Start", "In progress"), ("Complete", "Completed")):
        tech.locator(f"#exam-{order.pk}").get_by_role("button", name=button, exact=True).click()
        expect(tech.locator(f"#exam-{order.pk} .status")).to_have_text(shown)
    order.refresh_from_db()
    assert order.status == ExamStatus.COMPLETED
    assert order.arrived_at is not None
    assert order.ended_at is not None


def test_the_day_list_shows_changes_made_elsewhere_without_reloading(
    browser: Browser, live_server: Any, technologist: User, appointment: Appointment
) -> None:
    from orders.lifecycle import exam_transition

    page = log_in(browser, live_server.url, technologist)
    page.goto(f"{live_server.url}/daylist/?station={appointment.station_id}")
    status = page.locator(f"#exam-{appointment.order_id} .status")
    expect(status).to_have_text("Scheduled")
    exam_transition(order=appointment.order, to=ExamStatus.ARRIVED)  # e.g. the reception desk, or MPPS
    expect(status).to_have_text("Arrived", timeout=15_000)


def test_two_schedulers_booking_the_same_slot_at_once_one_wins(
    browser: Browser, live_server: Any, scheduler: User, admin_user: User, ct_station: Station, make_order: Any
) -> None:
    first, second = make_order(), make_order()
    pages = [log_in(browser, live_server.url, user) for user in (scheduler, admin_user)]
    for page, order in zip(pages, (first, second), strict=True):
        page.goto(f"{live_server.url}/orders/{order.pk}/book/?date=2026-12-01")
        expect(page.locator('.suggestions button.slot[data-start="2026-12-01 08:00"]')).to_be_visible()
    # Both choose 08:00, then both confirm before either answer comes back.
    for page in pages:
        page.locator('.suggestions button.slot[data-start="2026-12-01 08:00"]').click()
        expect(page.locator("dialog#confirm-booking")).to_be_visible()
    for page in pages:
        page.locator("dialog#confirm-booking").get_by_role("button", name="Book").click(no_wait_after=True)
    for page in pages:
        page.wait_for_load_state()
        expect(page.locator(".messages, #refusal").first).to_be_visible()
    texts = [page.locator("main").inner_text() for page in pages]
    winners = [t for t in texts if "Booked:" in t]
    losers = [t for t in texts if "Not booked: the slot is taken." in t]
    assert (len(winners), len(losers)) == (1, 1), texts
    held = Appointment.objects.get(station=ct_station, starts_at=at(8), status=AppointmentStatus.ACTIVE)
    assert held.order.accession_number in losers[0]  # the loser is told which booking holds the slot
    assert Order.objects.filter(status=ExamStatus.SCHEDULED).count() == 1


FLOW_PAGES = [
    ("/patients/", "Wagonjwa"),
    ("/patients/new/", "Sajili mgonjwa"),
    ("/patients/{patient}/", "Oda mpya ya kipimo cha picha"),
    ("/patients/{patient}/orders/new/", "Tafuta kwenye orodha ya vipimo"),
    ("/orders/queue/", "Oda za kupanga"),
    ("/orders/{order}/book/", "Nafasi zinazofuata"),
    ("/calendar/CT/?view=week", "Wiki iliyopita"),
    ("/appointments/{appointment}/", "Chapisha kadi ya miadi"),
    ("/daylist/", "Orodha ya siku"),
    ("/dashboard/", "Leo kwa kila aina ya mashine"),
    ("/stations/", "Vituo"),
]
ENGLISH_CHROME = re.compile(r"\b(Dashboard|Patients|Calendar|Day list|Log out|Next available|Orders to book)\b")


def test_swahili_on_every_page_of_the_flow(
    browser: Browser, live_server: Any, scheduler: User, appointment: Appointment, make_order: Any
) -> None:
    order = make_order()
    page = log_in(browser, live_server.url, scheduler, language="sw")
    ids = {"patient": appointment.order.patient_id, "order": order.pk, "appointment": appointment.pk}
    for path, swahili in FLOW_PAGES:
        page.goto(live_server.url + path.format(**ids))
        expect(page.locator("html")).to_have_attribute("lang", "sw")
        text = page.locator("body").inner_text()
        assert swahili in text, path
        assert "Muhtasari" in text, path  # the navigation
        assert not ENGLISH_CHROME.search(text), (path, ENGLISH_CHROME.search(text))


def test_a_wrong_role_gets_403(browser: Browser, live_server: Any, technologist: User, order: Order) -> None:
    page = log_in(browser, live_server.url, technologist)
    response = page.goto(f"{live_server.url}/patients/new/")
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    response = page.goto(f"{live_server.url}/orders/{order.pk}/book/")
    assert response is not None
    assert response.status == 403
