"""No existence oracle across tenants: a row that names another tenant's parent fails exactly like
a row naming a missing one, even where it would collide with that tenant's own row on a key.

Unique keys are checked before foreign keys, so a key on (customer_id) alone answered "already
exists" for another tenant's customer and "no such customer" for a missing one. Keys lead with
tenant_id (migration 0017); what cannot (workflow_versions) checks its parent first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from renewflow.db import Database
from tests.db.rows import insert, populate

# Unique indexes on tenant tables that do not lead with tenant_id, and why that is no oracle.
NOT_TENANT_LEADING = {
    # a key's (a session's, a sign-in link's) SHA-256: looked up before the tenant is known;
    # holding it means holding the secret itself
    ("api_keys", "api_keys_key_hash_key"),
    ("console_sessions", "console_sessions_token_hash_key"),
    ("console_login_links", "console_login_links_token_hash_key"),
    # executions of core workflows point at (workflow_id, version): a trigger checks the
    # version's workflow first (workflow_version_needs_its_workflow)
    ("workflow_versions", "workflow_versions_workflow_id_version_key"),
}


def test_every_unique_key_of_a_tenant_table_leads_with_tenant_id(database: Database) -> None:
    with database.owner_connection() as conn:
        rows = conn.execute(
            """SELECT c.relname AS tbl, i.relname AS idx,
                      (SELECT attname FROM pg_attribute
                       WHERE attrelid = c.oid AND attnum = ix.indkey[0]) AS first_column
               FROM pg_index ix
               JOIN pg_class i ON i.oid = ix.indexrelid
               JOIN pg_class c ON c.oid = ix.indrelid
               WHERE ix.indisunique AND NOT ix.indisprimary
                 AND c.relnamespace = 'public'::regnamespace
                 AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                             AND a.attname = 'tenant_id' AND NOT a.attisdropped)"""
        ).fetchall()
    offending = {
        (r["tbl"], r["idx"]) for r in rows if r["first_column"] != "tenant_id"
    } - NOT_TENANT_LEADING
    assert offending == set()


@pytest.fixture(scope="module")
def victim(database: Database) -> tuple[uuid.UUID, uuid.UUID, dict[str, Any]]:
    """Tenant A (the prober) and tenant B (the victim), B holding a row behind every key."""
    from renewflow import accounts

    tenants = []
    for name in ("Prober", "Victim"):
        with database.service_transaction() as conn:
            tenant_id = accounts.create_tenant(conn, f"{name} {uuid.uuid4().hex[:6]}")["id"]
        with database.tenant_transaction(tenant_id) as conn:
            ids = populate(conn)
            conn.execute("UPDATE contacts SET is_primary = true WHERE id = %s", (ids["contacts"],))
            insert(
                conn,
                "workflow_step_executions",
                {
                    "workflow_execution_id": ids["workflow_executions"],
                    "step_id": "value-risk-analysis",
                    "step_index": 1,
                    "status": "running",
                    "lease_token": uuid.uuid4(),
                    "lease_expires_at": "2999-01-01T00:00:00Z",
                },
            )
            usage = conn.execute(
                "SELECT metric_name, metric_date FROM usage_metrics WHERE id = %s",
                (ids["usage_metrics"],),
            ).fetchone()
            version = conn.execute(
                "SELECT version FROM workflow_versions WHERE id = %s", (ids["workflow_versions"],)
            ).fetchone()
            assert version is not None
            tenants.append((tenant_id, {**ids, "usage": usage, "version": version["version"]}))
    (a, _), (b, b_rows) = tenants
    return a, b, b_rows


# Each case: the table, and its row given the parent ids to name (the victim's, or random ones).
Case = tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]
CASES: list[Case] = [
    (
        "workflow_executions",
        lambda p: {
            "customer_id": p["customers"],
            "workflow_id": p["workflows"],
            "workflow_version": 1,
        },
    ),
    (
        "contracts",
        lambda p: {"customer_id": p["customers"], "renewal_date": "2027-01-01", "arr": 1},
    ),
    ("contacts", lambda p: {"customer_id": p["customers"], "name": "Spy", "is_primary": True}),
    (
        "usage_metrics",
        lambda p: {
            "customer_id": p["customers"],
            "metric_name": p["usage"]["metric_name"],
            "metric_date": p["usage"]["metric_date"],
            "value": 1,
        },
    ),
    ("customer_intelligence", lambda p: {"customer_id": p["customers"], "risk_score": 1}),
    (
        "workflow_versions",
        lambda p: {"workflow_id": p["workflows"], "version": p["version"], "config": Jsonb({})},
    ),
    (
        "workflow_step_executions",
        lambda p: {
            "workflow_execution_id": p["workflow_executions"],
            "step_id": "x",
            "step_index": 0,
            "status": "queued",
        },
    ),
    (
        "workflow_chat_messages",
        lambda p: {
            "thread_id": p["workflow_chat_threads"],
            "role": "user",
            "content": "hi",
            "sequence_number": 1,
        },
    ),
    (
        "workflow_llm_context",
        lambda p: {
            "thread_id": p["workflow_chat_threads"],
            "system_prompt": "x",
            "context_data": Jsonb({}),
        },
    ),
    (
        "task_steps",
        lambda p: {
            "task_id": p["agent_tasks"],
            "step_order": 1,
            "step_name": "x",
            "instructions": "x",
        },
    ),
]


def _failure(database: Database, tenant: uuid.UUID, table: str, values: dict[str, Any]) -> Any:
    with pytest.raises(psycopg.Error) as caught:
        with database.tenant_transaction(tenant) as conn:
            insert(conn, table, values)
    return caught.value


@pytest.mark.parametrize(("table", "row"), CASES, ids=[c[0] for c in CASES])
def test_another_tenants_parent_fails_like_a_missing_one(
    database: Database, victim: tuple[uuid.UUID, uuid.UUID, dict[str, Any]], table: str, row: Any
) -> None:
    prober, _, theirs = victim
    missing = {
        key: uuid.uuid4() if isinstance(value, uuid.UUID) else value
        for key, value in theirs.items()
    }
    against_theirs = _failure(database, prober, table, row(theirs))
    against_missing = _failure(database, prober, table, row(missing))
    assert isinstance(against_theirs, psycopg.errors.ForeignKeyViolation), against_theirs
    assert type(against_theirs) is type(against_missing)
    assert against_theirs.diag.constraint_name == against_missing.diag.constraint_name


def test_a_saved_action_id_another_tenant_uses_is_free(
    database: Database, victim: tuple[uuid.UUID, uuid.UUID, dict[str, Any]]
) -> None:
    prober, owner, _ = victim
    action_id = f"snooze-{uuid.uuid4().hex[:6]}"
    values = {"action_id": action_id, "action_name": "Snooze", "action_type": "snooze"}
    with database.tenant_transaction(owner) as conn:
        insert(conn, "saved_actions", values)
    with database.tenant_transaction(prober) as conn:
        insert(conn, "saved_actions", values)


def test_a_branch_naming_another_tenants_action_fails_like_a_missing_one(
    database: Database, victim: tuple[uuid.UUID, uuid.UUID, dict[str, Any]]
) -> None:
    prober, owner, _ = victim
    theirs = f"theirs-{uuid.uuid4().hex[:6]}"
    with database.tenant_transaction(owner) as conn:
        insert(
            conn,
            "saved_actions",
            {"action_id": theirs, "action_name": "Theirs", "action_type": "script"},
        )

    def branch(action_id: str) -> dict[str, Any]:
        return {
            "workflow_id": "critical",
            "from_step_id": "x",
            "branch_id": f"b-{uuid.uuid4().hex[:6]}",
            "branch_label": "B",
            "branch_type": "saved_action",
            "saved_action_id": action_id,
        }

    against_theirs = _failure(database, prober, "workflow_chat_branches", branch(theirs))
    against_missing = _failure(database, prober, "workflow_chat_branches", branch("nothing-here"))
    assert isinstance(against_theirs, psycopg.errors.ForeignKeyViolation)
    assert type(against_theirs) is type(against_missing)
    assert against_theirs.diag.constraint_name == against_missing.diag.constraint_name
    with database.tenant_transaction(prober) as conn:  # a core action is everyone's
        insert(conn, "workflow_chat_branches", branch("snooze-7-days"))
