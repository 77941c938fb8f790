"""Every CHECK and UNIQUE of the spec (and those we added) rejects a bad row, as the app role."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.errors import (
    CheckViolation,
    InvalidTextRepresentation,
    NotNullViolation,
    UniqueViolation,
)

from renewflow.db import Database
from tests.db.rows import base_values, insert

# (table, overrides, expected error, text the error must contain)
CASES: list[tuple[str, dict[str, Any], type[psycopg.Error], str]] = [
    # workflow_tasks (action-plan-tasks.md)
    ("workflow_tasks", {"task_type": "HUMAN_TASK"}, CheckViolation, "task_type"),
    ("workflow_tasks", {"owner": "BOT"}, CheckViolation, "owner"),
    ("workflow_tasks", {"status": "done"}, CheckViolation, "status"),
    ("workflow_tasks", {"priority": 0}, CheckViolation, "priority"),
    ("workflow_tasks", {"priority": 6}, CheckViolation, "priority"),
    ("workflow_tasks", {"execution_status": "waiting"}, CheckViolation, "execution_status"),
    ("workflow_tasks", {"complexity": "trivial"}, CheckViolation, "complexity"),
    ("workflow_tasks", {"action": None}, NotNullViolation, "action"),
    ("workflow_tasks", {"description": None}, NotNullViolation, "description"),
    # workflow_chat_messages
    ("workflow_chat_messages", {"role": "robot", "sequence_number": 2}, CheckViolation, "role"),
    (
        "workflow_chat_messages",
        {"message_type": "video", "sequence_number": 3},
        CheckViolation,
        "message_type",
    ),
    ("workflow_chat_messages", {"sequence_number": 1}, UniqueViolation, "messages_sequence"),
    # workflow_llm_context: one per thread
    ("workflow_llm_context", {}, UniqueViolation, "one_per_thread"),
    ("workflow_llm_context", {"temperature": 3.5}, CheckViolation, "temperature"),
    # workflow_chat_threads
    ("workflow_chat_threads", {"thread_type": "voice"}, CheckViolation, "thread_type"),
    ("workflow_chat_threads", {"status": "paused"}, CheckViolation, "status"),
    # workflow_chat_branches
    ("workflow_chat_branches", {"branch_type": "random"}, CheckViolation, "branch_type"),
    (
        "workflow_chat_branches",
        {"branch_type": "saved_action"},
        CheckViolation,
        "chat_branch_saved_action_named",
    ),
    ("workflow_chat_branches", {"llm_handler": "../../etc/passwd"}, CheckViolation, "llm_handler"),
    # saved_actions
    ("saved_actions", {"action_type": "delete_everything"}, CheckViolation, "action_type"),
    ("saved_actions", {"handler": "file:../../secrets.js"}, CheckViolation, "handler"),
    ("saved_actions", {"handler": "eval:process.exit()"}, CheckViolation, "handler"),
    # workflows and versions
    ("workflows", {"is_core": True}, CheckViolation, "workflows_core_has_no_tenant"),
    ("workflow_versions", {"version": 0}, CheckViolation, "version"),
    # task_steps (agent-task-steps.md)
    ("task_steps", {"step_order": 0}, CheckViolation, "task_steps_step_order_positive"),
    (
        "task_steps",
        {"step_order": 2, "retry_count": -1},
        CheckViolation,
        "task_steps_retry_count_non_negative",
    ),
    ("task_steps", {"step_order": 3, "status": "paused"}, CheckViolation, "status"),
    ("task_steps", {"step_order": 1}, UniqueViolation, "unique_task_step_order"),
    # autonomous_tasks (autonomous-tasks-log.md)
    ("autonomous_tasks", {"task_type": "mine_bitcoin"}, CheckViolation, "task_type"),
    ("autonomous_tasks", {"status": "exploded"}, CheckViolation, "status"),
    ("autonomous_tasks", {"triggered_by": "someone"}, CheckViolation, "triggered_by"),
    ("autonomous_tasks", {"cost_estimate_usd": -1}, CheckViolation, "cost_estimate_usd"),
    # our own tables
    ("users", {"role": "owner"}, CheckViolation, "role"),
    ("users", {"email": "not-an-email"}, CheckViolation, "email"),
    ("contracts", {"arr": -5}, CheckViolation, "arr"),
    ("contracts", {"status": "renewed", "currency": "usd"}, CheckViolation, "currency"),
    ("contracts", {"status": "renewed", "start_date": "2027-06-01"}, CheckViolation, "check"),
    ("contracts", {}, UniqueViolation, "contracts_one_active_per_customer"),
    ("customer_intelligence", {}, UniqueViolation, "one_per_customer"),
    ("customer_intelligence", {"risk_score": 101}, CheckViolation, "risk_score"),
    ("recommendations", {"priority": 9}, CheckViolation, "priority"),
    (
        "workflow_executions",
        {"status": "paused", "completed_at": "2026-11-30T00:00:00Z"},
        CheckViolation,
        "status",
    ),
    ("workflow_executions", {"status": "completed"}, CheckViolation, "workflow_executions_check"),
    ("workflow_executions", {}, UniqueViolation, "workflow_executions_one_active"),
    ("workflow_step_executions", {"status": "skipped"}, CheckViolation, "step_skip_needs_reason"),
    ("notifications", {"channel": "carrier_pigeon"}, CheckViolation, "channel"),
    ("notifications", {"priority": "meh"}, CheckViolation, "priority"),
    ("api_keys", {"role": "root"}, CheckViolation, "role"),
    ("api_keys", {"key_hash": b"short"}, CheckViolation, "key_hash"),
]


@pytest.mark.parametrize(
    ("table", "overrides", "error", "mentions"),
    CASES,
    ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_row_is_rejected(
    database: Database, tenant_rows, table, overrides, error, mentions
) -> None:
    tenant_id, ids = tenant_rows
    values = base_values(ids, table) | overrides
    with pytest.raises(error) as caught, database.tenant_transaction(tenant_id) as conn:
        insert(conn, table, values)
    diag = caught.value.diag
    assert (
        mentions
        in f"{diag.constraint_name} {diag.column_name} {diag.message_primary} {diag.message_detail}"
    )


def test_unique_keys_that_duplicate_existing_rows(database: Database, tenant_rows) -> None:
    """UNIQUE constraints that need a copy of a specific existing row."""
    tenant_id, ids = tenant_rows
    with database.tenant_transaction(tenant_id) as conn:
        existing = conn.execute(
            "SELECT workflow_id, email FROM workflows, users WHERE workflows.id = %s AND users.id = %s",
            (ids["workflows"], ids["users"]),
        ).fetchone()
        action = conn.execute(
            "SELECT action_id FROM saved_actions WHERE id = %s", (ids["saved_actions"],)
        ).fetchone()
        version = conn.execute(
            "SELECT max(version) AS v FROM workflow_versions WHERE workflow_id = %s",
            (ids["workflows"],),
        ).fetchone()
    assert existing
    assert action
    assert version
    duplicates = [
        (
            "workflows",
            base_values(ids, "workflows") | {"workflow_id": existing["workflow_id"]},
            "workflows_workflow_id_key",
        ),
        (
            "users",
            base_values(ids, "users") | {"email": existing["email"].upper()},
            "users_tenant_email",
        ),
        (
            "saved_actions",
            base_values(ids, "saved_actions") | {"action_id": action["action_id"]},
            "saved_actions_action_id_key",
        ),
        (
            "workflow_versions",
            base_values(ids, "workflow_versions") | {"version": version["v"]},
            "workflow_versions_workflow_id_version_key",
        ),
    ]
    for table, values, constraint in duplicates:
        with pytest.raises(UniqueViolation) as caught:
            with database.tenant_transaction(tenant_id) as conn:
                insert(conn, table, values)
        assert caught.value.diag.constraint_name == constraint


SPEC_SAMPLE_AI_TASK = """
INSERT INTO workflow_tasks (
  workflow_execution_id, customer_id, task_type, owner, action, description, status, priority,
  auto_execute, processor, execution_status, estimated_completion_time, metadata
) VALUES (
  'exec_123', 'customer_acme', 'AI_TASK', 'AI', 'Update Salesforce Contact',
  'Change primary contact from Sarah Chen to Eric Estrada in Salesforce opportunity',
  'pending', 1, true, 'salesforce-contact-updater.js', 'queued', 'Within 15 minutes',
  '{"oldContact": {"name": "Sarah Chen"}, "newContact": {"name": "Eric Estrada"}}'::jsonb
)"""

SPEC_SAMPLE_PARENT_TASK = """
INSERT INTO workflow_tasks (
  id, workflow_execution_id, customer_id, task_type, owner, action, description, status, priority,
  complexity, estimated_completion_time, metadata
) VALUES (
  'task_parent_cfo', 'exec_123', 'customer_acme', 'CSM_TASK', 'CSM',
  'Schedule and Conduct CFO Engagement Meeting', 'Set up 30-minute intro call with new CFO',
  'pending', 1, 'complex', '2 hours total', '{"hasSubTasks": true}'::jsonb
)"""

SPEC_SAMPLE_AUTONOMOUS = """
INSERT INTO autonomous_tasks (tenant_id, task_type, status, input_data, executed_at, triggered_by)
VALUES ('kh72b1cng9h88691sx4x7krt2h7v7deh', 'system_health_check', 'completed',
        '{"check_type": "database"}'::jsonb, NOW(), 'system')"""


@pytest.mark.parametrize(
    "statement",
    [SPEC_SAMPLE_AI_TASK, SPEC_SAMPLE_PARENT_TASK, SPEC_SAMPLE_AUTONOMOUS],
    ids=["ai-task", "parent-task", "autonomous-task"],
)
def test_spec_samples_with_non_uuid_ids_fail_cleanly(
    database: Database, tenant_rows, statement: str
) -> None:
    tenant_id, _ = tenant_rows
    with pytest.raises(InvalidTextRepresentation, match="invalid input syntax for type uuid"):
        with database.tenant_transaction(tenant_id) as conn:
            conn.execute(statement)
    # the failed statement left the connection and the pool usable
    with database.tenant_transaction(tenant_id) as conn:
        assert conn.execute("SELECT 1 AS ok").fetchone() == {"ok": 1}
