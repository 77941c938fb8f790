"""The ledger screen at the HTML level: admins and managers only (a CSM: the 403 page), the
health of each scheduled job, the budget's spend, costs by day (the SVG chart and its table) and
by type, recent failures, the runs filtered by type, status and dates (a bad filter shown at its
field), and only the tenant's own figures."""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from renewflow.db import Database
from tests.console.conftest import SignedIn


def add_run(
    database: Database,
    tenant: uuid.UUID,
    task_type: str,
    status: str = "completed",
    *,
    days_ago: float = 0,
    cost: str = "0",
    seconds: float = 2,
    error: str | None = None,
) -> uuid.UUID:
    """A finished ledger row, written as the owner so its time and cost can be set."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    with database.owner_connection() as conn:
        row = conn.execute(
            "INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at,"
            " completed_at, cost_estimate_usd, error_message, triggered_by, last_succeeded_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'cron',"
            " CASE WHEN %s IN ('completed', 'partial_failure') THEN %s END) RETURNING id",
            (
                tenant,
                task_type,
                status,
                at,
                at + timedelta(seconds=seconds),
                Decimal(cost),
                error,
                status,
                at + timedelta(seconds=seconds),
            ),
        ).fetchone()
    assert row is not None
    run_id: uuid.UUID = row["id"]
    return run_id


def set_budget(database: Database, tenant: uuid.UUID, daily: str) -> None:
    with database.owner_connection() as conn:
        conn.execute(
            "UPDATE tenants SET settings = settings || %s::jsonb WHERE id = %s",
            (json.dumps({"budget": {"llm_daily_usd": daily}}), tenant),
        )


def _page(signed: SignedIn, query: str = "") -> str:
    answer = signed.client.get(f"/admin/ledger{query}")
    assert answer.status_code == 200, answer.text
    return html.unescape(answer.text)


@pytest.mark.parametrize("role", ["csm", "service"])
def test_the_ledger_is_for_admins_and_managers(
    console_as: Callable[..., SignedIn], role: str
) -> None:
    signed = console_as(role)
    answer = signed.client.get("/admin/ledger")
    assert answer.status_code == 403
    assert "Not for your role" in answer.text
    assert 'href="/admin/ledger"' not in signed.client.get("/today").text


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_admins_and_managers_see_it_in_the_navigation(
    console_as: Callable[..., SignedIn], role: str
) -> None:
    signed = console_as(role)
    today = signed.client.get("/today").text
    assert 'href="/admin/ledger"' in today
    assert 'href="/agents"' in today
    assert "<h1>Ledger</h1>" in _page(signed)


def test_an_empty_ledger_says_so_and_every_job_is_late_or_ok(
    console_as: Callable[..., SignedIn],
) -> None:
    page = _page(console_as("admin"))
    assert "No run yet" in page
    assert "No failure in this period." in page
    assert "No LLM budget is set" in page
    for job in ("tasks.sweep", "engine.renewal_sweep", "notify.deliver", "ledger.retention"):
        assert f"<code>{job}</code>" in page
    assert '<svg class="chart cost-chart"' in page
    assert "$0.00 in all" in page


def test_health_failures_costs_and_types(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("manager")
    tenant = signed.tenant
    add_run(database, tenant, "task_sweep")  # fresh: ok
    add_run(database, tenant, "renewal_sweep", days_ago=3, cost="0.40")  # hourly: 3 days is down
    add_run(database, tenant, "renewal_sweep", "failed", days_ago=1, error="db unreachable")
    add_run(database, tenant, "ai_task_execution", days_ago=1, cost="1.25", seconds=0.5)
    add_run(database, tenant, "ai_task_execution", "partial_failure", cost="0.0042", error="1 of 3")
    page = _page(signed)
    health = page.split('id="health-title"')[1].split("</table>")[0]
    task_sweep = health.split("<code>tasks.sweep</code>")[1].split("</tr>")[0]
    renewal = health.split("<code>engine.renewal_sweep</code>")[1].split("</tr>")[0]
    assert 'class="badge health-ok">ok' in task_sweep
    assert 'class="badge health-down">down' in renewal
    failures = page.split('id="failures-title"')[1].split("</section>")[0]
    assert "db unreachable" in failures
    assert "1 of 3" in failures
    assert failures.index("1 of 3") < failures.index("db unreachable")  # newest first
    # the chart: one bar a day that cost something, the peak and the total in its title
    costs = page.split('id="costs-title"')[1].split("</figure>")[0]
    assert costs.count('<rect class="bar"') == 3
    assert "$1.65 in all, at most $1.25 a day" in costs
    # the table: every day of the window, the newest first
    rows = costs.split("<tbody>")[1].split("</tbody>")[0].count("<tr>")
    assert rows == 30
    by_type = page.split('id="by-type-title"')[1].split("</table>")[0]
    assert by_type.index("ai task execution") < by_type.index("renewal sweep")  # by cost
    ai = by_type.split("ai task execution")[1].split("</tr>")[0]
    assert ">2</td>" in ai
    assert "$1.25" in ai
    assert "1.9 s" in ai


def test_the_runs_filter_by_type_status_and_dates(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    tenant = signed.tenant
    add_run(database, tenant, "renewal_sweep", days_ago=10)
    add_run(database, tenant, "renewal_sweep", "failed", days_ago=2, error="boom")
    add_run(database, tenant, "notification_delivery", days_ago=0)

    def runs(query: str) -> str:
        return _page(signed, query).split('id="runs-title"')[1].split("</section>")[0]

    assert '<span class="count">3</span>' in runs("")
    by_type = runs("?type=renewal_sweep")
    assert '<span class="count">2</span>' in by_type
    assert "notification delivery</th>" not in by_type
    assert '<option value="renewal_sweep" selected>' in by_type
    failed = runs("?type=renewal_sweep&status=failed")
    assert '<span class="count">1</span>' in failed
    assert "boom" in failed
    today = datetime.now(UTC).date()
    recent = runs(f"?since={(today - timedelta(days=5)).isoformat()}")
    assert '<span class="count">2</span>' in recent
    old = runs(f"?until={(today - timedelta(days=5)).isoformat()}")
    assert '<span class="count">1</span>' in old
    none = runs("?status=cancelled")
    assert "No run matches." in none
    assert "Clear the filters" in none


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?type=world_domination", "run-type", "There is no task type 'world_domination'"),
        ("?status=exploded", "run-status", "There is no status 'exploded'"),
        ("?since=yesterday", "run-since", "Enter a date, like 2030-03-01."),
        ("?since=2030-03-02&until=2030-03-01", "run-until", "Must not be before"),
        ("?days=12", "days", "Choose one of the windows offered."),
    ],
)
def test_a_bad_filter_is_shown_at_its_field_and_the_rest_still_applies(
    database: Database, console_as: Callable[..., SignedIn], query: str, field: str, message: str
) -> None:
    signed = console_as("admin")
    add_run(database, signed.tenant, "renewal_sweep")
    answer = signed.client.get(f"/admin/ledger{query}")
    assert answer.status_code == 422
    page = html.unescape(answer.text)
    assert f'id="{field}-error">{message}' in page
    assert f'aria-describedby="{field}-error"' in page
    assert "<h1>Ledger</h1>" in page


def test_the_budget_shows_its_spend(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    from tests.ledger.conftest import add_call

    signed = console_as("admin")
    set_budget(database, signed.tenant, "2.00")
    add_call(database, signed.tenant, "1.70")
    page = _page(signed)
    budget = page.split('id="budget-title"')[1].split("</section>")[0]
    assert "<strong>$1.70</strong> of $2.00 · 85.0%" in budget
    assert '<meter min="0" max="2.00" value="1.70"' in budget
    add_call(database, signed.tenant, "0.50")
    spent = _page(signed).split('id="budget-title"')[1].split("</section>")[0]
    assert "The LLM budget of this day is spent" in spent


def test_only_the_tenants_own_runs_are_shown(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    mine = console_as("admin")
    theirs = console_as("admin")
    add_run(database, theirs.tenant, "renewal_sweep", "failed", cost="9.99", error="theirs")
    page = _page(mine)
    assert "theirs" not in page
    assert "$9.99" not in page
    assert "theirs" in _page(theirs)
