"""Playwright harness: Debian's Chromium (no browser download works here) against pytest-django's live
server. Every page a test visits is screenshotted under test-artifacts/screenshots/<test>/ and checked
with axe-core (vendored beside this file) for serious or critical accessibility violations.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

# The live server runs in a thread while Playwright's sync API keeps an event loop in this one; Django
# would otherwise refuse ORM calls made by the test itself "from an async context".
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.10.3" / "axe.min.js"
# Both layouts are exercised: a desktop window and a phone-sized one (iPhone SE width).
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}


@pytest.fixture
def chromium(live_server):
    # One browser per test, started after the test's database set-up and stopped before its teardown:
    # Playwright's sync API runs the test in a greenlet with its own context variables, where Django
    # opens its own database connections; keeping it inside the test keeps set-up and teardown outside.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh (installs Debian's chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class UI:
    """A browser tab on the live server. Navigate through `goto`/`click_to_page`/`submit` so that each page
    visited is screenshotted and checked for accessibility."""

    def __init__(self, page, base_url: str, name: str):
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.folder = SCREENSHOTS / name
        shutil.rmtree(self.folder, ignore_errors=True)  # only this run's pages
        self.count = 0
        self.violations: list[str] = []

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    @property
    def path(self) -> str:
        return self.page.url.removeprefix(self.base_url)

    def goto(self, path: str):
        response = self.page.goto(self.url(path))
        self.visited()
        return response

    def click_to_page(self, locator):
        """Click something that loads a new page (a link or a submit button), then record that page."""
        with self.page.expect_navigation():
            locator.click()
        self.visited()

    def submit(self, button_name: str):
        self.click_to_page(self.page.get_by_role("button", name=button_name, exact=True))

    def visited(self) -> None:
        self.page.wait_for_load_state("load")
        self.count += 1
        label = re.sub(r"[^a-z0-9]+", "-", self.path.split("?")[0].lower()).strip("-") or "home"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{label[:60]}.png"), full_page=True)
        self._check_accessibility()

    def _check_accessibility(self) -> None:
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(path=str(AXE))
        found = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ["violations"]});
                return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map(n => n.target.join(" ")).join(", ")}`);
            }"""
        )
        self.violations += [f"{self.path}: {line}" for line in found]


def _ui(request, chromium, live_server, viewport: str):
    context = chromium.new_context(viewport=VIEWPORTS[viewport], base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    return context, UI(page, live_server.url, name)


@pytest.fixture
def ui(request, live_server, settings, chromium):
    # Links in emails (invitations) are built from SITE_URL: point it at the live server.
    settings.SITE_URL = live_server.url
    context, tab = _ui(request, chromium, live_server, getattr(request, "param", "desktop"))
    yield tab
    context.close()
    assert tab.violations == [], "accessibility violations:\n" + "\n".join(tab.violations)


@pytest.fixture
def new_ui(request, live_server, chromium):
    """A second, independent browser (its own cookies): another person using the product at the same time."""
    opened = []

    def make(viewport: str = "desktop"):
        context, tab = _ui(request, chromium, live_server, viewport)
        tab.folder = tab.folder.with_name(f"{tab.folder.name}-tab{len(opened) + 2}")
        shutil.rmtree(tab.folder, ignore_errors=True)
        opened.append((context, tab))
        return tab

    yield make
    for context, _ in opened:
        context.close()
    violations = [v for _, tab in opened for v in tab.violations]
    assert violations == [], "accessibility violations:\n" + "\n".join(violations)
