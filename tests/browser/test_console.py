"""The console in a real browser: sign in by link, Today, the keyboard, both themes, and no
serious or critical accessibility violation on any screen visited."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from renewflow import accounts
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from tests.browser.conftest import accessibility_violations, check_both_themes


def _link(database: Database, tenant: uuid.UUID, role: str = "csm") -> tuple[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        accounts.create_user(
            conn, email=email, role=accounts.parse_role(role), name=f"Sam {role.title()}"
        )
    with database.service_transaction() as conn:
        return email, issue_login_link(conn, email)


def test_sign_in_by_link_then_today_then_sign_out(
    page: Any,
    api_url: str,
    database: Database,
    tenant_factory: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    _, token = _link(database, tenant_factory(), "csm")
    page.goto(f"{api_url}/sign-in/link/{token}")
    assert accessibility_violations(page, axe_source) == []
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/today")
    assert page.get_by_role("heading", name="Today", level=1).is_visible()
    assert accessibility_violations(page, axe_source) == []
    check_both_themes(page, axe_source, screenshots, "today")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{api_url}/sign-in*")
    assert page.get_by_text("You are signed out.").is_visible()
    page.screenshot(path=str(screenshots / "sign-in-light.png"))
    page.goto(f"{api_url}/today")
    page.wait_for_url(f"{api_url}/sign-in*")


def test_the_keyboard_reaches_everything(
    page: Any, api_url: str, database: Database, tenant_factory: Any
) -> None:
    _, token = _link(database, tenant_factory(), "manager")
    page.goto(f"{api_url}/sign-in/link/{token}")
    # the sign-in button has the focus (autofocus lands at a rendering update after `load`)
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{api_url}/today")
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    with page.expect_navigation(url=f"{api_url}/today"):
        page.keyboard.press("g")
        page.keyboard.press("t")
    # the focus ring is visible: the focused element has an outline
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_the_renewal_book_filters_and_charts(
    page: Any,
    api_url: str,
    database: Database,
    tenant_factory: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    from datetime import date, timedelta

    from renewflow import context

    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        for i in range(12):
            customer, _ = context.upsert_customer(
                conn,
                context.CustomerIn.model_validate(
                    {
                        "name": f"Initech {i:02d}",
                        "arr": 20_000 + 15_000 * i,
                        "renewalDate": (date.today() + timedelta(days=12 + 25 * i)).isoformat(),
                    }
                ),
            )
            context.set_intelligence(
                conn, customer, context.IntelligenceIn(riskScore=(i * 17) % 100)
            )
    _, token = _link(database, tenant, "manager")
    page.goto(f"{api_url}/sign-in/link/{token}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/today")
    page.goto(f"{api_url}/book")
    assert page.get_by_role("img", name="ARR renewing per month").is_visible()
    assert page.get_by_role("link", name="Initech 00").is_visible()
    check_both_themes(page, axe_source, screenshots, "book")
    page.get_by_label("Renewing", exact=False).and_(page.locator("select")).select_option("90")
    page.get_by_label("Sort").select_option("risk")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/book?*within=90*")
    assert "sort=risk" in page.url  # the state is in the URL: the link can be shared
    names = page.locator("tbody td:first-child a").all_inner_texts()
    assert all(name.startswith("Initech") for name in names)
    assert len(names) == 4  # renewing within 90 days: 12, 37, 62 and 87 days out
