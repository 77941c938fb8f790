"""The action plan in the console: the inbox by bucket with its filters in the URL, a task's page,
and the actions (complete, snooze, skip, reopen, run now) without JavaScript (303 back) and with
htmx (swapped in place); a CSM's own book, CSRF, and another tenant's tasks (404)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from psycopg.types.json import Jsonb

from renewflow import context, tasks
from renewflow.db import Database
from renewflow.engine import start_execution
from renewflow.tasks import Task, TaskCreate
from renewflow.workflows import service as workflows
from tests.console.conftest import SignedIn

pytestmark = pytest.mark.usefixtures("core_library_seeded")

HTMX = {"HX-Request": "true"}
ACTIONS = ("complete", "snooze", "skip", "reopen", "execute")


# -- data: shared with the customer page's tests and the browser's ------------------------------


def make_customer(
    database: Database,
    tenant: uuid.UUID,
    name: str = "Globex",
    *,
    csm_email: str | None = None,
    days: int = 130,
    workflow: str = "prepare",
    **fields: Any,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A customer renewing in `days` with a running playbook; returns (customer, execution)."""
    with database.tenant_transaction(tenant) as conn:
        customer_id, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {
                    "name": name,
                    "arr": 120_000,
                    "renewalDate": (today_utc() + timedelta(days=days)).isoformat(),
                    **({"csmEmail": csm_email} if csm_email else {}),
                    **fields,
                }
            ),
        )
        execution = start_execution(
            conn,
            customer_id=customer_id,
            workflow=workflows.get_workflow(conn, tenant, workflow),
            started_by=None,
            reason={"rule": "manual"},
        )
    return customer_id, execution


def make_task(
    database: Database,
    tenant: uuid.UUID,
    customer: uuid.UUID,
    execution: uuid.UUID,
    action: str,
    **fields: Any,
) -> Task:
    values: dict[str, Any] = {
        "workflow_execution_id": execution,
        "customer_id": customer,
        "task_type": "CSM_TASK",
        "owner": "CSM",
        "action": action,
        "description": f"{action}, as the playbook asks",
        "priority": 2,
    }
    if fields.get("task_type") == "AI_TASK":
        values["owner"] = "AI"
    with database.tenant_transaction(tenant) as conn:
        return tasks.create_task(conn, TaskCreate.model_validate({**values, **fields}))


def read_task(database: Database, tenant: uuid.UUID, task_id: uuid.UUID) -> Task:
    with database.tenant_transaction(tenant) as conn:
        return tasks.get_task(conn, task_id)


def today_utc() -> date:
    return datetime.now(UTC).date()


def section(html: str, bucket: str) -> str:
    found = re.search(
        rf'<section aria-labelledby="bucket-{bucket}".*?</section>', html, flags=re.DOTALL
    )
    assert found, f"no {bucket} section"
    return found.group(0)


def wall_clock(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


# -- fixtures ----------------------------------------------------------------------------------


class Desk:
    """A manager signed in, a customer with a running playbook, and a task on it."""

    def __init__(self, database: Database, signed: SignedIn) -> None:
        self.database = database
        self.signed = signed
        self.customer, self.execution = make_customer(database, signed.tenant, "Initech")
        self.task = make_task(database, signed.tenant, self.customer, self.execution, "Call CFO")

    def add(self, action: str, **fields: Any) -> Task:
        return make_task(
            self.database, self.signed.tenant, self.customer, self.execution, action, **fields
        )

    def read(self, task_id: uuid.UUID | None = None) -> Task:
        return read_task(self.database, self.signed.tenant, task_id or self.task.id)

    def post(self, verb: str, data: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.signed.client.post(
            f"/tasks/{self.task.id}/{verb}",
            data={"csrf": self.signed.csrf(), **(data or {})},
            **kw,
        )


@pytest.fixture
def desk(database: Database, console_as: Callable[..., SignedIn]) -> Desk:
    return Desk(database, console_as("manager"))


# -- the inbox ---------------------------------------------------------------------------------


def test_the_inbox_groups_tasks_by_bucket(desk: Desk) -> None:
    today = today_utc()
    desk.add("Chase the PO", due_date=today - timedelta(days=2))
    desk.add("Send the deck", due_date=today)
    desk.add("Plan the QBR", due_date=today + timedelta(days=5))
    snoozed = desk.add("Wait for legal")
    closed = desk.add("Intro the new AE")
    ai = desk.add("Draft the renewal email", task_type="AI_TASK", processor="noop")
    parent = desk.add("Map stakeholders")
    first = desk.add("Find the champion", parent_task_id=str(parent.id))
    desk.add("Meet the CFO", parent_task_id=str(parent.id))
    with desk.database.tenant_transaction(desk.signed.tenant) as conn:
        tasks.snooze_task(conn, snoozed.id, datetime.now(UTC) + timedelta(days=1))
        tasks.complete_task(conn, closed.id)
        tasks.complete_task(conn, first.id)

    page = desk.signed.client.get("/tasks")
    assert page.status_code == 200
    html = page.text
    assert "Chase the PO" in section(html, "overdue")
    assert "Send the deck" in section(html, "today")
    upcoming = section(html, "upcoming")
    assert "Plan the QBR" in upcoming
    assert "Call CFO" in upcoming  # no due date: upcoming
    assert "Wait for legal" in section(html, "snoozed")
    assert "Intro the new AE" in section(html, "done")
    row = re.search(rf'<li id="row-{ai.id}".*?</li>', html, flags=re.DOTALL)
    assert row
    assert 'class="badge badge-ai_task">AI<' in row.group(0)
    parent_row = re.search(rf'<li id="row-{parent.id}".*?</li>', html, flags=re.DOTALL)
    assert parent_row
    assert "1/2 <span" in parent_row.group(0)  # sub-task progress
    assert ">Find the champion<" not in html  # sub-tasks live on their parent's page
    assert 'href="#bucket-overdue">Overdue <span class="count">1</span>' in html


def test_filters_live_in_the_url(desk: Desk, database: Database) -> None:
    other, execution = make_customer(database, desk.signed.tenant, "Hooli")
    make_task(database, desk.signed.tenant, other, execution, "Hooli kickoff")
    desk.add("Run the health check", task_type="AI_TASK", processor="noop")
    desk.add("Mine to do", assigned_to=str(desk.signed.user))
    client = desk.signed.client

    def actions(url: str) -> set[str]:
        return set(re.findall(r'<a href="/tasks/[0-9a-f-]+">([^<]+)</a>', client.get(url).text))

    everything = actions("/tasks")
    assert {"Call CFO", "Hooli kickoff", "Run the health check", "Mine to do"} <= everything
    assert actions("/tasks?type=ai") == {"Run the health check"}
    assert "Run the health check" not in actions("/tasks?type=csm")
    assert actions(f"/tasks?customer={other}") == {"Hooli kickoff"}
    assert actions("/tasks?scope=mine") == {"Mine to do"}
    page = client.get("/tasks?scope=mine&type=csm").text
    assert '<option value="mine" selected>' in page
    assert '<option value="csm" selected>' in page
    assert '<a href="/tasks">Clear the filters</a>' in page
    odd = client.get("/tasks?scope=nobody&type=robots&customer=x")
    assert odd.status_code == 200
    assert "Ignored what the link asked for (scope, customer, type)" in odd.text
    assert actions(f"/tasks?customer={uuid.uuid4()}") == set()
    assert "No task matches these filters." in client.get(f"/tasks?customer={uuid.uuid4()}").text


def test_an_empty_action_plan_says_what_comes_next(console_as: Callable[..., SignedIn]) -> None:
    page = console_as("csm").client.get("/tasks").text
    assert "No tasks yet: they arrive as the playbooks run for your customers." in page
    assert 'href="/book"' in page


def test_a_csm_works_their_own_book(
    desk: Desk, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    csm = console_as("csm", desk.signed.tenant)
    owned, execution = make_customer(database, csm.tenant, "Umbrella", csm_email=csm.email)
    theirs = make_task(database, csm.tenant, owned, execution, "Umbrella QBR")
    assigned = desk.add("Covering for Sam", assigned_to=str(csm.user))
    page = csm.client.get("/tasks").text
    assert "Umbrella QBR" in page
    assert "Covering for Sam" in page
    assert "Call CFO" not in page  # another CSM's customer, not assigned to them
    assert 'name="scope"' not in page  # mine/all is for managers
    widened = csm.client.get("/tasks?scope=all").text
    assert "Ignored what the link asked for (scope)" in widened
    assert "Call CFO" not in widened
    for task in (theirs, assigned):
        assert csm.client.get(f"/tasks/{task.id}").status_code == 200
    refused = csm.client.get(f"/tasks/{desk.task.id}")
    assert refused.status_code == 403
    assert "another CSM" in refused.text
    for verb in ACTIONS:
        answer = csm.post(f"/tasks/{desk.task.id}/{verb}", {"reason": "x", "until": "x"})
        assert answer.status_code == 403, verb
    assert desk.read().status.value == "pending"
    # and the manager sees everything
    assert "Umbrella QBR" in desk.signed.client.get("/tasks").text


# -- a task's page -----------------------------------------------------------------------------


def test_the_task_page_shows_sub_tasks_and_the_ai_run(
    desk: Desk, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    parent = desk.add("Map stakeholders", due_date=today_utc() + timedelta(days=3))
    child = desk.add("Find the champion", parent_task_id=str(parent.id))
    desk.add("Meet the CFO", parent_task_id=str(parent.id))
    with database.tenant_transaction(desk.signed.tenant) as conn:
        tasks.complete_task(conn, child.id)
    page = desk.signed.client.get(f"/tasks/{parent.id}").text
    assert "<h1>Map stakeholders</h1>" in page
    assert '<span class="count">1/2 done</span>' in page
    assert f'href="/tasks/{child.id}">Find the champion</a>' in page
    assert f'href="/customers/{desk.customer}">Initech</a>' in page
    assert f'href="/executions/{desk.execution}">' in page
    assert "Open, due" in page

    ai = desk.add("Update the CRM contact", task_type="AI_TASK", processor="noop")
    with database.tenant_transaction(desk.signed.tenant) as conn:
        conn.execute(
            "UPDATE workflow_tasks SET execution_status = 'failed', attempts = 5, "
            "last_error = 'CRM timeout', execution_result = %s WHERE id = %s",
            (Jsonb({"crm": "down"}), ai.id),
        )
    page = desk.signed.client.get(f"/tasks/{ai.id}").text
    assert "CRM timeout" in page
    assert "&#34;crm&#34;: &#34;down&#34;" in page or '"crm": "down"' in page
    assert ">Retry now</button>" in page
    csm = console_as("csm", desk.signed.tenant)
    with database.tenant_transaction(desk.signed.tenant) as conn:
        conn.execute("UPDATE customers SET csm_id = %s WHERE id = %s", (csm.user, desk.customer))
    as_csm = csm.client.get(f"/tasks/{ai.id}").text
    assert "Retry now" not in as_csm
    assert "A manager or an admin can run it now." in as_csm


# -- actions -----------------------------------------------------------------------------------


def test_complete_reopen_and_skip_without_javascript(desk: Desk) -> None:
    done = desk.post("complete")
    assert done.status_code == 303
    assert done.headers["location"] == f"/tasks/{desk.task.id}?result=completed&task={desk.task.id}"
    assert desk.read().status.value == "completed"
    after = desk.signed.client.get(done.headers["location"]).text
    assert "Completed “Call CFO”." in after
    assert 'id="task-status" class="task-status" tabindex="-1" autofocus' in after
    again = desk.post("complete")
    assert again.status_code == 409  # the domain refuses; the page says why
    assert "reopen it first" in again.text
    assert desk.post("reopen").status_code == 303
    assert desk.read().status.value == "pending"

    for reason in ("", "   "):
        refused = desk.post("skip", {"reason": reason})
        assert refused.status_code == 422
        assert f'id="t{desk.task.id}-reason-error">A reason is required to skip a task.' in (
            refused.text
        )
        assert 'aria-invalid="true"' in refused.text
        assert '<details class="task-action" open>' in refused.text
    assert desk.read().status.value == "pending"
    too_long = desk.post("skip", {"reason": "x" * 2001})
    assert too_long.status_code == 422
    assert "At most 2000 characters." in too_long.text
    skipped = desk.post("skip", {"reason": "They signed early", "next": "/tasks?type=csm"})
    assert skipped.status_code == 303
    assert skipped.headers["location"] == f"/tasks?type=csm&result=skipped&task={desk.task.id}"
    task = desk.read()
    assert (task.status.value, task.skip_reason) == ("skipped", "They signed early")
    inbox = desk.signed.client.get(skipped.headers["location"]).text
    assert "Skipped “Call CFO”." in inbox
    assert "They signed early" in section(inbox, "done")


def test_a_snooze_lands_at_the_time_asked_in_the_zone_asked(desk: Desk) -> None:
    until = datetime.combine(
        today_utc() + timedelta(days=2),
        datetime.min.time().replace(hour=10),
        ZoneInfo("Asia/Tokyo"),
    )
    answer = desk.post("snooze", {"until": until.strftime("%Y-%m-%dT%H:%M"), "zone": "Asia/Tokyo"})
    assert answer.status_code == 303, answer.text
    task = desk.read()
    assert task.status.value == "snoozed"
    assert task.snoozed_until == until
    page = desk.signed.client.get(answer.headers["location"]).text
    assert "Snoozed “Call CFO” until" in page
    # an ISO instant with its offset needs no zone
    instant = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    assert desk.post("snooze", {"until": instant.isoformat()}).status_code == 303
    assert desk.read().snoozed_until == instant


@pytest.mark.parametrize(
    ("until", "zone", "field", "message"),
    [
        ("past", "Europe/Paris", "until", "Must be in the future."),
        ("late", "Europe/Paris", "until", "Must not be after the snooze deadline, "),
        ("soon", "", "zone", "Choose the time zone of this date and time."),
        ("soon", "Mars/Olympus", "zone", "&#39;Mars/Olympus&#39; is not a time zone"),
        ("next tuesday", "UTC", "until", "Enter a date and time, like 2030-03-01 09:00."),
        ("", "UTC", "until", "Enter the date and time the task comes back."),
    ],
)
def test_a_snooze_that_cannot_be_comes_back_with_the_error_by_its_field(
    desk: Desk, until: str, zone: str, field: str, message: str
) -> None:
    now = datetime.now(UTC)
    moments = {
        "past": now - timedelta(hours=2),
        "late": now + timedelta(days=8),  # the first snooze's deadline is 7 days ahead
        "soon": now + timedelta(days=1),
    }
    clock = zone if zone == "Europe/Paris" else "UTC"
    sent = wall_clock(moments[until], clock) if until in moments else until
    answer = desk.post("snooze", {"until": sent, "zone": zone})
    assert answer.status_code == 422
    prefix = f"t{desk.task.id}-"
    assert re.search(
        rf'<p class="field-error" id="{prefix}{field}-error">{re.escape(message)}', answer.text
    ), answer.text
    field_tag = re.search(rf'<input id="{prefix}{field}"[^>]*>', answer.text)
    assert field_tag
    assert 'aria-invalid="true"' in field_tag.group(0)
    assert "autofocus" in field_tag.group(0)
    kept = re.search(rf'<input id="{prefix}until"[^>]*value="([^"]*)"', answer.text)
    assert kept
    assert kept.group(1) == sent  # the input is kept
    zone_kept = re.search(rf'<input id="{prefix}zone"[^>]*value="([^"]*)"', answer.text)
    assert zone_kept
    assert zone_kept.group(1) == zone
    task = desk.read()
    assert (task.status.value, task.snooze_count) == ("pending", 0)


def test_past_the_snooze_deadline_a_decision_is_due(desk: Desk, database: Database) -> None:
    with database.tenant_transaction(desk.signed.tenant) as conn:
        conn.execute(
            "UPDATE workflow_tasks SET snooze_count = 2, first_snoozed_at = now() - interval "
            "'8 days', snooze_deadline = now() - interval '1 day' WHERE id = %s",
            (desk.task.id,),
        )
    page = desk.signed.client.get(f"/tasks/{desk.task.id}").text
    assert "decision due" in page
    assert 'name="until"' not in page  # no snooze form to fill in vain
    answer = desk.post(
        "snooze",
        {"until": wall_clock(datetime.now(UTC) + timedelta(hours=3), "UTC"), "zone": "UTC"},
    )
    assert answer.status_code == 409
    assert "The snooze deadline has passed: complete or skip this task instead." in answer.text
    assert desk.read().snooze_count == 2


def test_htmx_swaps_the_row_or_the_panel_in_place(desk: Desk) -> None:
    row = desk.post("complete", {"view": "inbox", "next": "/tasks"}, headers=HTMX)
    assert row.status_code == 200
    assert "<!doctype html>" not in row.text
    assert f'<a href="/tasks/{desk.task.id}" autofocus>Call CFO</a>' in row.text
    assert f'hx-post="/tasks/{desk.task.id}/reopen" hx-target="#row-{desk.task.id}"' in row.text
    assert '<div id="announce" hx-swap-oob="innerHTML">Completed “Call CFO”.</div>' in row.text
    assert desk.read().status.value == "completed"

    panel = desk.post("reopen", {"view": "task"}, headers=HTMX)
    assert panel.status_code == 200
    assert 'id="task-status" class="task-status" tabindex="-1" autofocus' in panel.text
    assert 'hx-target="#task-panel"' in panel.text
    assert "Reopened “Call CFO”." in panel.text

    # an error comes back to swap too (htmx swaps only 2xx): the field, its error, the input
    bad = desk.post(
        "snooze",
        {"view": "inbox", "next": "/tasks", "until": "2001-01-01T09:00", "zone": "UTC"},
        headers=HTMX,
    )
    assert bad.status_code == 200
    assert "Must be in the future." in bad.text
    assert 'value="2001-01-01T09:00"' in bad.text
    assert re.search(r'<input id="t[^"]+-until"[^>]*autofocus', bad.text)
    assert "Nothing was changed: check the form." in bad.text
    assert desk.read().status.value == "pending"


def test_run_now_is_for_managers_and_admins(
    desk: Desk, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    ai = desk.add("Post to the CRM", task_type="AI_TASK", processor="noop")
    with database.tenant_transaction(desk.signed.tenant) as conn:
        conn.execute(
            "UPDATE workflow_tasks SET execution_status = 'failed', attempts = 5 WHERE id = %s",
            (ai.id,),
        )
    csm = console_as("csm", desk.signed.tenant)
    with database.tenant_transaction(desk.signed.tenant) as conn:
        conn.execute("UPDATE customers SET csm_id = %s WHERE id = %s", (csm.user, desk.customer))
    refused = csm.post(f"/tasks/{ai.id}/execute")
    assert refused.status_code == 403
    assert desk.read(ai.id).execution_status == tasks.ExecutionStatus.FAILED
    queued = desk.signed.post(f"/tasks/{ai.id}/execute")
    assert queued.status_code == 303
    task = desk.read(ai.id)
    assert task.execution_status is not None
    assert (task.execution_status.value, task.attempts) in {
        ("queued", 0),
        ("running", 1),
        ("success", 1),
    }
    csm_task = desk.signed.post(f"/tasks/{desk.task.id}/execute")
    assert csm_task.status_code == 409
    assert "only AI tasks execute" in csm_task.text


def test_a_post_without_the_csrf_token_changes_nothing(desk: Desk) -> None:
    for verb in ACTIONS:
        for data in ({}, {"csrf": "0" * 64}):
            answer = desk.signed.client.post(
                f"/tasks/{desk.task.id}/{verb}", data={**data, "reason": "x", "until": "x"}
            )
            assert answer.status_code == 403, verb
            assert "security token" in answer.text
    task = desk.read()
    assert (task.status.value, task.snooze_count, task.attempts) == ("pending", 0, 0)


def test_another_tenants_task_is_not_found(
    desk: Desk, database: Database, console_as: Callable[..., SignedIn]
) -> None:
    stranger = console_as("admin")
    client = stranger.client
    missing = client.get(f"/tasks/{uuid.uuid4()}")
    theirs = client.get(f"/tasks/{desk.task.id}")
    assert missing.status_code == theirs.status_code == 404
    assert theirs.text == missing.text  # exactly like a task that does not exist
    assert client.get("/tasks/not-a-task").status_code == 404
    assert "Call CFO" not in client.get("/tasks").text
    for verb in ACTIONS:
        data = {
            "reason": "mine now",
            "until": wall_clock(datetime.now(UTC) + timedelta(hours=5), "UTC"),
            "zone": "UTC",
        }
        answer = stranger.post(f"/tasks/{desk.task.id}/{verb}", data)
        nothing = stranger.post(f"/tasks/{uuid.uuid4()}/{verb}", data)
        assert answer.status_code == nothing.status_code == 404, verb
        assert answer.text == nothing.text
    task = desk.read()
    assert (task.status.value, task.snooze_count) == ("pending", 0)


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/tasks", "/\\evil.example", "/admin"]
)
def test_the_way_back_stays_on_the_action_plan(desk: Desk, target: str) -> None:
    answer = desk.post("complete", {"next": target})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/tasks/{desk.task.id}?result=completed")


def test_an_htmx_navigation_gets_the_main_block(desk: Desk) -> None:
    partial = desk.signed.client.get("/tasks", headers=HTMX)
    assert "<!doctype html>" not in partial.text
    assert "<h1>Action plan</h1>" in partial.text
    restore = desk.signed.client.get(
        f"/tasks/{desk.task.id}", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert "<!doctype html>" in restore.text
