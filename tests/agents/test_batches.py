"""A runner's batch of steps: the finishes of steps that answered at once are written in one
statement (one transaction: their rows share its id), each still fenced by its own lease, and
each leases its task's next step for the runner's next claim; a step whose call took longer
than the queue's `flush_seconds` is finished as soon as it answered, and ends its batch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

import pytest

from renewflow import agents
from renewflow.agents import AgentStepQueue
from renewflow.db import Database
from renewflow.jobs import Lease, Outcome
from renewflow.llm import LLMClients, LLMRequest, LLMResponse, MockProvider
from tests.agents.conftest import OneProvider

WORKER = "batch-test"


@pytest.fixture
def owner(tenant: uuid.UUID, make_user: Callable[..., uuid.UUID]) -> uuid.UUID:
    return make_user(tenant)


# Whether a step is quick or slow is by the clock: the tests' quick steps may take this long
# (on a loaded machine), their slow ones take longer
QUICK = 30.0
SLOW = 0.05


class _Slow(MockProvider):
    """The mock, answering after twice the flush interval."""

    def complete(self, request: LLMRequest) -> LLMResponse:
        time.sleep(SLOW * 2)
        return super().complete(request)


def _queue(
    database: Database, clients: LLMClients | None = None, *, flush: float = QUICK
) -> AgentStepQueue:
    return AgentStepQueue(database, clients or LLMClients(), flush_seconds=flush)


def _start(database: Database, tenant: uuid.UUID, owner: uuid.UUID, count: int) -> list[uuid.UUID]:
    body = agents.TaskCreate.model_validate(
        {
            "name": "Brief",
            "steps": [
                {"step_name": "Research", "instructions": "List what changed."},
                {
                    "step_name": "Draft",
                    "instructions": "Draft a note.",
                    "include_previous_context": True,
                },
            ],
        }
    )
    with database.tenant_transaction(tenant, owner) as conn:
        tasks = [agents.create_task(conn, body).id for _ in range(count)]
        for task_id in tasks:
            agents.run_task(conn, task_id)
    return tasks


def _transactions(database: Database, leases: Sequence[Lease]) -> list[str]:
    """The id of the transaction that last wrote each lease's step."""
    with database.service_transaction() as conn:
        rows = conn.execute(
            "SELECT id, xmin::text AS xid FROM task_steps WHERE id = ANY(%s)",
            ([lease.job_id for lease in leases],),
        ).fetchall()
    by_id = {r["id"]: r["xid"] for r in rows}
    return [by_id[lease.job_id] for lease in leases]


def _step_status(database: Database, step_id: uuid.UUID) -> str:
    with database.service_transaction() as conn:
        row = conn.execute("SELECT status FROM task_steps WHERE id = %s", (step_id,)).fetchone()
    assert row is not None
    return str(row["status"])


def test_quick_steps_finish_in_one_statement_and_lease_their_next_steps(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    tasks = _start(database, tenant, owner, 3)
    queue = _queue(database)
    first = queue.claim(WORKER, 3, 30)
    assert sorted(lease.payload["task_id"] for lease in first) == sorted(tasks)

    assert queue.run_batch(first, lambda: False) == [Outcome.SUCCESS] * 3
    assert len(set(_transactions(database, first))) == 1

    # the finish leased each task's second step to this runner: its next claim hands them out
    second = queue.claim(WORKER, 1, 30)
    assert sorted(lease.payload["task_id"] for lease in second) == sorted(tasks)
    assert {lease.payload["step_order"] for lease in second} == {2}
    assert all(_step_status(database, lease.job_id) == "running" for lease in second)
    assert queue.run_batch(second, lambda: False) == [Outcome.SUCCESS] * 3
    with database.tenant_transaction(tenant, owner) as conn:
        assert {agents.get_task(conn, t).status for t in tasks} == {"completed"}


def test_each_finish_of_a_batch_keeps_its_own_fence(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    _start(database, tenant, owner, 3)
    queue = _queue(database)
    leases = queue.claim(WORKER, 3, 30)
    queue.release([leases[1]])  # its lease is gone: another runner may have the step by now

    outcomes = queue.run_batch(leases, lambda: False)

    assert outcomes == [Outcome.SUCCESS, Outcome.LOST, Outcome.SUCCESS]
    assert _step_status(database, leases[1].job_id) == "pending"
    assert [_step_status(database, leases[i].job_id) for i in (0, 2)] == ["completed"] * 2


def test_a_slow_step_is_finished_at_once_and_hands_the_rest_of_its_batch_back(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    _start(database, tenant, owner, 3)
    queue = _queue(database, OneProvider(_Slow()), flush=SLOW)
    leases = queue.claim(WORKER, 3, 30)

    outcomes = queue.run_batch(leases, lambda: False)

    # the first step, answered slowly, was finished alone; the others were not started: the
    # worker releases them (as here) for idle runners, and its claims shrink to one at a time
    assert outcomes == [Outcome.SUCCESS, None, None]
    assert _step_status(database, leases[0].job_id) == "completed"
    queue.release(leases[1:])
    with database.service_transaction() as conn:
        due = conn.execute(
            "SELECT count(*) AS n FROM task_steps WHERE id = ANY(%s) AND status = 'pending' "
            "AND run_after <= now()",
            ([lease.job_id for lease in leases[1:]],),
        ).fetchone()
    assert due == {"n": 2}


def test_a_stopping_worker_finishes_what_answered_and_leases_nothing_more(
    database: Database, tenant: uuid.UUID, owner: uuid.UUID
) -> None:
    _start(database, tenant, owner, 2)
    queue = _queue(database)
    leases = queue.claim(WORKER, 2, 30)
    asked: list[bool] = []

    def stop_after_the_first() -> bool:
        asked.append(True)
        return len(asked) > 1

    outcomes = queue.run_batch(leases, stop_after_the_first)

    # the first step ran and was finished; the second was never started (the worker releases it)
    assert outcomes == [Outcome.SUCCESS, None]
    assert _step_status(database, leases[0].job_id) == "completed"
    assert _step_status(database, leases[1].job_id) == "running"
    # no lease was taken for the next step: it waits in the queue for any runner
    assert queue.claim(WORKER, 0, 30) == []
