"""Budgets: a budget crossed mid-run pauses the tenant's autonomous work at the next step (the
ledger says why) and it resumes in the next period; admins are told once per period."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from renewflow import agents, ledger
from renewflow.agents import AgentStepQueue
from renewflow.db import Database
from renewflow.jobs import Outcome
from renewflow.ledger import budget
from renewflow.ledger.jobs import run_health
from renewflow.llm import LLMClients
from tests.agents.conftest import three_steps
from tests.ledger.conftest import add_admin, add_call, ledger_rows, notices, set_settings


def _step(queue: AgentStepQueue) -> Outcome | None:
    leases = queue.claim("test", 1, 30)
    if not leases:
        return None
    return queue.run(leases[0])


def _statuses(database: Database, tenant: uuid.UUID, user: uuid.UUID, task_id: uuid.UUID):
    with database.tenant_transaction(tenant, user) as conn:
        task = agents.get_task(conn, task_id)
    return [s.status.value for s in task.steps], task


def test_a_budget_crossed_mid_run_pauses_at_the_next_step_and_resumes_next_period(
    database: Database,
    tenant: uuid.UUID,
    make_user: Callable[..., uuid.UUID],
) -> None:
    set_settings(database, tenant, {"budget": {"llm_daily_usd": "5.00"}})
    user = make_user(tenant)
    with database.tenant_transaction(tenant, user) as conn:
        task = agents.create_task(conn, three_steps())
        agents.run_task(conn, task.id)
    clients = LLMClients()
    queue = AgentStepQueue(database, clients, backoff=lambda attempt: 0.0)
    try:
        assert _step(queue) is Outcome.SUCCESS
        # the budget is crossed while the run goes on (another piece of work spent it)
        spent = add_call(database, tenant, "6.00")
        assert _step(queue) is Outcome.RETRY
        steps, paused = _statuses(database, tenant, user, task.id)
        assert steps == ["completed", "pending", "pending"]
        assert paused.status.value == "running"
        assert "budget of this day is spent" in (paused.steps[1].error_message or "")
        assert _step(queue) is None  # it waits: nothing is due
        [row] = ledger_rows(database, tenant, "agent_task_step")
        assert row["status"] == "cancelled"
        assert "budget" in row["error_message"]
        assert row["output_data"]["steps_paused"] == 1
        with database.tenant_transaction(tenant) as conn:
            assert budget.state(conn, tenant).exhausted is not None
            # the next period: what was spent is yesterday's
            tomorrow = datetime.now(UTC) + timedelta(days=1)
            assert budget.allows_autonomous(conn, tenant, tomorrow)
        with database.owner_connection() as conn:
            conn.execute(
                "UPDATE llm_calls SET created_at = now() - interval '1 day' WHERE id = %s",
                (spent,),
            )
            # the time it would have looked again has come
            conn.execute(
                "UPDATE task_steps SET run_after = now() WHERE task_id = %s AND status = 'pending'"
                " AND run_after IS NOT NULL",
                (task.id,),
            )
        assert _step(queue) is Outcome.SUCCESS
        assert _step(queue) is Outcome.SUCCESS
        steps, done = _statuses(database, tenant, user, task.id)
        assert steps == ["completed"] * 3
        assert done.status.value == "completed"
    finally:
        clients.close()


def test_a_raised_budget_allows_at_once(database: Database, tenant: uuid.UUID) -> None:
    set_settings(database, tenant, {"budget": {"llm_monthly_usd": "1.00"}})
    add_call(database, tenant, "1.00")
    with database.tenant_transaction(tenant) as conn:
        refused = budget.allows_autonomous(conn, tenant)
    assert not refused
    assert refused.reason
    assert refused.resumes_at is not None
    set_settings(database, tenant, {"budget": {"llm_monthly_usd": "2.00"}})
    with database.tenant_transaction(tenant) as conn:
        assert budget.allows_autonomous(conn, tenant)


def test_no_budget_allows_everything(database: Database, tenant: uuid.UUID) -> None:
    add_call(database, tenant, "1000")
    with database.service_transaction() as conn:
        state = ledger.allows_autonomous(conn, tenant)
    assert state
    assert state.reason is None
    assert state.usages == ()


def test_admins_are_told_once_per_period_at_the_alert_share_and_when_spent(
    database: Database, tenant: uuid.UUID
) -> None:
    add_admin(database, tenant)
    set_settings(database, tenant, {"budget": {"llm_daily_usd": "10.00"}})
    add_call(database, tenant, "7.00")
    run_health(database)
    assert notices(database, tenant, "llm_budget_alert") == []
    add_call(database, tenant, "1.50")
    run_health(database)
    run_health(database)
    assert len(notices(database, tenant, "llm_budget_alert")) == 1
    add_call(database, tenant, "2.00")
    run_health(database)
    run_health(database)
    [spent] = notices(database, tenant, "llm_budget_spent")
    assert "spent" in spent["message"]


def test_period_bounds() -> None:
    at = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    assert budget.period_bounds("day", at) == (
        datetime(2025, 12, 31, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert budget.period_bounds("month", at) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
