"""Task mode in a real browser: two steps of a Prepare execution run by a worker with the mock
provider (the progress, then the result), a manager's approval of an Emergency execution,
the executions list and timeline, the notifications outbox; each screen in both themes, with
screenshots and no serious or critical accessibility violation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from renewflow import accounts
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from renewflow.engine import StepRunner
from renewflow.jobs import WorkerConfig
from renewflow.llm import LLMClients
from tests.browser.conftest import accessibility_violations, check_both_themes
from tests.engine.world import make_world

pytestmark = pytest.mark.usefixtures("core_library_seeded")

THEMES = ("light", "dark")


class Workers:
    """The step-run worker, started and stopped at will: stopped while the test looks at a
    queued run (the mock answers in a millisecond, so a running worker could finish it before
    the page shows it), started to take it up."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.clients = LLMClients()
        self.running: Any = None

    def start(self) -> None:
        assert self.running is None
        self.running = StepRunner(self.database, self.clients).worker(
            WorkerConfig(concurrency=2, poll_interval=0.05, lease_seconds=5)
        )
        self.running.start()

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running.join(10)
            self.running = None


@pytest.fixture
def workers(database: Database) -> Iterator[Workers]:
    controlled = Workers(database)
    yield controlled
    controlled.stop()
    controlled.clients.close()


@pytest.fixture
def worker(workers: Workers) -> Workers:
    workers.start()
    return workers


def _sign_in(page: Any, api_url: str, database: Database, tenant: uuid.UUID, role: str) -> None:
    email = f"{role}-{uuid.uuid4().hex[:6]}@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        accounts.create_user(
            conn, email=email, role=accounts.parse_role(role), name=f"Robin {role.title()}"
        )
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
    page.goto(f"{api_url}/sign-in/link/{token}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_url}/today")


def _current_step(page: Any) -> Any:
    return page.locator("#current-title")


def test_run_two_steps_in_task_mode(
    page: Any,
    api_url: str,
    database: Database,
    axe_source: str,
    screenshots: Path,
    workers: Workers,
) -> None:
    world = make_world(database)  # the mock provider: asynchronous runs go to the worker
    _sign_in(page, api_url, database, world.tenant, "csm")
    page.goto(f"{api_url}/executions/{world.executions[0]}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Prepare for Globex")
    assert "Data Snapshot" in _current_step(page).inner_text()
    assert page.get_by_text("Skip this step").is_visible()
    check_both_themes(page, axe_source, screenshots, None)

    region = page.locator("#run-region")
    for step, following in (
        ("Data Snapshot", "Value and Risk Analysis"),
        ("Value and Risk Analysis", "Renewal Planning"),
    ):
        page.get_by_role("button", name="Run this step").click()
        # the progress, announced politely, until a worker takes the run up
        progress = region.locator('[data-run-status="queued"]')
        progress.wait_for(timeout=5000)
        assert re.search(rf"{step} is queued", progress.inner_text())
        assert region.get_attribute("aria-live") == "polite"
        assert page.get_by_role("link", name="Refresh").is_visible()  # without JavaScript
        if step == "Data Snapshot":
            assert accessibility_violations(page, axe_source) == []  # the progress state too
        workers.start()
        # then the result (the page polls every second), and the next step current
        region.get_by_text(f"{step} is done.").wait_for(timeout=20000)
        workers.stop()
        assert following in _current_step(page).inner_text()
        assert page.evaluate("document.activeElement.id") == "run-region"  # focus stays put
    assert page.get_by_role("heading", name="Renewal brief for", exact=False).is_visible()
    assert page.locator(".step-result").count() == 2
    check_both_themes(page, axe_source, screenshots, "task-mode")


def test_a_manager_answers_an_approval(
    page: Any,
    api_url: str,
    database: Database,
    axe_source: str,
    screenshots: Path,
    worker: Workers,
) -> None:
    world = make_world(database, workflow="emergency", days=3)
    _sign_in(page, api_url, database, world.tenant, "manager")
    page.goto(f"{api_url}/executions/{world.executions[0]}")
    page.get_by_role("button", name="Run this step").click()
    page.locator("#run-region").get_by_text("Emergency Status Check is done.").wait_for()
    assert "Team Escalation" in _current_step(page).inner_text()
    form = page.locator("form.answer")
    assert form.get_by_role("group", name="Approved").is_visible()
    check_both_themes(page, axe_source, screenshots, "approval")
    form.get_by_label("Yes, approve").check()
    form.get_by_label("Note").fill("Call the CFO today.")
    form.get_by_role("button", name="Submit the approval").click()
    page.locator("#run-region").get_by_text("Team Escalation is done.").wait_for(timeout=20000)
    assert "Final Push" in _current_step(page).inner_text()
    assert page.get_by_text("Call the CFO today.").first.is_visible()
    assert accessibility_violations(page, axe_source) == []


def test_the_executions_list_and_timeline(
    page: Any,
    api_url: str,
    database: Database,
    axe_source: str,
    screenshots: Path,
    worker: Workers,
) -> None:
    world = make_world(database, customers=3)
    _sign_in(page, api_url, database, world.tenant, "admin")
    page.goto(f"{api_url}/executions/{world.executions[0]}")
    page.get_by_role("button", name="Run this step").click()
    page.locator("#run-region").get_by_text("Data Snapshot is done.").wait_for()
    page.goto(f"{api_url}/admin/executions")
    assert page.get_by_role("heading", name="Executions", level=1).is_visible()
    assert page.get_by_role("link", name="Task mode").count() == 3
    check_both_themes(page, axe_source, screenshots, "executions")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/admin/executions?*status=active*")
    page.goto(f"{api_url}/admin/executions/{world.executions[0]}")
    assert page.get_by_role("heading", name="Step by step").is_visible()
    assert page.get_by_text("LLM calls of this run").is_visible()
    check_both_themes(page, axe_source, screenshots, "execution-timeline")


def test_the_notifications_outbox(
    page: Any,
    api_url: str,
    database: Database,
    tenant_factory: Any,
    axe_source: str,
    screenshots: Path,
) -> None:
    tenant = tenant_factory()
    rows = [
        ("email", "Renewal plan ready for Globex", "pending", 0, None),
        ("email", "Approval needed: emergency renewal", "sent", 1, None),
        ("webhook", "Strategic account in emergency renewal", "failed", 2, "retryable: HTTP 503"),
        ("email", "Escalation to the VP", "failed", 0, "permanent: no address for the VP"),
        ("in_app", "Rescue plan not approved", "acknowledged", 1, None),
    ]
    with database.tenant_transaction(tenant) as conn:
        for channel, title, status, attempts, error in rows:
            conn.execute(
                """INSERT INTO notifications (tenant_id, recipient, channel, notification_type,
                     title, message, priority, status, attempts, last_error)
                   VALUES (current_tenant_id(), 'sam@vendor.example', %s, 'note', %s,
                     'The <b>message</b>, as rendered.', 'high', %s, %s, %s)""",
                (channel, title, status, attempts, error),
            )
    _sign_in(page, api_url, database, tenant, "manager")
    page.goto(f"{api_url}/admin/notifications")
    assert page.get_by_role("heading", name="Notifications outbox").is_visible()
    assert page.get_by_text("undeliverable", exact=True).first.is_visible()
    page.locator("summary", has_text="Message").first.click()
    assert page.get_by_text("The <b>message</b>, as rendered.").first.is_visible()
    check_both_themes(page, axe_source, screenshots, "notifications")
    page.get_by_label("Channel").select_option("webhook")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/admin/notifications?*channel=webhook*")
    assert page.locator(".note-title").count() == 1
