"""Budgets: a budget crossed mid-run pauses the tenant's autonomous work at the next step (the
ledger says why) and it resumes in the next period; an AI task whose processor calls an LLM
waits, uncharged, while the budget is spent and runs once it is raised or the period turns;
admins are told once per period."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from renewflow import agents, ledger, tasks
from renewflow.agents import AgentStepQueue
from renewflow.db import Database, Migrator
from renewflow.jobs import Outcome
from renewflow.ledger import budget
from renewflow.ledger.jobs import run_health
from renewflow.llm import LLMClients
from renewflow.tasks import ProcessorRegistry, TaskQueue
from renewflow.tasks.processors.builtin import BUILTINS
from tests.agents.conftest import three_steps
from tests.ledger.conftest import add_admin, add_call, ledger_rows, notices, set_settings
from tests.tasks.helpers import ai_data, make_world


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


@pytest.fixture(scope="module")
def tasks_db(make_database: Callable[[], str]) -> Iterator[Database]:
    """A database of its own: the task queue claims across tenants, and AI tasks that other
    modules leave queued in the shared database must not run here."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=4) as database:
        yield database


def _task(database: Database, task_id: uuid.UUID) -> dict[str, Any]:
    with database.service_transaction() as conn:
        row = conn.execute("SELECT * FROM workflow_tasks WHERE id = %s", (task_id,)).fetchone()
    assert row is not None
    return row


def _calls(database: Database, tenant: uuid.UUID) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant) as conn:
        return conn.execute("SELECT * FROM llm_calls ORDER BY created_at").fetchall()


@pytest.mark.parametrize("resume", ["the budget is raised", "the period turns"])
def test_a_spent_budget_pauses_an_llm_ai_task_until_it_may_run(
    tasks_db: Database, resume: str
) -> None:
    database = tasks_db
    world = make_world(database, "Budget")
    tenant = world.tenant_id
    set_settings(database, tenant, {"budget": {"llm_daily_usd": "1.00"}})
    spent = add_call(database, tenant, "1.00")
    with database.tenant_transaction(tenant) as conn:
        metadata = {"to": "the new CFO", "purpose": "book a 30-minute value review"}
        draft = tasks.create_task(conn, ai_data(world, "draft-email", metadata=metadata)).id
        plain = tasks.create_task(conn, ai_data(world, "noop")).id
    queue = TaskQueue(database, ProcessorRegistry(BUILTINS))

    leases = queue.claim("test", 10, 30)
    outcomes = dict(zip([lease.job_id for lease in leases], queue.run_batch(leases), strict=True))
    # the LLM processor waits; work that calls no LLM runs as usual
    assert outcomes == {draft: Outcome.RETRY, plain: Outcome.SUCCESS}
    paused = _task(database, draft)
    assert paused["execution_status"] == "queued"
    assert paused["attempts"] == 0  # the wait is not an attempt
    wait = paused["run_after"] - datetime.now(UTC)
    assert timedelta(minutes=4) < wait <= budget.RECHECK
    assert [c["id"] for c in _calls(database, tenant)] == [spent]  # no LLM call was made
    [row] = ledger_rows(database, tenant, "ai_task_execution")
    assert row["status"] == "cancelled"
    assert "the LLM budget of this day is spent" in row["error_message"]
    assert (row["output_data"]["paused"], row["output_data"]["succeeded"]) == (1, 1)
    assert queue.claim("test", 10, 30) == []  # nothing is due while it waits

    if resume == "the budget is raised":
        set_settings(database, tenant, {"budget": {"llm_daily_usd": "5.00"}})
    else:  # what was spent is yesterday's
        with database.owner_connection() as conn:
            conn.execute(
                "UPDATE llm_calls SET created_at = now() - interval '1 day' WHERE id = %s",
                (spent,),
            )
    with database.owner_connection() as conn:  # the time it looks again has come
        conn.execute("UPDATE workflow_tasks SET run_after = now() WHERE id = %s", (draft,))
    [lease] = queue.claim("test", 10, 30)
    assert lease.job_id == draft
    assert queue.run(lease) is Outcome.SUCCESS
    done = _task(database, draft)
    assert done["execution_status"] == "success"
    assert done["attempts"] == 1
    assert done["execution_result"]["artifact"]["type"] == "email"
    rows = ledger_rows(database, tenant, "ai_task_execution")
    assert rows[-1]["status"] == "completed"
    assert sum(r["output_data"].get("paused", 0) for r in rows) == 1
    [call] = [c for c in _calls(database, tenant) if c["id"] != spent]
    assert call["autonomous_task_id"] == rows[-1]["id"]  # the run's cost is the call's


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
