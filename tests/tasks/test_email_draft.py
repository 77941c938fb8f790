"""The draft-email processor: the tenant's LLM (the mock here) drafts an email into an artifact."""

from __future__ import annotations

from renewflow import tasks
from renewflow.db import Database
from renewflow.tasks import ProcessorContext
from renewflow.tasks.models import Owner, TaskCreate, TaskType
from renewflow.tasks.processors.builtin import BUILTINS
from tests.tasks.helpers import make_world


def test_draft_email_stores_an_email_artifact_and_records_the_call(database: Database) -> None:
    world = make_world(database)
    with database.tenant_transaction(world.tenant_id) as conn:
        step = conn.execute(
            """INSERT INTO workflow_step_executions (tenant_id, workflow_execution_id, step_id, step_index, status, artifacts)
               VALUES (current_tenant_id(), %s, 'renewal-planning', 2, 'completed',
                       '[{"id": "plan", "type": "document"}]') RETURNING id""",
            (world.execution_id,),
        ).fetchone()
        assert step is not None
        task = tasks.create_task(
            conn,
            TaskCreate(
                workflow_execution_id=world.execution_id,
                customer_id=world.customer_id,
                task_type=TaskType.AI_TASK,
                owner=Owner.AI,
                action="Draft the CFO intro email",
                description="Introduce ourselves to the new CFO",
                priority=2,
                auto_execute=True,
                processor="draft-email",
                step_execution_id=step["id"],
                metadata={"to": "the new CFO", "purpose": "book a 30-minute value review"},
            ),
        )
    ctx = ProcessorContext(database, world.tenant_id)
    result = BUILTINS["draft-email"](task, ctx)
    # at least once: a second run replaces its draft among the step's artifacts
    again = BUILTINS["draft-email"](task, ctx)
    with database.tenant_transaction(world.tenant_id) as conn:
        artifacts = conn.execute(
            "SELECT artifacts FROM workflow_step_executions WHERE id = %s", (step["id"],)
        ).fetchone()
        calls = conn.execute(
            "SELECT count(*) AS n FROM llm_calls WHERE step_execution_id = %s", (step["id"],)
        ).fetchone()
    assert result.success, result.error
    assert again.success, again.error
    artifact = result.output["artifact"]
    assert artifact["type"] == "email"
    assert artifact["title"]
    assert [s["title"] for s in artifact["sections"]] == ["To", "Body"]
    assert artifact["sections"][0]["content"] == "the new CFO"
    assert artifacts is not None
    assert artifacts["artifacts"] == [{"id": "plan", "type": "document"}, again.output["artifact"]]
    assert calls == {"n": 2}  # every call is recorded, each in a short transaction of its own
