"""The customer page and the action plan in a real browser: a customer opened from the book,
a task snoozed and another skipped from the inbox (htmx swaps the row in place, the live region
says what happened), the snooze done with the keyboard only; axe on every screen in both themes,
and their screenshots."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from renewflow import accounts
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from tests.browser.conftest import accessibility_violations, check_both_themes
from tests.console.test_customers import make_full_customer
from tests.console.test_tasks import make_customer, make_task, read_task

pytestmark = pytest.mark.usefixtures("core_library_seeded")


def _sign_in(page: Any, api_url: str, database: Database, tenant: uuid.UUID) -> None:
    """By a one-time link, with the keyboard (the confirm button has the focus)."""
    email = f"manager-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        accounts.create_user(conn, email=email, role=accounts.Role.MANAGER, name="Mia Manager")
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
    page.goto(f"{api_url}/sign-in/link/{token}")
    # the browser applies autofocus at its next rendering update, which may come after `load`
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{api_url}/today")


def _tenant(database: Database) -> uuid.UUID:
    with database.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Browser {uuid.uuid4().hex[:6]}")["id"]
    return tenant


def _focused_row(page: Any) -> str | None:
    focused: str | None = page.evaluate(
        "document.activeElement && document.activeElement.closest('li.task-row')"
        " ? document.activeElement.closest('li.task-row').id : null"
    )
    return focused


def test_open_a_customer_from_the_book(
    page: Any, api_url: str, database: Database, axe_source: str, screenshots: Path
) -> None:
    tenant = _tenant(database)
    ids = make_full_customer(database, tenant)
    make_customer(database, tenant, "Globex", days=40)
    _sign_in(page, api_url, database, tenant)
    page.goto(f"{api_url}/book")
    page.get_by_role("link", name="Acme Corp").click()
    page.wait_for_url(f"{api_url}/customers/{ids['customer']}")
    assert page.get_by_role("heading", name="Acme Corp", level=1).is_visible()
    assert page.get_by_role("img", name="active users: 80 to 112 over the last 6 months (+40%)")
    page.get_by_text("Usage as a table").click()  # the table fallback is checked by axe too
    assert page.get_by_role("cell", name="112").first.is_visible()
    page.get_by_text("Closed tasks (1)").click()
    check_both_themes(page, axe_source, screenshots, "customer")
    page.get_by_role("link", name="Map stakeholders").click()
    page.wait_for_url(f"{api_url}/tasks/{ids['parent']}")
    page.go_back()  # the back button comes back to the customer
    page.wait_for_url(f"{api_url}/customers/{ids['customer']}")
    assert page.get_by_role("heading", name="Acme Corp", level=1).is_visible()


def test_snooze_one_task_and_skip_another_from_the_inbox(
    page: Any, api_url: str, database: Database, axe_source: str, screenshots: Path
) -> None:
    tenant = _tenant(database)
    customer, execution = make_customer(database, tenant, "Initech")
    call = make_task(database, tenant, customer, execution, "Call the CFO")
    survey = make_task(database, tenant, customer, execution, "Send the survey")
    make_task(
        database,
        tenant,
        customer,
        execution,
        "Draft the renewal email",
        task_type="AI_TASK",
        processor="noop",
    )
    make_task(
        database,
        tenant,
        customer,
        execution,
        "Overdue follow-up",
        due_date=(datetime.now(UTC).date() - timedelta(days=3)).isoformat(),
    )
    _sign_in(page, api_url, database, tenant)
    page.goto(f"{api_url}/tasks")
    assert page.get_by_role("heading", name="Action plan", level=1).is_visible()
    check_both_themes(page, axe_source, screenshots, "tasks")
    page.evaluate("document.documentElement.dataset.theme = 'light'")

    row = page.locator(f"#row-{call.id}")
    row.locator("summary", has_text="Snooze").click()
    until = row.get_by_label("Back on")
    until.fill((datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"))
    row.get_by_role("button", name="Snooze").click()
    error = row.get_by_text("Must not be after the snooze deadline")
    error.wait_for()
    assert page.evaluate("document.activeElement.name") == "until"  # focus is on the field
    assert accessibility_violations(page, axe_source) == []  # the form with its error
    back = datetime.combine(datetime.now(UTC).date() + timedelta(days=2), time(10, 30), UTC)
    row.get_by_label("Back on").fill(back.strftime("%Y-%m-%dT%H:%M"))
    row.get_by_role("button", name="Snooze").click()
    page.locator("#announce").get_by_text("Snoozed “Call the CFO” until").wait_for()
    assert read_task(database, tenant, call.id).snoozed_until == back
    assert _focused_row(page) == f"row-{call.id}"  # the keyboard stays on the row

    row = page.locator(f"#row-{survey.id}")
    row.locator("summary", has_text="Skip").click()
    row.get_by_label("Why skip it?").fill("They answered it in the QBR")
    row.get_by_role("button", name="Skip task").click()
    page.locator("#announce").get_by_text("Skipped “Send the survey”.").wait_for()
    skipped = read_task(database, tenant, survey.id)
    assert (skipped.status.value, skipped.skip_reason) == ("skipped", "They answered it in the QBR")
    assert row.get_by_role("button", name="Reopen").is_visible()

    page.locator(f"#row-{call.id}").get_by_role("link", name="Call the CFO").click()
    page.wait_for_url(f"{api_url}/tasks/{call.id}")
    assert page.get_by_role("heading", name="Call the CFO", level=1).is_visible()
    page.locator("#task-panel summary", has_text="Snooze").click()  # axe sees the form too
    check_both_themes(page, axe_source, screenshots, "task")
    page.get_by_role("button", name="Complete").click()
    page.locator("#announce").get_by_text("Completed “Call the CFO”.").wait_for()
    assert page.evaluate("document.activeElement.id") == "task-status"
    assert read_task(database, tenant, call.id).status.value == "completed"


def test_the_snooze_flow_with_the_keyboard_only(
    page: Any, api_url: str, database: Database
) -> None:
    tenant = _tenant(database)
    customer, execution = make_customer(database, tenant, "Keyboard Co")
    task = make_task(database, tenant, customer, execution, "Review the contract")
    _sign_in(page, api_url, database, tenant)
    with page.expect_navigation(url=f"{api_url}/tasks"):
        page.keyboard.press("g")
        page.keyboard.press("a")
    for _ in range(80):  # Tab through the page to the task's Snooze
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY" and (
            _focused_row(page) == f"row-{task.id}"
            and "Snooze" in page.evaluate("document.activeElement.textContent")
        ):
            break
    else:
        pytest.fail("Tab never reached the task's Snooze")
    page.keyboard.press("Enter")  # opens the snooze form
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "until"
    back = datetime.combine(datetime.now(UTC).date() + timedelta(days=3), time(14, 45), UTC)
    page.keyboard.type(back.strftime("%m%d%Y"))  # Chromium's en-US fields: month, day, year
    page.keyboard.press("Tab")
    page.keyboard.type(back.strftime("%I%M") + "P")  # hour, minute, PM
    for _ in range(3):  # out of the field (past its picker button, a tab stop of its own)
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") != "until":
            break
    assert page.evaluate("document.activeElement.name") == "zone"
    assert page.evaluate("document.activeElement.value") == "UTC"  # the tenant's, kept as is
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Snooze"
    page.keyboard.press("Enter")
    page.locator("#announce").get_by_text("Snoozed “Review the contract” until").wait_for()
    snoozed = read_task(database, tenant, task.id)
    assert (snoozed.status.value, snoozed.snoozed_until) == ("snoozed", back)
    assert _focused_row(page) == f"row-{task.id}"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # and the focus is visible
