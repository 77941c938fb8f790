"""A process killed (SIGKILL) between the LLM's answer and the step's finish: the step stays
resumable after its lease, and every LLM call is recorded once per attempt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.fake_openai import FakeOpenAI

from renewflow.db import Database
from renewflow.engine import RunLimits, StepRequest, StepRunner, start_execution
from renewflow.engine.errors import StepRunning
from renewflow.engine.executions import load_execution
from renewflow.llm import LLMClients
from renewflow.workflows import service as workflows
from tests.engine.procs import LEASE_SECONDS
from tests.engine.world import fake_llm_settings, make_world

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("core_library_seeded")


TERMS_CHECK = {
    "id": "terms-check",
    "name": "Terms check",
    "description": "One LLM step whose terms are recorded by a processor.",
    "version": "1.0.0",
    "trigger": {"daysUntilRenewal": {"min": 100, "max": 140}},
    "context": {"systemPrompt": "You check renewal terms for {{customer.name}}."},
    "steps": [
        {
            "id": "agree-terms",
            "name": "Agree terms",
            "type": "analysis",
            "description": "Propose the ARR to agree.",
            "execution": {
                "llmPrompt": "Propose the ARR {{customer.name}} should renew at ({{customer.arr}} today).",
                "processor": "renewal.record-terms",
                "outputs": {
                    "type": "object",
                    "required": ["agreedARR"],
                    "properties": {"agreedARR": {"type": "number", "minimum": 0}},
                },
            },
        }
    ],
    "notifications": [
        {
            "id": "terms-ready",
            "type": "in_app",
            "title": "Terms ready for {{customer.name}}",
            "message": "Agreed ARR: {{outputs.agree-terms.agreedARR}}",
            "recipients": ["{{csm.email}}"],
            "actionTriggered": "agree-terms",
        }
    ],
}


def test_sigkill_between_the_answer_and_the_finish_leaves_the_step_resumable(
    database: Database, migrated_url: str, tmp_path: Path
) -> None:
    with FakeOpenAI(delay=0.2) as fake:
        world = make_world(database, llm=fake_llm_settings(fake.url))
        with database.tenant_transaction(world.tenant, world.user) as conn:
            workflows.create_workflow(
                conn, world.tenant, world.user, workflow_id="terms-check", config=TERMS_CHECK
            )
            conn.execute(
                "UPDATE workflow_executions SET status = 'cancelled', completed_at = now() "
                "WHERE id = %s",
                (world.executions[0],),
            )
            execution = start_execution(
                conn,
                customer_id=world.customers[0],
                workflow=workflows.get_workflow(conn, world.tenant, "terms-check"),
                started_by=world.user,
                reason={"rule": "manual"},
            )
        marker = tmp_path / "answered"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.engine.procs",
                migrated_url,
                str(world.tenant),
                str(world.user),
                str(execution),
                "agree-terms",
                str(marker),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert process.poll() is None, "the step process ended early"
                assert time.monotonic() < deadline, "the step never reached its processor"
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        assert fake.requests == 1

        with database.tenant_transaction(world.tenant) as conn:
            calls = conn.execute(
                "SELECT count(*) AS n, min(step_execution_id::text) AS step FROM llm_calls "
                "WHERE workflow_execution_id = %s",
                (execution,),
            ).fetchone()
            rows = conn.execute(
                "SELECT id, status FROM workflow_step_executions WHERE workflow_execution_id = %s",
                (execution,),
            ).fetchall()
        assert calls is not None
        assert calls["n"] == 1
        assert [r["status"] for r in rows] == ["running"]
        assert calls["step"] == str(rows[0]["id"])

        runner = StepRunner(database, LLMClients(), limits=RunLimits(lease_seconds=5))

        def run() -> int:
            return runner.run(
                lambda: database.tenant_transaction(world.tenant, world.user),
                execution_id=execution,
                step_id="agree-terms",
                request=StepRequest(actor_user_id=world.user, actor_role="manager"),
            ).status

        with pytest.raises(StepRunning):  # its lease still holds: not yet anyone else's
            run()
        time.sleep(LEASE_SECONDS + 0.2)
        assert run() == 200  # resumable once the lease has passed
        assert fake.requests == 2

    with database.tenant_transaction(world.tenant) as conn:
        calls = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT step_execution_id) AS attempts FROM llm_calls "
            "WHERE workflow_execution_id = %s",
            (execution,),
        ).fetchone()
        states = conn.execute(
            "SELECT status FROM workflow_step_executions WHERE workflow_execution_id = %s "
            "ORDER BY created_at",
            (execution,),
        ).fetchall()
        terms = conn.execute(
            "SELECT metadata -> 'renewal' -> 'agreedTerms' AS terms FROM customers WHERE id = %s",
            (world.customers[0],),
        ).fetchone()
        assert load_execution(conn, execution).row["status"] == "completed"
    assert calls == {"n": 2, "attempts": 2}  # one per attempt
    assert [s["status"] for s in states] == ["failed", "completed"]
    assert terms is not None
    assert terms["terms"]["agreedARR"] >= 0
