"""Fixtures of the web page tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# Reported to the console by every page: the browser blocks what the
# Content-Security-Policy forbids (an inline script or style, an eval, a
# request elsewhere) and fires this event; the page may look fine without it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} ${e.sample || ""}`);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser blocked under the Content-Security-Policy in this test."""
    return []


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, csp_violations: list[str]) -> Iterator[Browser]:
    """Chromium; every page of every context it opens reports CSP violations,
    and a test that caused one fails at teardown with what was blocked."""
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM calls are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    violations = csp_violations

    def record(message: ConsoleMessage) -> None:
        if message.text.startswith("CSP violation:"):
            violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        new_context = chromium.new_context

        def watched_context(**kwargs: Any) -> BrowserContext:
            context = new_context(**kwargs)
            context.add_init_script(REPORT_CSP_VIOLATIONS)
            context.on("console", record)
            return context

        def watched_page(**kwargs: Any) -> Any:
            return watched_context(**kwargs).new_page()

        chromium.new_context = watched_context  # type: ignore[method-assign]
        chromium.new_page = watched_page  # type: ignore[method-assign]
        yield chromium
        chromium.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
