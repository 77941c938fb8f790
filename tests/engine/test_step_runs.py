"""Step runs: claim, call with nothing held, fenced finish; asynchronous runs on the worker; the
per-tenant limit; processors on steps; rate limits that slow down instead of failing.

Every LLM call goes to a real loopback server speaking OpenAI's wire format (bench.fake_openai)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
import pytest
from bench.fake_openai import FakeOpenAI

from renewflow import engine
from renewflow.db import Connection, Database
from renewflow.engine import RunLimits, StepRequest, StepRunner
from renewflow.engine.errors import RunLeaseLost, RunNotFound, StepRunning
from renewflow.engine.steps import Claimed, call_step, claim_step, finish_step
from renewflow.jobs import WorkerConfig
from renewflow.llm import LLMClients
from renewflow.workflows.processors import StepProcessorRegistry, StepProcessorResult
from renewflow.workflows.step_processors import BUILTINS
from tests.engine.world import World, fake_llm_settings, make_world

pytestmark = pytest.mark.usefixtures("core_library_seeded")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(delay=0.5) as server:
        yield server


@pytest.fixture
def clients() -> Iterator[LLMClients]:
    made = LLMClients()
    yield made
    made.close()


def runner_for(
    database: Database,
    clients: LLMClients,
    processors: StepProcessorRegistry | None = None,
    **limits: Any,
) -> StepRunner:
    return StepRunner(
        database,
        clients,
        processors=processors or StepProcessorRegistry(BUILTINS),
        limits=RunLimits(**limits),
    )


def as_user(database: Database, world: World) -> Callable[[], AbstractContextManager[Connection]]:
    return lambda: database.tenant_transaction(world.tenant, world.user)


def request(world: World, **kwargs: Any) -> StepRequest:
    return StepRequest(actor_user_id=world.user, actor_role="manager", **kwargs)


def llm_calls(database: Database, world: World, execution: uuid.UUID) -> int:
    with database.tenant_transaction(world.tenant) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM llm_calls WHERE workflow_execution_id = %s", (execution,)
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_a_step_runs_through_the_fake_provider(
    database: Database, fake: FakeOpenAI, clients: LLMClients
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    runner = runner_for(database, clients)
    answer = runner.run(
        as_user(database, world),
        execution_id=world.executions[0],
        step_id="data-snapshot",
        request=request(world),
    )
    assert answer.status == 200, answer.body
    assert answer.body["nextStep"]["stepId"] == "value-risk-analysis"
    assert fake.requests == 1
    assert llm_calls(database, world, world.executions[0]) == 1
    with database.tenant_transaction(world.tenant) as conn:
        row = conn.execute(
            "SELECT status, lease_token, response FROM workflow_step_executions WHERE id = %s",
            (answer.run_id,),
        ).fetchone()
    assert row is not None
    assert row["status"] == "completed"
    assert row["lease_token"] is None
    assert row["response"] == answer.body


def test_no_connection_or_lock_is_held_while_the_model_answers(
    database: Database, clients: LLMClients
) -> None:
    with FakeOpenAI(delay=1.5) as fake:
        world = make_world(database, llm=fake_llm_settings(fake.url))
        runner = runner_for(database, clients)
        done: list[Any] = []
        thread = threading.Thread(
            target=lambda: done.append(
                runner.run(
                    as_user(database, world),
                    execution_id=world.executions[0],
                    step_id="data-snapshot",
                    request=request(world),
                )
            )
        )
        thread.start()
        deadline = time.monotonic() + 5
        while fake.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.in_flight == 1
        with psycopg.connect(database.service_conninfo, autocommit=True) as probe:
            # the execution row is not locked by the run: another transaction takes it at once
            with probe.transaction():
                probe.execute("SET LOCAL lock_timeout = '100ms'")
                probe.execute(
                    "SELECT id FROM workflow_executions WHERE id = %s FOR UPDATE NOWAIT",
                    (world.executions[0],),
                )
            idle = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' AND usename = 'renewflow_app'"
            ).fetchone()
        assert idle == (0,)
        thread.join(10)
    assert done
    assert done[0].status == 200


def test_two_concurrent_requests_for_one_step_make_one_llm_call(
    database: Database, fake: FakeOpenAI, clients: LLMClients
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    runner = runner_for(database, clients)
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(
                runner.run(
                    as_user(database, world),
                    execution_id=world.executions[0],
                    step_id="data-snapshot",
                    request=request(world),
                )
            )
        except StepRunning as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    conflicts = [r for r in results if isinstance(r, StepRunning)]
    answers = [r for r in results if not isinstance(r, StepRunning)]
    assert len(conflicts) == 1
    assert len(answers) == 1
    assert answers[0].status == 200
    assert conflicts[0].details["runId"] == str(answers[0].run_id)
    assert fake.requests == 1


def test_the_same_idempotency_key_waits_for_the_first_result(
    database: Database, fake: FakeOpenAI, clients: LLMClients
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    runner = runner_for(database, clients)
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        results.append(
            runner.run(
                as_user(database, world),
                execution_id=world.executions[0],
                step_id="data-snapshot",
                request=request(world, idempotency_key="retry-1", fingerprint="same"),
            )
        )

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 3
    assert {r.status for r in results} == {200}
    assert results[0].body == results[1].body == results[2].body
    assert fake.requests == 1
    # later, a replay: the stored answer, no call
    again = runner.run(
        as_user(database, world),
        execution_id=world.executions[0],
        step_id="data-snapshot",
        request=request(world, idempotency_key="retry-1", fingerprint="same"),
    )
    assert again.body == results[0].body
    assert fake.requests == 1


def test_a_late_finish_after_the_lease_passed_is_refused(
    database: Database, fake: FakeOpenAI, clients: LLMClients
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    runner = runner_for(database, clients, lease_seconds=1.0)
    execution = world.executions[0]
    with as_user(database, world)() as conn:
        claim = claim_step(
            conn,
            execution_id=execution,
            step_id="data-snapshot",
            request=request(world),
            limits=runner.limits,
            worker="slow-worker",
        )
    assert isinstance(claim, Claimed)
    result = call_step(claim.run, runner.deps(claim.run))
    assert result.error is None
    time.sleep(1.2)  # the lease (1 s) passes with nobody renewing it
    with pytest.raises(RunLeaseLost), database.tenant_transaction(world.tenant) as conn:
        finish_step(conn, claim.run, result)
    with database.tenant_transaction(world.tenant) as conn:
        row = conn.execute(
            "SELECT current_step_id FROM workflow_executions WHERE id = %s", (execution,)
        ).fetchone()
        outputs = conn.execute(
            "SELECT count(*) AS n FROM workflow_step_executions "
            "WHERE workflow_execution_id = %s AND status = 'completed'",
            (execution,),
        ).fetchone()
    assert row == {"current_step_id": "data-snapshot"}
    assert outputs == {"n": 0}
    # the step is resumable: the next request settles the lapsed run and runs it again
    answer = runner.run(
        as_user(database, world),
        execution_id=execution,
        step_id="data-snapshot",
        request=request(world),
    )
    assert answer.status == 200
    with database.tenant_transaction(world.tenant) as conn:
        states = conn.execute(
            "SELECT status, error_message FROM workflow_step_executions "
            "WHERE workflow_execution_id = %s ORDER BY created_at",
            (execution,),
        ).fetchall()
    assert [s["status"] for s in states] == ["failed", "completed"]
    assert "lease expired" in states[0]["error_message"]
    assert llm_calls(database, world, execution) == 2  # one per attempt


def test_an_asynchronous_run_is_queued_then_run_by_the_worker(
    database: Database, fake: FakeOpenAI, clients: LLMClients
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    runner = runner_for(database, clients)
    accepted = runner.run(
        as_user(database, world),
        execution_id=world.executions[0],
        step_id="data-snapshot",
        request=request(world),
        asynchronous=True,
    )
    assert accepted.status == 202
    assert accepted.accepted
    assert accepted.body["status"] == "queued"
    assert fake.requests == 0
    worker = runner.worker(WorkerConfig(concurrency=2, poll_interval=0.1, lease_seconds=5))
    worker.start()
    try:
        run = _wait_for(database, world, accepted.run_id, lambda r: r["status"] == "completed")
    finally:
        worker.stop()
        worker.join(10)
    assert run["result"]["success"] is True
    assert run["result"]["nextStep"]["stepId"] == "value-risk-analysis"
    assert run["startedAt"] is not None
    assert run["completedAt"] is not None
    assert fake.requests == 1


def test_runs_over_the_tenant_limit_wait_in_the_queue(
    database: Database, clients: LLMClients
) -> None:
    with FakeOpenAI(delay=0.6) as fake:
        world = make_world(database, llm=fake_llm_settings(fake.url), customers=5)
        runner = runner_for(database, clients, tenant_llm_concurrency=2)
        worker = runner.worker(WorkerConfig(concurrency=3, poll_interval=0.05, lease_seconds=5))
        worker.start()
        answers: list[Any] = []
        try:
            threads = [
                threading.Thread(
                    target=lambda e=execution: answers.append(
                        runner.run(
                            as_user(database, world),
                            execution_id=e,
                            step_id="data-snapshot",
                            request=request(world),
                        )
                    )
                )
                for execution in world.executions
            ]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            with database.tenant_transaction(world.tenant) as conn:
                queued = engine.list_runs(conn, status="queued")[1]
            for thread in threads:
                thread.join(20)
        finally:
            worker.stop()
            worker.join(10)
    assert [a.status for a in answers] == [200] * 5
    assert fake.max_in_flight == 2
    assert queued == 3  # visible while they wait


def test_a_rate_limited_provider_slows_the_step_down_instead_of_failing_it(
    database: Database, clients: LLMClients
) -> None:
    with FakeOpenAI(rate_limit_first=2, retry_after=1) as fake:
        world = make_world(database, llm=fake_llm_settings(fake.url))
        runner = runner_for(database, clients)
        started = time.monotonic()
        answer = runner.run(
            as_user(database, world),
            execution_id=world.executions[0],
            step_id="data-snapshot",
            request=request(world),
        )
        elapsed = time.monotonic() - started
    assert answer.status == 200, answer.body
    assert fake.requests == 3
    assert elapsed >= 2.0  # it waited what Retry-After asked, twice


def test_an_after_processor_runs_with_its_own_transaction(
    database: Database, clients: LLMClients
) -> None:
    world = make_world(database, workflow="emergency", days=3)
    runner = runner_for(database, clients)
    execution = world.executions[0]
    run = as_user(database, world)
    assert (
        runner.run(
            run,
            execution_id=execution,
            step_id="emergency-status-check",
            request=request(world),
        ).status
        == 200
    )
    approved = runner.run(
        run,
        execution_id=execution,
        step_id="team-escalation",
        request=request(world, given_outputs={"approved": False, "note": "too late"}),
    )
    assert approved.status == 200, approved.body
    # approval.manager filled the approver in: the manager who answered
    assert approved.body["outputs"]["approver"].startswith("mia-")
    lost = runner.run(
        run,
        execution_id=execution,
        step_id="outcome-resolution",
        request=request(world, given_outputs={"outcome": "lost", "reason": "budget cut"}),
    )
    assert lost.status == 200, lost.body
    with database.tenant_transaction(world.tenant) as conn:
        contract = conn.execute(
            "SELECT status FROM contracts WHERE customer_id = %s", (world.customers[0],)
        ).fetchone()
        renewal = conn.execute(
            "SELECT metadata -> 'renewal' AS renewal FROM customers WHERE id = %s",
            (world.customers[0],),
        ).fetchone()
    assert contract == {"status": "churned"}
    assert renewal is not None
    assert renewal["renewal"]["outcome"] == "lost"
    assert renewal["renewal"]["outcomeReason"] == "budget cut"


def test_a_failing_processor_fails_the_step_and_leaves_it_resumable(
    database: Database, clients: LLMClients
) -> None:
    def broken(step: Any) -> StepProcessorResult:
        raise RuntimeError("CRM unreachable")

    broken.phase = "after"  # type: ignore[attr-defined]
    processors = StepProcessorRegistry({**BUILTINS, "renewal.record-outcome": broken})  # type: ignore[dict-item]
    world = make_world(database, workflow="emergency", days=3)
    execution = world.executions[0]
    run = as_user(database, world)
    working = runner_for(database, clients)
    for step_id, outputs in (
        ("emergency-status-check", None),
        ("team-escalation", {"approved": False}),
    ):
        assert (
            working.run(
                run,
                execution_id=execution,
                step_id=step_id,
                request=request(world, given_outputs=outputs),
            ).status
            == 200
        )
    failing = runner_for(database, clients, processors)
    outcome = {"outcome": "renewed"}
    answer = failing.run(
        run,
        execution_id=execution,
        step_id="outcome-resolution",
        request=request(world, given_outputs=outcome),
    )
    assert answer.status == 502
    assert answer.body["success"] is False
    assert "CRM unreachable" in answer.body["error"]
    assert "renewal.record-outcome" in answer.body["error"]
    with database.tenant_transaction(world.tenant) as conn:
        state = conn.execute(
            "SELECT status, current_step_id FROM workflow_executions WHERE id = %s", (execution,)
        ).fetchone()
        failed = conn.execute(
            "SELECT status, error_message FROM workflow_step_executions WHERE id = %s",
            (answer.run_id,),
        ).fetchone()
    assert state == {"status": "active", "current_step_id": "outcome-resolution"}
    assert failed is not None
    assert failed["status"] == "failed"
    assert "CRM unreachable" in failed["error_message"]
    again = working.run(
        run,
        execution_id=execution,
        step_id="outcome-resolution",
        request=request(world, given_outputs=outcome),
    )
    assert again.status == 200
    assert again.body["executionStatus"] == "completed"


def test_another_tenants_run_is_not_found(
    database: Database, fake: FakeOpenAI, clients: LLMClients
) -> None:
    world = make_world(database, llm=fake_llm_settings(fake.url))
    other = make_world(database)
    answer = runner_for(database, clients).run(
        as_user(database, world),
        execution_id=world.executions[0],
        step_id="data-snapshot",
        request=request(world),
    )
    assert answer.run_id is not None
    with pytest.raises(RunNotFound), database.tenant_transaction(other.tenant) as conn:
        engine.get_run(conn, answer.run_id)
    with pytest.raises(RunNotFound), database.tenant_transaction(other.tenant) as conn:
        engine.get_run(conn, uuid.uuid4())


def _wait_for(
    database: Database, world: World, run_id: Any, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        with database.tenant_transaction(world.tenant) as conn:
            run = engine.get_run(conn, run_id)
        if done(run) or time.monotonic() > deadline:
            return run
        time.sleep(0.05)
