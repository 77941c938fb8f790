"""The step chat in a real browser: a saved action's button, a question typed into the box whose
answer streams in (Server-Sent Events read by the page's script on the cookie session), a
follow-up that draws a chart, the tool's rows as a table, completing the thread, and a fixed
branch that moves the step; each state in both themes with no serious accessibility violation."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from renewflow import accounts, engine
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from tests.browser.conftest import check_both_themes
from tests.chat.conftest import World, build_world

# records whether the streaming answer ever showed text before the stored one replaced it
WATCH_STREAM = """() => {
    window.__streamed = [];
    new MutationObserver(() => {
        const live = document.querySelector('.msg-streaming .msg-text');
        if (live && live.textContent) { window.__streamed.push(live.textContent); }
    }).observe(document.getElementById('main'), {subtree: true, childList: true, characterData: true});
}"""


def _sign_in(page: Any, api_url: str, database: Database, world: World, role: str) -> None:
    email = f"{role}-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(world.tenant) as conn:
        accounts.create_user(
            conn, email=email, role=accounts.parse_role(role), name=f"Robin {role.title()}"
        )
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
    page.goto(f"{api_url}/sign-in/link/{token}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/today")


def _current(database: Database, world: World) -> str | None:
    with database.tenant_transaction(world.tenant) as conn:
        step: str | None = engine.load_execution(conn, world.execution).row["current_step_id"]
    return step


def test_chat_in_task_mode(
    page: Any,
    api_url: str,
    database: Database,
    make_key: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    world = build_world(database, make_key)
    _sign_in(page, api_url, database, world, "manager")
    page.goto(f"{api_url}/executions/{world.execution}")
    chat = page.locator("#chat")
    assert chat.get_by_role("heading", name="Step chat").is_visible()
    assert chat.get_by_role("button", name="Let's do it").is_visible()

    # a saved action's button: it runs, its result is shown, the step stays current
    chat.get_by_role("button", name="Snooze 7 days").click()
    exchange = page.locator("#chat-exchange")
    exchange.wait_for()
    assert "snoozed" in exchange.inner_text().lower()
    assert page.evaluate("document.activeElement.id") == "chat-exchange"

    # a question typed into the box: the answer streams in, then the stored conversation
    page.evaluate(WATCH_STREAM)
    box = page.get_by_label("Type an answer or a question")
    box.fill("How is their usage going?")
    box.press("Enter")
    log = page.locator("#chat-log")
    log.get_by_text("database_query tool returned 1 rows").wait_for(timeout=10000)
    page.locator(".chat-log-region:not([aria-busy])").wait_for()
    assert page.evaluate("window.__streamed.length") > 0, "no text streamed in"
    assert "How is their usage going?" in log.inner_text()
    table = log.locator("table.chat-table")
    assert table.count() == 1
    assert "Active users" in table.inner_text() or "active_users" in table.inner_text()
    assert page.evaluate("document.activeElement.id") == "chat-last"

    # a follow-up in the same thread draws a chart
    page.evaluate(WATCH_STREAM)
    follow_up = page.get_by_label("Ask a follow-up question")
    follow_up.fill("Show me a chart of it")
    page.get_by_role("button", name="Send").click()
    chart = log.locator(".chat-chart img")
    chart.wait_for(timeout=10000)
    page.wait_for_function(
        "() => { const i = document.querySelector('.chat-chart img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    assert "chart" in (chart.get_attribute("alt") or "")
    assert page.locator("#chat .msg").count() >= 4
    page.locator("#chat").scroll_into_view_if_needed()
    check_both_themes(page, axe_source, screenshots, "chat")

    # completing the thread returns the execution to the branch's step
    page.get_by_role("button", name="Complete the conversation").click()
    page.locator("#chat-exchange").get_by_text("The conversation was completed.").wait_for()
    assert "The execution returned to Act." in page.locator("#chat-exchange").inner_text()
    assert _current(database, world) == "act"


def test_a_fixed_branch_answers_and_moves_the_step(
    page: Any,
    api_url: str,
    database: Database,
    make_key: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    world = build_world(database, make_key)
    _sign_in(page, api_url, database, world, "csm")
    page.goto(f"{api_url}/executions/{world.execution}")
    page.locator("#chat").get_by_role("button", name="Let's do it").click()
    exchange = page.locator("#chat-exchange")
    exchange.get_by_text("Great! Let's renew").wait_for()
    assert "Assess is done; next: Close." in exchange.inner_text()
    assert "Close" in page.locator("#current-title").inner_text()
    assert _current(database, world) == "close"
    check_both_themes(page, axe_source, screenshots, "chat-fixed")
