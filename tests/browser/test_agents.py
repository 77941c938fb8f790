"""Agents and the ledger in a real browser: an agent task created with its steps, reordered
with the Move buttons and by drag and drop, run by a worker with the mock provider (the page
follows the run), paused at its approval gate and approved; the ledger's health, budget, cost
chart and tables. Each screen in both themes, with screenshots and no serious or critical
accessibility violation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from renewflow import accounts, agents
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from renewflow.llm import LLMClients
from tests.agents.conftest import start_agent_worker
from tests.browser.conftest import accessibility_violations, check_both_themes
from tests.console.test_ledger import add_run, set_budget
from tests.ledger.conftest import add_call


@pytest.fixture
def agent_worker(database: Database) -> Iterator[None]:
    clients = LLMClients()
    worker = start_agent_worker(database, clients)
    yield
    worker.stop()
    worker.join(10)
    clients.close()


def _sign_in(page: Any, api_url: str, database: Database, role: str) -> tuple[uuid.UUID, uuid.UUID]:
    with database.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Browser {uuid.uuid4().hex[:6]}")["id"]
    email = f"{role}-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(
            conn, email=email, role=accounts.parse_role(role), name=f"Ari {role.title()}"
        )
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
    page.goto(f"{api_url}/sign-in/link/{token}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/today")
    return tenant, user["id"]


def _order(database: Database, tenant: uuid.UUID, user: uuid.UUID, task_id: str) -> list[str]:
    with database.tenant_transaction(tenant, user) as conn:
        return [s.step_name for s in agents.get_task(conn, uuid.UUID(task_id)).steps]


def _step_names(page: Any) -> list[str]:
    names: list[str] = page.locator("#agent-steps li h3").evaluate_all(
        "els => els.map(e => e.lastChild.textContent.trim())"
    )
    return names


@pytest.mark.usefixtures("agent_worker")
def test_create_reorder_run_and_approve_an_agent_task(
    page: Any, api_url: str, database: Database, axe_source: str, screenshots: Path
) -> None:
    tenant, user = _sign_in(page, api_url, database, "csm")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    page.wait_for_url(f"{api_url}/agents")
    assert page.get_by_role("heading", name="Agents", level=1).is_visible()

    page.get_by_label("Task name").fill("Acme renewal brief")
    page.locator("#new-0-step_name").fill("Research")
    page.locator("#new-0-instructions").fill("List what changed at Acme this quarter.")
    page.locator("#new-1-step_name").fill("Draft")
    page.locator("#new-1-instructions").fill("Draft a note to the CSM from the assessment.")
    page.locator("#new-2-step_name").fill("Assess")
    page.locator("#new-2-instructions").fill("Assess the renewal risk from the research.")
    page.locator("#new-2-requires_approval, [name='steps-2-requires_approval']").first.check()
    page.get_by_role("button", name="Create the task").click()
    page.wait_for_url(f"{api_url}/agents/*")
    task_id = page.url.split("/agents/")[1].split("?")[0]
    page.locator("#announce").get_by_text("Created the task.").wait_for()
    assert _step_names(page) == ["Research", "Draft", "Assess"]

    # the keyboard's way: Move up posts the whole new order
    page.get_by_role("button", name="Move up “Assess”").click()
    page.locator("#announce").get_by_text("Saved the new order of the steps.").wait_for()
    assert _step_names(page) == ["Research", "Assess", "Draft"]
    assert _order(database, tenant, user, task_id) == ["Research", "Assess", "Draft"]

    # drag and drop: Draft's handle onto the top of the first step
    page.locator("#agent-steps li").nth(2).locator(".handle").drag_to(
        page.locator("#agent-steps li").nth(0), target_position={"x": 40, "y": 4}
    )
    page.locator("#announce").get_by_text("Saved the new order of the steps.").wait_for()
    page.wait_for_load_state("networkidle")
    assert _order(database, tenant, user, task_id) == ["Draft", "Research", "Assess"]
    page.get_by_role("button", name="Move down “Draft”").click()
    page.wait_for_load_state("networkidle")
    assert _order(database, tenant, user, task_id) == ["Research", "Draft", "Assess"]
    page.locator("#agent-steps li").nth(0).locator("summary", has_text="Edit").click()
    check_both_themes(page, axe_source, screenshots, "agent-steps")
    page.evaluate("document.documentElement.dataset.theme = 'light'")

    # the run: the page follows it to the approval gate
    page.get_by_role("button", name="Run the task").click()
    page.get_by_text("Step 3, “Assess”, waits for your approval.").wait_for(timeout=20_000)
    # the latest output is open; the earlier ones are a click away
    assert (
        page.locator(f"#step-{_step_id(database, tenant, user, task_id, 1)} .step-output")
        .get_by_text("Mock answer")
        .is_visible()
    )
    check_both_themes(page, axe_source, screenshots, "agent-approval")
    page.evaluate("document.documentElement.dataset.theme = 'light'")
    page.get_by_role("button", name="Approve “Assess”").click()
    page.get_by_text("The run completed").wait_for(timeout=20_000)
    assert page.locator(".agent-step.step-completed").count() == 3
    assert page.get_by_text("tokens in").count() >= 3
    check_both_themes(page, axe_source, screenshots, "agent")
    page.goto(f"{api_url}/agents")
    assert page.get_by_role("cell", name="3/3").is_visible()
    check_both_themes(page, axe_source, screenshots, "agents")


def test_a_step_without_instructions_is_shown_at_its_field(
    chromium: Any, api_url: str, database: Database, axe_source: str
) -> None:
    """The refused form comes back 422, which the browser reports as a failed load: so this test
    has its own page, and expects exactly that one error."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _sign_in(page, api_url, database, "csm")
        page.goto(f"{api_url}/agents")
        page.get_by_label("Task name").fill("Acme renewal brief")
        page.locator("#new-0-step_name").fill("Research")
        page.get_by_role("button", name="Create the task").click()
        page.locator("#new-0-instructions-error").wait_for()
        assert page.evaluate("document.activeElement.id") == "new-0-instructions"
        assert page.get_by_label("Task name").input_value() == "Acme renewal brief"  # kept
        assert accessibility_violations(page, axe_source) == []
    finally:
        context.close()
    assert [e for e in errors if "status of 422" not in e] == []
    assert len(errors) == 1


def _step_id(database: Database, tenant: uuid.UUID, user: uuid.UUID, task_id: str, i: int) -> str:
    with database.tenant_transaction(tenant, user) as conn:
        return str(agents.get_task(conn, uuid.UUID(task_id)).steps[i].id)


def test_the_ledgers_health_budget_chart_and_tables(
    page: Any, api_url: str, database: Database, axe_source: str, screenshots: Path
) -> None:
    tenant, _ = _sign_in(page, api_url, database, "manager")
    set_budget(database, tenant, "5.00")
    add_call(database, tenant, "3.10")
    for days_ago, cost in ((0, "0.80"), (1, "1.20"), (2, "0.35"), (4, "2.10"), (9, "0.60")):
        add_run(database, tenant, "ai_task_execution", days_ago=days_ago, cost=cost, seconds=3)
    add_run(database, tenant, "task_sweep")
    add_run(database, tenant, "renewal_sweep", days_ago=0.5, cost="0.05")
    add_run(database, tenant, "notification_delivery", "failed", days_ago=0.2, error="SMTP refused")
    page.goto(f"{api_url}/today")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Ledger").click()
    page.wait_for_url(f"{api_url}/admin/ledger")
    chart = page.get_by_role("img", name="LLM cost per UTC day, the last 30 days: $5.10 in all")
    assert chart.is_visible()
    assert page.locator(".cost-chart rect.bar").count() == 5
    page.get_by_text("Costs by day, as a table").click()
    assert page.get_by_role("cell", name="$2.10").first.is_visible()
    assert page.get_by_role("cell", name="SMTP refused").first.is_visible()
    assert page.locator(".health-ok").count() >= 1
    check_both_themes(page, axe_source, screenshots, "ledger")
    page.get_by_label("Type", exact=True).select_option("ai_task_execution")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**type=ai_task_execution**")
    assert page.locator("table.runs tbody tr").count() == 5
