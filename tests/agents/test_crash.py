"""A worker killed (SIGKILL) between a step's LLM answer and its finish: only that step runs
again, the steps before it stay done, and the dead worker's late finish is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from renewflow import agents
from renewflow.agents import AgentStepQueue
from renewflow.db import Database
from renewflow.jobs import Lease, Outcome
from renewflow.llm import LLMClients
from tests.agents.conftest import finished, start_agent_worker, steps_of, three_steps, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_after_the_answer_reruns_only_that_step_and_the_late_finish_is_refused(
    database: Database,
    migrated_url: str,
    tenant: uuid.UUID,
    make_user: Callable[..., uuid.UUID],
    tmp_path: Path,
) -> None:
    owner = make_user(tenant)
    with database.tenant_transaction(tenant, owner) as conn:
        task = agents.create_task(conn, three_steps())
        agents.run_task(conn, task.id)
    marker = tmp_path / "answered"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.agents.procs", migrated_url, str(marker), "Assess the"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert process.poll() is None, "the worker process ended early"
            assert time.monotonic() < deadline, "step 2 never got its answer"
            time.sleep(0.05)
        with database.service_transaction() as conn:
            held = conn.execute(
                "SELECT id, lease_token, claimed_by, status FROM task_steps "
                "WHERE task_id = %s AND step_order = 2",
                (task.id,),
            ).fetchone()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert held is not None
    assert (held["status"], held["claimed_by"]) == ("running", "doomed")
    with database.tenant_transaction(tenant, owner) as conn:
        before = agents.get_task(conn, task.id)
    assert steps_of(before)[0] == (1, "Research", "completed")
    first_result = before.steps[0].execution_result

    clients = LLMClients()
    worker = start_agent_worker(database, clients)
    try:
        after = wait_for(database, tenant, owner, task.id, finished)
    finally:
        worker.stop()
        worker.join(10)
    assert after.status == "completed", after.error_message
    first, second, third = after.steps
    # step 1 was not run again; step 2 ran once more (a retry spent), then step 3
    assert first.execution_result == first_result
    assert first.usage.calls == 1
    assert second.retry_count == 1
    assert second.usage.calls == 1  # the killed attempt's (free, in-process) call went with it
    assert third.status == "completed"
    assert [p["step_order"] for p in (third.context_data or {})["passed"]] == [1, 2]

    # the dead worker's finish, arriving late under its old lease: refused, nothing changes
    stale = Lease(
        job_id=held["id"],
        tenant_id=tenant,
        token=held["lease_token"],
        attempt=1,
        max_attempts=3,
        kind="agent_step",
        queued_at=None,
        claimed_at=after.steps[1].execution_started_at,  # type: ignore[arg-type]
    )
    queue = AgentStepQueue(database, clients)
    assert queue.finish(stale, "completed", result={"text": "stale"}) is Outcome.LOST
    assert queue.finish(stale, "failed", result={}, error="stale") is Outcome.LOST
    with database.tenant_transaction(tenant, owner) as conn:
        final = agents.get_task(conn, task.id)
    assert final.status == "completed"
    assert final.steps[1].execution_result == second.execution_result
    clients.close()
