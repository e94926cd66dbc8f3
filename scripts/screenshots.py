"""Screenshots of the main pages in English and Swahili for docs/screenshots/.

Run against a server with the demo data (README command 1, or any seeded database):
    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots]
Needs Debian's chromium (CHROMIUM_PATH, default /usr/bin/chromium) and the demo users.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-2026")


def log_in(page: Page, base: str, user: str, language: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.click(f"button[name=language][value={language}]")
    page.fill("#id_username", user)
    page.fill("#id_password", PASSWORD)
    page.click("form button.primary")
    page.wait_for_selector("header .who")


def shoot(base: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        for language in ("en", "sw"):
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            log_in(page, base, "scheduler", language)
            page.goto(f"{base}/calendar/CT/")
            written.append(out / f"calendar-day-{language}.png")
            page.screenshot(path=written[-1])
            page.goto(f"{base}/calendar/US/?view=week")
            written.append(out / f"calendar-week-{language}.png")
            page.screenshot(path=written[-1])
            page.goto(f"{base}/orders/queue/")
            book = page.locator("table.list a.button.primary").first
            if book.count():
                book.click()
                page.wait_for_selector(".booking")
                written.append(out / f"booking-{language}.png")
                page.screenshot(path=written[-1])
                page.locator(".suggestions button.slot").first.click()
                page.wait_for_selector("dialog#confirm-booking[open]")
                written.append(out / f"booking-dialog-{language}.png")
                page.screenshot(path=written[-1])
                page.locator("dialog#confirm-booking").get_by_role("button", name=re.compile("Cancel|Ghairi")).click()
            page.goto(f"{base}/patients/?q=a")
            first = page.locator("#results a").first
            if first.count():
                first.click()
                page.wait_for_selector("h1")
                slip = page.locator("a[href*='/appointments/']").first
                if slip.count():
                    slip.click()
                    page.wait_for_selector("#print-slip, #appointment-void")
                    href = (
                        page.locator("#print-slip").get_attribute("href")
                        if page.locator("#print-slip").count()
                        else None
                    )
                    if href:
                        page.goto(base + href)
                        written.append(out / f"slip-{language}.png")
                        page.screenshot(path=written[-1], full_page=True)
            page.goto(f"{base}/patients/?q=a")
            written.append(out / f"patients-{language}.png")
            page.screenshot(path=written[-1])
            page.goto(f"{base}/dashboard/")
            written.append(out / f"dashboard-{language}.png")
            page.screenshot(path=written[-1])
            context.close()
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            log_in(page, base, "tech", language)
            page.goto(f"{base}/daylist/")
            stations = page.locator("#station-select option")
            for i in range(stations.count()):  # the first station with something on it today
                if re.search(r"\bCT\b|CT_", stations.nth(i).inner_text()):
                    page.select_option("#station-select", index=i)
                    break
            page.wait_for_selector("#daylist")
            written.append(out / f"daylist-{language}.png")
            page.screenshot(path=written[-1])
            url = page.url
            for width in (768, 360):  # a tablet and a phone
                page.set_viewport_size({"width": width, "height": 1000})
                page.goto(url)
                page.wait_for_selector("#daylist")
                written.append(out / f"daylist-{width}-{language}.png")
                page.screenshot(path=written[-1])
            context.close()
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            log_in(page, base, "admin", language)
            for path, name in (("/settings/facility/", "facility"), ("/patients/duplicates/", "duplicates")):
                page.goto(base + path)
                written.append(out / f"{name}-{language}.png")
                page.screenshot(path=written[-1], full_page=True)
            context.close()
            # The registration form, a patient with allergies and alerts, and the order form, at a
            # desk, on a tablet and on a phone.
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            log_in(page, base, "scheduler", language)
            page.goto(f"{base}/patients/?q=a")
            links = [a.get_attribute("href") or "" for a in page.locator("a[href^='/patients/']").all()]
            with_alerts = None
            for href in [h for h in links if re.fullmatch(r"/patients/\d+/", h)][:60]:
                page.goto(base + href)
                if page.locator(".alert-text").count():
                    with_alerts = href
                    break
            pages = [("/patients/new/", "patient-new")]
            if with_alerts:
                pages += [(with_alerts, "patient-medical"), (f"{with_alerts}orders/new/", "order-new")]
            for path, name in pages:
                for width, suffix in ((1366, ""), (768, "-768"), (360, "-360")):
                    page.set_viewport_size({"width": width, "height": 1000})
                    page.goto(base + path)
                    written.append(out / f"{name}{suffix}-{language}.png")
                    page.screenshot(path=written[-1], full_page=True)
            context.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "screenshots"))
    args = parser.parse_args()
    for path in shoot(args.base.rstrip("/"), Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
