"""One valid row in every tenant-owned table, inserted as the app role under a tenant.

Used by the isolation and constraint tests. `TENANT_TABLES` must name every table that has a
tenant_id column: a test compares it with the catalog, so a new table cannot be forgotten here.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from renewflow.db import Connection

TENANT_TABLES = (
    "users",
    "api_keys",
    "customers",
    "contracts",
    "contacts",
    "usage_metrics",
    "customer_intelligence",
    "customer_data_versions",
    "recommendations",
    "workflows",
    "workflow_versions",
    "saved_actions",
    "workflow_chat_branches",
    "workflow_executions",
    "workflow_step_executions",
    "workflow_tasks",
    "notifications",
    "workflow_chat_threads",
    "workflow_chat_messages",
    "workflow_llm_context",
    "workflow_llm_tool_calls",
    "agent_tasks",
    "task_steps",
    "autonomous_tasks",
    "autonomous_task_days",
    "llm_calls",
    "idempotency_keys",
    "console_sessions",
    "console_login_links",
    "quarantined_rows",
    "job_failures",
    "tenant_settings_changes",
    "knowledge_bases",
    "knowledge_documents",
    "knowledge_chunks",
)


def insert(conn: Connection, table: str, values: dict[str, Any]) -> uuid.UUID:
    """INSERT one row (tenant_id defaults to the transaction's tenant) and return its id."""
    from psycopg import sql

    values = {"tenant_id": sql.SQL("current_tenant_id()"), **values}
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in values)
    placeholders = sql.SQL(", ").join(
        v if isinstance(v, sql.Composable) else sql.Placeholder() for v in values.values()
    )
    params = [v for v in values.values() if not isinstance(v, sql.Composable)]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(table), columns, placeholders
    )
    row = conn.execute(query, params).fetchone()
    assert row is not None
    row_id: uuid.UUID = row["id"]
    return row_id


def base_values(ids: dict[str, uuid.UUID], table: str) -> dict[str, Any]:
    """A valid row for `table` that references the rows already in `ids`."""
    from psycopg.types.json import Jsonb

    suffix = uuid.uuid4().hex[:8]
    rows: dict[str, dict[str, Any]] = {
        "users": {"email": f"csm-{suffix}@example.com", "role": "csm"},
        "api_keys": {
            "user_id": ids.get("users"),
            "role": "csm",
            "key_hash": uuid.uuid4().bytes * 2,
            "key_prefix": "rf_test",
        },
        "customers": {"name": f"Acme {suffix}", "csm_id": ids.get("users")},
        "contracts": {
            "customer_id": ids.get("customers"),
            "renewal_date": "2027-03-01",
            "arr": 120000,
        },
        "contacts": {"customer_id": ids.get("customers"), "name": "Sarah Chen", "role": "CFO"},
        "usage_metrics": {
            "customer_id": ids.get("customers"),
            "metric_date": "2026-11-01",
            "metric_name": f"active_users_{suffix}",
            "value": 42,
        },
        "customer_intelligence": {"customer_id": ids.get("customers"), "risk_score": 35},
        "customer_data_versions": {"customer_id": ids.get("customers")},
        "recommendations": {
            "customer_id": ids.get("customers"),
            "category": "expansion",
            "title": "Offer the analytics add-on",
        },
        "workflows": {
            "workflow_id": f"custom-{suffix}",
            "name": "Custom renewal",
            "config": Jsonb({"id": f"custom-{suffix}", "steps": []}),
        },
        "workflow_versions": {
            "workflow_id": ids.get("workflows"),
            "version": 100,
            "config": Jsonb({"id": "manual"}),
        },
        "saved_actions": {
            "action_id": f"snooze-7-days-{suffix}",
            "action_name": "Snooze 7 days",
            "action_type": "snooze",
            "handler": "code:GlobalActions.snooze",
        },
        "workflow_chat_branches": {
            "workflow_id": "critical",
            "from_step_id": "critical-status-assessment",
            "branch_id": f"proceed-{suffix}",
            "branch_label": "Let's do it",
            "branch_type": "fixed",
            "user_prompts": ["Let's do it", "Proceed"],
            "next_step_id": "signature-workflow",
        },
        "workflow_executions": {
            "customer_id": ids.get("customers"),
            "workflow_id": ids.get("workflows"),
            "workflow_version": 1,
        },
        "workflow_step_executions": {
            "workflow_execution_id": ids.get("workflow_executions"),
            "step_id": "data-snapshot",
            "step_index": 0,
            "outputs": Jsonb({"risk_score": 35}),
        },
        "workflow_tasks": {
            "workflow_execution_id": ids.get("workflow_executions"),
            "customer_id": ids.get("customers"),
            "task_type": "CSM_TASK",
            "owner": "CSM",
            "action": "Schedule CFO meeting",
            "description": "Set up a 30-minute intro call with the new CFO",
            "status": "pending",
            "priority": 1,
        },
        "notifications": {
            "workflow_execution_id": ids.get("workflow_executions"),
            "recipient": "manager@example.com",
            "notification_type": "escalation",
            "title": "Renewal at risk",
            "message": "Acme renews in 10 days",
            "dedupe_key": f"exec:escalation:{suffix}",
        },
        "workflow_chat_threads": {
            "workflow_execution_id": ids.get("workflow_executions"),
            "step_id": "critical-status-assessment",
            "thread_type": "llm",
        },
        "workflow_chat_messages": {
            "thread_id": ids.get("workflow_chat_threads"),
            "role": "user",
            "content": "What's our ROI?",
            "sequence_number": 1,
        },
        "workflow_llm_context": {
            "thread_id": ids.get("workflow_chat_threads"),
            "system_prompt": "You are a renewal analyst.",
            "context_data": Jsonb({"customer": {"name": "Acme"}}),
        },
        "workflow_llm_tool_calls": {
            "thread_id": ids.get("workflow_chat_threads"),
            "message_id": ids.get("workflow_chat_messages"),
            "tool_name": "rag_search",
            "tool_input": Jsonb({"query": "ROI"}),
        },
        "agent_tasks": {"user_id": ids.get("users"), "name": "Research the CFO"},
        "task_steps": {
            "task_id": ids.get("agent_tasks"),
            "step_order": 1,
            "step_name": "Search",
            "instructions": "Find the CFO's priorities",
        },
        "autonomous_tasks": {
            "task_type": "system_health_check",
            "status": "completed",
            "triggered_by": "system",
        },
        # a day of its own: the ledger row above has no executed_at, so makes none
        "autonomous_task_days": {
            "task_type": "system_health_check",
            "day": date(2001, 1, 1) + timedelta(days=int(suffix, 16) % 100_000),
            "executions": 1,
        },
        "llm_calls": {
            "workflow_execution_id": ids.get("workflow_executions"),
            "step_execution_id": ids.get("workflow_step_executions"),
            "provider": "mock",
            "model": "mock",
            "input_tokens": 120,
            "output_tokens": 30,
            "cost_usd": 0,
            "latency_ms": 4,
            "prompt_sha256": "0" * 64,
            "status": "success",
        },
        "idempotency_keys": {"key": f"request-{suffix}", "request_fingerprint": "f" * 64},
        "console_sessions": {
            "user_id": ids.get("users"),
            "token_hash": uuid.uuid4().bytes * 2,
            "signed_in_with": "link",
            "expires_at": "2999-01-01T00:00:00Z",
        },
        "job_failures": {
            "job": "engine.renewal_sweep",
            "subject_type": "customer",
            "subject_id": f"c-{suffix}",
            "error": "e",
            "first_seen_at": "2026-01-01T00:00:00Z",
            "last_seen_at": "2026-01-01T00:00:00Z",
            "next_attempt_at": "2026-01-01T00:05:00Z",
        },
        "console_login_links": {
            "user_id": ids.get("users"),
            "token_hash": uuid.uuid4().bytes * 2,
            "expires_at": "2999-01-01T00:00:00Z",
        },
        "tenant_settings_changes": {
            "actor_user_id": ids.get("users"),
            "actor": f"csm-{suffix}@example.com",
            "action": "update",
            "keys": ["company.ceo"],
        },
        "quarantined_rows": {
            "source_table": "usage_metrics",
            "source_id": uuid.uuid4(),
            "row_data": "(...)",
            "reason": "a usage value outside ±1e15",
        },
        "knowledge_bases": {"name": f"Playbooks {suffix}"},
        "knowledge_documents": {
            "knowledge_base_id": ids.get("knowledge_bases"),
            "title": "Renewal playbook",
            "filename": "playbook.md",
            "format": "md",
            "size_bytes": 31,
            "sha256": "0" * 64,
            "content": "Book the QBR two months ahead.",
        },
        "knowledge_chunks": {
            "knowledge_base_id": ids.get("knowledge_bases"),
            "document_id": ids.get("knowledge_documents"),
            "ordinal": 0,
            "title": "Renewal playbook",
            "body": "Book the QBR two months ahead.",
        },
    }
    return rows[table]


def populate(conn: Connection) -> dict[str, uuid.UUID]:
    """Inserts one row in every tenant table (workflow_versions and customer_data_versions come
    from triggers)."""
    ids: dict[str, uuid.UUID] = {}
    for table in TENANT_TABLES:
        if table == "customer_data_versions":
            row = conn.execute(
                "SELECT id FROM customer_data_versions WHERE customer_id = %s", (ids["customers"],)
            ).fetchone()
            assert row is not None
            ids[table] = row["id"]
            continue
        if table == "workflow_versions":
            row = conn.execute(
                "SELECT id FROM workflow_versions WHERE workflow_id = %s", (ids["workflows"],)
            ).fetchone()
            assert row is not None
            ids[table] = row["id"]
            continue
        ids[table] = insert(conn, table, base_values(ids, table))
    return ids
