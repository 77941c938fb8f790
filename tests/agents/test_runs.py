"""The step runner through a real worker with the mock provider: steps in order, context passed
from step to step, approvals, retries with backoff, resuming at the failed step, and every LLM
call linked to its step."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from renewflow import agents
from renewflow.db import Database
from tests.agents.conftest import (
    FlakyMock,
    OneProvider,
    finished,
    start_agent_worker,
    steps_of,
    three_steps,
    wait_for,
)


@pytest.fixture
def owner(tenant: uuid.UUID, make_user: Callable[..., uuid.UUID]) -> uuid.UUID:
    return make_user(tenant)


def _create(database: Database, tenant: uuid.UUID, owner: uuid.UUID, body: agents.TaskCreate):
    with database.tenant_transaction(tenant, owner) as conn:
        task = agents.create_task(conn, body)
        return agents.run_task(conn, task.id)


@pytest.mark.usefixtures("agent_worker")
def test_three_steps_run_in_order_each_given_the_previous_results(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    started = _create(database, tenant, owner, three_steps())
    assert started.status == "running"
    task = wait_for(database, tenant, owner, started.id, finished)
    assert task.status == "completed", task.error_message
    assert steps_of(task) == [
        (1, "Research", "completed"),
        (2, "Assess", "completed"),
        (3, "Draft", "completed"),
    ]
    first, second, third = task.steps
    texts = [s.execution_result["text"] for s in task.steps]  # type: ignore[index]
    assert all(t.startswith("Mock answer") for t in texts)
    assert len(set(texts)) == 3  # each step its own prompt
    # step 1 asked for no context; step 3 got both earlier results, whole, in order
    assert first.context_data == {"include_previous_context": False}
    assert second.context_data is not None
    assert third.context_data is not None
    assert [p["text"] for p in second.context_data["passed"]] == texts[:1]
    assert [p["step_order"] for p in third.context_data["passed"]] == [1, 2]
    assert [p["text"] for p in third.context_data["passed"]] == texts[:2]
    assert third.context_data["cut"] == []
    # started in order: each step after the one before finished
    assert first.execution_completed_at <= second.execution_started_at  # type: ignore[operator]
    assert second.execution_completed_at <= third.execution_started_at  # type: ignore[operator]
    # one LLM call per step, linked to it, with its tokens
    for step in task.steps:
        assert step.usage.calls == 1
        assert step.usage.input_tokens > 0
        assert step.usage.output_tokens > 0
    assert task.usage.calls == 3
    with database.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            "SELECT task_step_id, model FROM llm_calls WHERE task_step_id = ANY(%s)",
            ([s.id for s in task.steps],),
        ).fetchall()
    assert sorted(r["task_step_id"] for r in rows) == sorted(s.id for s in task.steps)


@pytest.mark.usefixtures("agent_worker")
def test_a_small_budget_cuts_the_oldest_results_and_says_so(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    body = three_steps(context_budget_chars=30)
    task = wait_for(database, tenant, owner, _create(database, tenant, owner, body).id, finished)
    assert task.status == "completed"
    third = task.steps[2].context_data
    assert third is not None
    # one mock answer (~25 characters) fits in 30, two do not: the older one is cut
    assert [p["step_order"] for p in third["passed"]] == [2]
    assert [c["step_order"] for c in third["cut"]] == [1]
    assert third["passed_chars"] <= 30


@pytest.mark.usefixtures("agent_worker")
def test_an_approval_gate_pauses_the_run_until_approved(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    body = three_steps()
    body.steps[1].requires_approval = True
    body.steps[2].model = "mock-large"
    task = wait_for(database, tenant, owner, _create(database, tenant, owner, body).id, finished)
    assert task.status == "awaiting_approval"
    assert steps_of(task)[1:] == [(2, "Assess", "pending"), (3, "Draft", "pending")]
    assert not task.steps[1].queued
    with database.tenant_transaction(tenant, owner) as conn:
        with pytest.raises(agents.NotAllowedNow):
            agents.approve_step(conn, task.id, task.steps[2].id)
    with database.tenant_transaction(tenant, owner) as conn:
        agents.approve_step(conn, task.id, task.steps[1].id)
    task = wait_for(database, tenant, owner, task.id, finished)
    assert task.status == "completed"
    assert task.steps[1].approved_by == owner
    assert task.steps[2].execution_result["model"] == "mock-large"  # type: ignore[index]


@pytest.mark.usefixtures("agent_worker")
def test_skipping_a_gated_step_runs_on_after_it(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    body = three_steps()
    body.steps[1].requires_approval = True
    task = wait_for(database, tenant, owner, _create(database, tenant, owner, body).id, finished)
    with database.tenant_transaction(tenant, owner) as conn:
        agents.skip_step(conn, task.id, task.steps[1].id)
    task = wait_for(database, tenant, owner, task.id, finished)
    assert steps_of(task) == [
        (1, "Research", "completed"),
        (2, "Assess", "skipped"),
        (3, "Draft", "completed"),
    ]
    third = task.steps[2].context_data
    assert third is not None
    assert [p["step_order"] for p in third["passed"]] == [1]


def test_retries_back_off_then_the_task_fails_and_resumes_at_the_failed_step(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    provider = FlakyMock("Assess the renewal risk")
    worker = start_agent_worker(database, OneProvider(provider))
    try:
        body = three_steps()
        body.steps[1].max_retries = 2
        task_id = _create(database, tenant, owner, body).id
        task = wait_for(database, tenant, owner, task_id, finished)
        assert task.status == "failed"
        assert "step 2 (Assess) failed" in (task.error_message or "")
        assert steps_of(task) == [
            (1, "Research", "completed"),
            (2, "Assess", "failed"),
            (3, "Draft", "pending"),
        ]
        assert task.steps[1].retry_count == 2
        assert task.steps[1].usage.calls == 3  # the first try and two retries, each recorded
        first_result = task.steps[0].execution_result
        provider.failing.clear()
        with database.tenant_transaction(tenant, owner) as conn:
            agents.resume_task(conn, task_id)
        task = wait_for(database, tenant, owner, task_id, finished)
        assert task.status == "completed"
        # the completed step was not run again
        assert task.steps[0].usage.calls == 1
        assert task.steps[0].execution_result == first_result
        assert task.steps[1].usage.calls == 4
    finally:
        worker.stop()
        worker.join(10)


def test_a_running_task_refuses_edits_and_a_cancel_stops_it(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    # no worker: the first step stays queued
    task = _create(database, tenant, owner, three_steps())
    assert task.steps[0].queued
    with database.tenant_transaction(tenant, owner) as conn:
        with pytest.raises(agents.TaskBusy):
            agents.delete_step(conn, task.id, task.steps[2].id)
    with database.tenant_transaction(tenant, owner) as conn:
        with pytest.raises(agents.TaskBusy):
            agents.run_task(conn, task.id)
    with database.tenant_transaction(tenant, owner) as conn:
        cancelled = agents.cancel_task(conn, task.id)
    assert cancelled.status == "cancelled"
    assert not any(s.queued for s in cancelled.steps)


def test_a_task_given_only_instructions_gets_one_step(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    with database.tenant_transaction(tenant, owner) as conn:
        one = agents.create_task(
            conn, agents.TaskCreate(name="Research the CFO", instructions="Find her priorities.")
        )
        bare = agents.create_task(conn, agents.TaskCreate(name="Check usage"))
    assert [(s.step_name, s.instructions) for s in one.steps] == [
        ("Research the CFO", "Find her priorities.")
    ]
    assert (
        bare.steps[0].instructions == 'Carry out the task "Check usage" and report what you found.'
    )
