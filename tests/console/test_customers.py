"""The customer page: profile, contract on the tenant's calendar, contacts (primary first), six
months of usage (a line per metric and a table), intelligence, the action plan, executions with
their timelines, notifications; a CSM's own book, and another tenant's customer (404)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from renewflow import context, tasks
from renewflow.console.render import format_days
from renewflow.db import Database
from tests.console.conftest import SignedIn
from tests.console.test_tasks import make_customer, make_task, today_utc

pytestmark = pytest.mark.usefixtures("core_library_seeded")


def make_full_customer(database: Database, tenant: uuid.UUID) -> dict[str, uuid.UUID]:
    """A customer with something in every section of its page."""
    customer, execution = make_customer(
        database,
        tenant,
        "Acme Corp",
        days=130,
        domain="acme.example",
        industry="Manufacturing",
        tier="Enterprise",
        segment="Strategic",
    )
    today = today_utc()
    with database.tenant_transaction(tenant) as conn:
        context.add_contact(conn, customer, context.ContactIn(name="Zoe Buyer", role="CFO"))
        context.add_contact(
            conn,
            customer,
            context.ContactIn(
                name="Ann Champion", role="champion", email="ann@acme.example", isPrimary=True
            ),
        )
        context.record_usage(
            conn,
            customer,
            [
                context.UsageIn(
                    metricName="active_users",
                    metricDate=today - timedelta(days=days),
                    value=Decimal(value),
                )
                for days, value in ((150, 80), (90, 95), (30, 100), (0, 112))
            ]
            + [
                context.UsageIn(metricName="logins", metricDate=today, value=Decimal(40)),
                context.UsageIn(  # older than six months: not drawn
                    metricName="exports", metricDate=today - timedelta(days=400), value=Decimal(1)
                ),
            ],
        )
        context.set_intelligence(
            conn,
            customer,
            context.IntelligenceIn(
                riskScore=72,
                sentiment="negative",
                aiSummary="Usage grew, but the champion is leaving.",
                insights=["No executive sponsor", {"text": "Budget review in March"}],
            ),
        )
        conn.execute(
            "INSERT INTO workflow_step_executions (tenant_id, workflow_execution_id, step_id, "
            "step_index, status, outputs, started_at, completed_at) VALUES (current_tenant_id(), "
            "%s, 'data-snapshot', 0, 'completed', '{}', now() - interval '1 hour', now())",
            (execution,),
        )
        conn.execute(
            "UPDATE workflow_executions SET current_step_id = 'value-risk-analysis' WHERE id = %s",
            (execution,),
        )
        conn.execute(
            "INSERT INTO notifications (tenant_id, customer_id, workflow_execution_id, recipient, "
            "channel, notification_type, title, message, priority, status, attempts, last_error) "
            "VALUES (current_tenant_id(), %s, %s, 'vp@vendor.example', 'email', 'escalation', "
            "'Renewal at risk', 'Look at Acme', 'high', 'failed', 2, 'retryable: SMTP 421')",
            (customer, execution),
        )
    parent = make_task(database, tenant, customer, execution, "Map stakeholders", priority=1)
    child = make_task(
        database, tenant, customer, execution, "Find a champion", parent_task_id=str(parent.id)
    )
    make_task(database, tenant, customer, execution, "Meet the CFO", parent_task_id=str(parent.id))
    ai = make_task(
        database,
        tenant,
        customer,
        execution,
        "Draft the email",
        task_type="AI_TASK",
        processor="noop",
        priority=3,
    )
    closed = make_task(database, tenant, customer, execution, "Send the survey", priority=1)
    with database.tenant_transaction(tenant) as conn:
        tasks.complete_task(conn, child.id)
        tasks.complete_task(conn, closed.id)
    return {
        "customer": customer,
        "execution": execution,
        "parent": parent.id,
        "ai": ai.id,
        "closed": closed.id,
    }


def test_the_customer_page_shows_the_whole_account(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    ids = make_full_customer(database, signed.tenant)
    answer = signed.client.get(f"/customers/{ids['customer']}")
    assert answer.status_code == 200
    page = answer.text
    assert "<h1>Acme Corp</h1>" in page
    for value in ("acme.example", "Manufacturing", "Enterprise", "Strategic"):
        assert f"<dd>{value}</dd>" in page
    assert "$120k" in page
    assert '<span class="card-value">130</span>' in page
    assert "Prepare" in page
    # contacts: the primary one first
    assert page.index("Ann Champion") < page.index("Zoe Buyer")
    assert 'badge-primary">primary</span>' in page
    # usage: a line per metric in the window, and the same as a table
    assert page.count('<svg class="spark"') == 2
    assert "active users: 80 to 112 over the last 6 months (+40%)" in page
    assert "exports" not in page
    assert "<summary>Usage as a table" in page
    assert '<th scope="row">active users</th>' in page
    # intelligence
    assert '<span class="risk high" title="Risk score 72 of 100">72</span>' in page
    assert "Usage grew, but the champion is leaving." in page
    assert "<li>No executive sponsor</li>" in page
    assert "<li>Budget review in March</li>" in page
    # the action plan: open first, with badges and sub-task progress
    plan = page[page.index('id="plan-title"') : page.index('id="executions-title"')]
    assert (
        plan.index("Map stakeholders")
        < plan.index("Draft the email")
        < plan.index("Send the survey")
    )
    assert f'href="/tasks/{ids["parent"]}">Map stakeholders</a>' in plan
    assert "1/2 <span" in plan
    assert 'badge-ai_task">AI<' in plan
    assert "Closed tasks (1)" in plan
    # executions and their timeline
    assert f'<a href="/executions/{ids["execution"]}">Prepare</a>' in page
    timeline = re.findall(r'<li class="([a-z-]+)">\s*<span class="step-name">([^<]+)<', page)
    assert timeline[:3] == [
        ("completed", "Data Snapshot"),
        ("current", "Value and Risk Analysis"),
        ("not-reached", "Renewal Planning"),
    ]
    # notifications
    assert "Renewal at risk" in page
    assert "after 2 attempts: retryable: SMTP 421" in page


def test_days_left_count_on_the_tenants_calendar(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    zone = "Pacific/Kiritimati"  # UTC+14: often a day ahead of UTC
    with database.service_transaction() as conn:
        conn.execute("UPDATE tenants SET time_zone = %s WHERE id = %s", (zone, signed.tenant))
    customer, _ = make_customer(database, signed.tenant, "Tomorrowland", days=10)
    with database.tenant_transaction(signed.tenant) as conn:
        renewal = conn.execute(
            "SELECT renewal_date FROM contracts WHERE customer_id = %s", (customer,)
        ).fetchone()
    assert renewal
    days = (renewal["renewal_date"] - datetime.now(ZoneInfo(zone)).date()).days
    page = signed.client.get(f"/customers/{customer}").text
    assert f'<span class="card-value">{days}</span>' in page
    assert f"{format_days(days)}, on the tenant's calendar" in page


def test_an_empty_customer_says_what_to_do_next(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    with database.tenant_transaction(signed.tenant) as conn:
        customer, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {"name": "Blank Ltd", "arr": 1000, "renewalDate": "2031-01-01"}
            ),
        )
        conn.execute("UPDATE contracts SET status = 'churned' WHERE customer_id = %s", (customer,))
    page = signed.client.get(f"/customers/{customer}").text
    assert "No active contract." in page
    assert "No contacts yet." in page
    assert "No usage in the last 6 months." in page
    assert "No intelligence yet" in page
    assert "No tasks yet" in page
    assert "No playbook has run yet." in page
    assert "No notifications about this customer yet." in page


def test_a_csm_opens_the_customers_of_their_book(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    manager = console_as("manager")
    csm = console_as("csm", manager.tenant)
    owned, _ = make_customer(database, manager.tenant, "Umbrella", csm_email=csm.email)
    covered, execution = make_customer(database, manager.tenant, "Hooli")
    elsewhere, _ = make_customer(database, manager.tenant, "Pied Piper")
    make_task(
        database, manager.tenant, covered, execution, "Cover the QBR", assigned_to=str(csm.user)
    )
    assert csm.client.get(f"/customers/{owned}").status_code == 200
    assert csm.client.get(f"/customers/{covered}").status_code == 200  # a task of theirs there
    refused = csm.client.get(f"/customers/{elsewhere}")
    assert refused.status_code == 403
    assert "another CSM" in refused.text
    assert "Pied Piper" not in refused.text
    for customer in (owned, covered, elsewhere):
        assert manager.client.get(f"/customers/{customer}").status_code == 200
    assert (
        console_as("admin", manager.tenant).client.get(f"/customers/{elsewhere}").status_code == 200
    )


def test_another_tenants_customer_is_not_found(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    owner = console_as("manager")
    customer, _ = make_customer(database, owner.tenant, "Secret Inc")
    stranger = console_as("admin")
    theirs = stranger.client.get(f"/customers/{customer}")
    missing = stranger.client.get(f"/customers/{uuid.uuid4()}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text  # exactly like a customer that does not exist
    assert "Secret Inc" not in theirs.text
    assert stranger.client.get("/customers/not-an-id").status_code == 404


def test_the_customer_page_is_a_read(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    """No state-changing route: a POST is refused (CSRF first, then the method), and the page
    works as a plain read, a partial for htmx and a whole page for a history restore."""
    signed = console_as("csm")
    customer, execution = make_customer(database, signed.tenant, "Readonly", csm_email=signed.email)
    snoozed = make_task(database, signed.tenant, customer, execution, "Wake me")
    with database.tenant_transaction(signed.tenant) as conn:
        tasks.snooze_task(conn, snoozed.id, datetime.now(UTC) + timedelta(hours=1))
        conn.execute(
            "UPDATE workflow_tasks SET snoozed_until = now() - interval '1 minute' WHERE id = %s",
            (snoozed.id,),
        )
    assert signed.client.post(f"/customers/{customer}", data={}).status_code in (403, 405)
    partial = signed.client.get(f"/customers/{customer}", headers={"HX-Request": "true"})
    assert "<!doctype html>" not in partial.text
    assert "<h1>Readonly</h1>" in partial.text
    restore = signed.client.get(
        f"/customers/{customer}",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<!doctype html>" in restore.text
    # a due snooze has woken by the time the page reads the plan (the domain's rule)
    assert 'status-pending">pending</span>' in restore.text
