"""The spec's own example workflow (a `conditional_routing` first step, `conditional` and
`conditionalLogic` keys) imports with warnings naming each mapping, and runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from renewflow import context
from renewflow.db import Database
from renewflow.engine import StepRequest, StepRunner, start_execution
from renewflow.llm import LLMClients
from renewflow.workflows import service as workflows
from tests.engine.world import make_world

EXAMPLE = Path(__file__).parents[1] / "workflows" / "fixtures" / "spec_example.json"


pytestmark = pytest.mark.usefixtures("core_library_seeded")


@pytest.mark.parametrize(
    ("risk", "routed_to"), [(35, "emergency-resolution"), (85, "critical-escalation")]
)
def test_the_spec_example_imports_and_runs(database: Database, risk: int, routed_to: str) -> None:
    world = make_world(database, days=10, workflow="critical")
    config = json.loads(EXAMPLE.read_text())
    with database.tenant_transaction(world.tenant, world.user) as conn:
        created = workflows.create_workflow(
            conn, world.tenant, world.user, workflow_id=config["id"], config=config
        )
        mapped = {w.path for w in created["warnings"]}
        assert any(path.endswith(".conditional") for path in mapped)
        assert any(path.endswith(".conditionalLogic") for path in mapped)
        stored = workflows.get_workflow(conn, world.tenant, config["id"])
        assert "conditional" not in json.dumps(stored["config"]).replace("conditional_routing", "")
        context.set_intelligence(conn, world.customers[0], context.IntelligenceIn(riskScore=risk))
        conn.execute(
            "UPDATE workflow_executions SET status = 'cancelled', completed_at = now() "
            "WHERE id = %s",
            (world.executions[0],),
        )
        execution = start_execution(
            conn,
            customer_id=world.customers[0],
            workflow=stored,
            started_by=world.user,
            reason={"rule": "manual"},
        )
    runner = StepRunner(database, LLMClients())
    request = StepRequest(actor_user_id=world.user, actor_role="manager")

    def run(step_id: str) -> dict[str, Any]:
        answer = runner.run(
            lambda: database.tenant_transaction(world.tenant, world.user),
            execution_id=execution,
            step_id=step_id,
            request=request,
        )
        assert answer.status == 200, answer.body
        return answer.body

    # the routing-only step: no LLM call, its outputs say where it went and why
    first = run("critical-status-assessment")
    assert first["outputs"]["route"] == routed_to
    assert first["nextStep"]["stepId"] == routed_to
    with database.tenant_transaction(world.tenant) as conn:
        calls = conn.execute(
            "SELECT count(*) AS n FROM llm_calls WHERE workflow_execution_id = %s", (execution,)
        ).fetchone()
    assert calls == {"n": 0}
    step: str | None = routed_to
    seen = [first["stepId"]]
    while step is not None:
        body = run(step)
        seen.append(body["stepId"])
        step = body["nextStep"]["stepId"] if body["nextStep"] else None
    assert seen[1] == routed_to
    assert body["executionStatus"] == "completed"
