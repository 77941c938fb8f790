"""Real headless Chromium (Debian's, driven by Playwright's Python package) against the real
server, and an accessibility check with axe-core on every screen.

The test command installs Chromium when it runs as root; without it these tests fail loudly,
never skip. Screenshots of every screen in both themes go to the folder named by
RENEWFLOW_SCREENSHOTS (default: test-artifacts/screenshots/<run>), printed at the end.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import api_url, client, make_key
from tests.console.conftest import console_as

__all__ = ["api_url", "client", "console_as", "make_key"]

CHROMIUM = os.environ.get("RENEWFLOW_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "vendor" / "axe-4.10.3.min.js"
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"
ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(
        os.environ.get("RENEWFLOW_SCREENSHOTS")
        or ROOT / "test-artifacts" / "screenshots" / time.strftime("%Y%m%d-%H%M%S")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `make test` installs it as root "
            "(apt-get install chromium); as another user, install it or set RENEWFLOW_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256, "the vendored axe-core changed"
    return data.decode("utf-8")


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A page that fails its test on any browser error: a missing asset, a refused script or
    style (the CSP), an exception. en-US, so typed dates follow one field order."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], f"the browser reported errors: {errors}"


def accessibility_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (WCAG 2 A and AA rules)."""
    page.evaluate(axe_source)  # evaluated by the driver: the page's CSP does not apply
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 3).map(n => n.target)}));
        }"""
    )
    # axe leaves `style` attributes on what it measured; htmx would copy them into later swaps,
    # where the CSP refuses inline style
    page.evaluate("document.querySelectorAll('[style]').forEach(e => e.removeAttribute('style'))")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def check_both_themes(page: Any, axe_source: str, screenshots: Path, screen: str | None) -> None:
    """In the light and the dark theme: a screenshot (`<screen>-<theme>.png`, unless `screen` is
    None) and no serious or critical accessibility violation (contrast differs per theme)."""
    for theme in ("light", "dark"):
        page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
        if screen is not None:
            page.screenshot(path=str(screenshots / f"{screen}-{theme}.png"), full_page=True)
        assert accessibility_violations(page, axe_source) == [], (screen, theme)
    page.evaluate("delete document.documentElement.dataset.theme")
