"""The front desk in a real browser: the day list on a tablet and a phone, the
booking dialog, undo, and accessibility (axe-core) of the main pages."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from orders.lifecycle import exam_transition
from orders.models import ExamStatus, Order
from scheduling.booking import appointment_book
from scheduling.models import Appointment, AppointmentStatus, Station
from tests.conftest import at
from tests.ui.test_browser import log_in, wait_for_htmx

pytestmark = pytest.mark.django_db(transaction=True)

AXE = resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()


def axe_serious(page: Page) -> list[str]:
    """Serious and critical axe-core violations of the page, one line each."""
    page.evaluate(AXE)  # evaluate, not a <script> tag: the page's CSP does not apply
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def no_horizontal_scroll(page: Page) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


@pytest.fixture
def busy_day(ct_station: Station, make_order: Any, frozen_clock: Any) -> list[Order]:
    """Four exams on the CT today: one completed at 08:00, three to come; and a
    station with a long name, as real ones have, in the station list."""
    from scheduling.stations import station_create

    station_create(
        name="Ultrasound 2 (Maternity and Gynaecology)", room="Maternity Block, Room 12", modality="US", ae_title="US2"
    )
    frozen_clock.move_to(at(7, 30))
    orders = [make_order() for _ in range(4)]
    for n, order in enumerate(orders):
        appointment_book(order=order, station=ct_station, starts_at=at(8 + n))
    frozen_clock.move_to(at(8, 20))
    for step in (ExamStatus.ARRIVED, ExamStatus.IN_PROGRESS, ExamStatus.COMPLETED):
        exam_transition(order=orders[0], to=step)
    return orders


@pytest.mark.parametrize("width", [768, 360])
def test_the_day_list_fits_a_tablet_and_a_phone_with_finger_sized_buttons(
    browser: Browser, live_server: Any, technologist: User, ct_station: Station, busy_day: list[Order], width: int
) -> None:
    page = log_in(browser, live_server.url, technologist)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/daylist/?station={ct_station.pk}&date=2026-12-01")
    expect(page.locator(f"#exam-{busy_day[1].pk}")).to_be_visible()
    assert no_horizontal_scroll(page) <= 0
    for button in page.locator("#daylist button:visible").all():
        box = button.bounding_box()
        assert box is not None
        assert box["height"] >= 44
        assert box["x"] + box["width"] <= width  # nothing cut off at the right edge
    details = page.locator(f"#exam-{busy_day[1].pk} a", has_text="Details")
    box = details.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width


def test_finished_exams_sink_and_the_summary_follows_each_action_and_undo(
    browser: Browser, live_server: Any, technologist: User, ct_station: Station, busy_day: list[Order]
) -> None:
    page = log_in(browser, live_server.url, technologist)
    page.goto(f"{live_server.url}/daylist/?station={ct_station.pk}&date=2026-12-01")
    wait_for_htmx(page)
    ids = lambda: page.locator("#daylist-rows tr[id^=exam-]").evaluate_all("rows => rows.map(r => r.id)")  # noqa: E731
    done, second, third, fourth = (f"exam-{o.pk}" for o in busy_day)
    assert ids() == [second, third, fourth, done]  # the 08:00 exam, completed, below the waiting ones
    summary = page.locator("#daylist-rows tr.summary")
    expect(summary).to_contain_text("0 waiting")
    page.locator(f"#{second}").get_by_role("button", name="Arrived", exact=True).click()
    expect(summary).to_contain_text("1 waiting")  # counted again at once, not at the next poll
    page.locator(f"#{second}").get_by_role("button", name="↶ Undo arrived").click()
    expect(summary).to_contain_text("0 waiting")
    expect(page.locator(f"#{second} .status")).to_have_text("Scheduled")
    busy_day[1].refresh_from_db()
    assert busy_day[1].status == ExamStatus.SCHEDULED
    assert busy_day[1].arrived_at is None


MAIN_PAGES = [
    "/dashboard/",
    "/patients/",
    "/patients/new/",
    "/patients/{patient}/",
    "/patients/{patient}/edit/",
    "/patients/{patient}/orders/new/",
    "/orders/queue/",
    "/orders/{order}/book/",
    "/calendar/CT/?view=week",
    "/appointments/{appointment}/",
    "/daylist/",
    "/stations/",
    "/settings/facility/",
]


@pytest.mark.parametrize("language", ["en", "sw"])
def test_the_main_pages_have_no_serious_accessibility_violations(
    browser: Browser, live_server: Any, admin_user: User, appointment: Appointment, make_order: Any, language: str
) -> None:
    order = make_order()
    ids = {"patient": appointment.order.patient_id, "order": order.pk, "appointment": appointment.pk}
    page = log_in(browser, live_server.url, admin_user, language=language)
    found = {}
    for path in MAIN_PAGES:
        page.goto(live_server.url + path.format(**ids))
        violations = axe_serious(page)
        if violations:
            found[path] = violations
    assert found == {}


def test_the_login_page_has_no_serious_accessibility_violations(browser: Browser, live_server: Any) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    assert axe_serious(page) == []


def test_a_booking_is_confirmed_in_a_dialog_naming_patient_exam_room_and_time(
    browser: Browser, live_server: Any, scheduler: User, ct_station: Station, order: Order
) -> None:
    page = log_in(browser, live_server.url, scheduler)
    page.goto(f"{live_server.url}/orders/{order.pk}/book/?date=2026-12-01")
    page.locator('.suggestions button.slot[data-start="2026-12-01 08:00"]').click()
    dialog = page.locator("dialog#confirm-booking")
    expect(dialog).to_be_visible()
    for fact in ("Neema", "CT Head without contrast", "CT Scanner · Room 3", "01/12/2026 08:00"):
        expect(dialog).to_contain_text(fact)
    assert not Appointment.objects.filter(order=order).exists()  # nothing booked before the confirmation
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not Appointment.objects.filter(order=order).exists()
    page.locator('.suggestions button.slot[data-start="2026-12-01 08:00"]').click()
    dialog.get_by_role("button", name="Book").click()
    expect(page.locator(".messages")).to_contain_text("Booked")
    assert Appointment.objects.get(order=order, status=AppointmentStatus.ACTIVE).starts_at == at(8)
