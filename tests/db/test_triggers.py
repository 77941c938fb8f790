"""Triggers: updated_at, autonomous task duration, and workflow versioning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from renewflow.db import Database


def _tables_with_updated_at(database: Database) -> list[str]:
    with database.owner_connection() as conn:
        rows = conn.execute(
            """SELECT table_name FROM information_schema.columns
               WHERE table_schema = 'public' AND column_name = 'updated_at' ORDER BY table_name"""
        ).fetchall()
    return [r["table_name"] for r in rows]


def test_updated_at_moves_on_update_in_every_table(database: Database, tenant_rows) -> None:
    tenant_id, ids = tenant_rows
    tables = _tables_with_updated_at(database)
    assert len(tables) >= 15
    ids = {**ids, "tenants": tenant_id}
    for table in tables:
        query = sql.SQL(
            "UPDATE {} SET updated_at = '2000-01-01' WHERE id = %s RETURNING updated_at"
        ).format(sql.Identifier(table))
        with database.tenant_transaction(tenant_id) as conn:
            row = conn.execute(query, (ids[table],)).fetchone()
        assert row is not None, table
        assert row["updated_at"] > datetime.now(UTC) - timedelta(minutes=5), table


def test_autonomous_task_duration_follows_its_timestamps(database: Database, tenant_rows) -> None:
    tenant_id, _ = tenant_rows
    started = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)
    with database.tenant_transaction(tenant_id) as conn:
        row = conn.execute(
            """INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at, completed_at)
               VALUES (current_tenant_id(), 'data_cleanup', 'completed', %s, %s)
               RETURNING id, duration_ms""",
            (started, started + timedelta(seconds=1, milliseconds=500)),
        ).fetchone()
        assert row is not None
        assert row["duration_ms"] == 1500
        updated = conn.execute(
            "UPDATE autonomous_tasks SET completed_at = %s WHERE id = %s RETURNING duration_ms",
            (started + timedelta(minutes=2), row["id"]),
        ).fetchone()
        assert updated == {"duration_ms": 120_000}
        running = conn.execute(
            """INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at)
               VALUES (current_tenant_id(), 'data_cleanup', 'running', now()) RETURNING duration_ms"""
        ).fetchone()
        assert running == {"duration_ms": None}


def test_autonomous_task_summary(database: Database, tenant_rows) -> None:
    tenant_id, _ = tenant_rows
    now = datetime.now(UTC)
    with database.tenant_transaction(tenant_id) as conn:
        for status, cost in (("completed", 0.10), ("completed", 0.05), ("failed", 0.01)):
            conn.execute(
                """INSERT INTO autonomous_tasks (tenant_id, task_type, status, executed_at, completed_at,
                                                cost_estimate_usd)
                   VALUES (current_tenant_id(), 'weekly_report_generation', %s, %s, %s, %s)""",
                (status, now - timedelta(minutes=10), now - timedelta(minutes=9), cost),
            )
        rows = conn.execute(
            "SELECT * FROM get_autonomous_task_summary(%s, 'weekly_report_generation', 24)",
            (tenant_id,),
        ).fetchall()
        other = conn.execute(
            "SELECT * FROM get_autonomous_task_summary(%s, NULL, 24)", (uuid.uuid4(),)
        ).fetchall()
    assert len(rows) == 1
    summary = rows[0]
    assert (summary["total_executions"], summary["completed_count"], summary["failed_count"]) == (
        3,
        2,
        1,
    )
    assert float(summary["total_cost_usd"]) == pytest.approx(0.16)
    assert float(summary["avg_duration_ms"]) == 60_000
    assert other == []


def test_config_change_writes_the_next_version(database: Database, tenant_rows) -> None:
    tenant_id, ids = tenant_rows
    user_id = ids["users"]
    slug = f"versioned-{uuid.uuid4().hex[:6]}"
    with database.tenant_transaction(tenant_id, user_id) as conn:
        workflow = conn.execute(
            """INSERT INTO workflows (tenant_id, workflow_id, name, config)
               VALUES (current_tenant_id(), %s, 'V', %s) RETURNING id""",
            (slug, Jsonb({"id": slug, "steps": []})),
        ).fetchone()
        assert workflow is not None
        conn.execute("UPDATE workflows SET name = 'Renamed' WHERE id = %s", (workflow["id"],))
    with database.tenant_transaction(tenant_id, user_id) as conn:
        conn.execute("SELECT set_config('renewflow.change_description', 'add a step', true)")
        conn.execute(
            "UPDATE workflows SET config = %s WHERE id = %s",
            (Jsonb({"id": slug, "steps": [{"id": "one"}]}), workflow["id"]),
        )
        versions = conn.execute(
            """SELECT version, config, changed_by, change_description FROM workflow_versions
               WHERE workflow_id = %s ORDER BY version""",
            (workflow["id"],),
        ).fetchall()
    assert [v["version"] for v in versions] == [1, 2]  # the rename changed no config: no version
    assert versions[1]["config"] == {"id": slug, "steps": [{"id": "one"}]}
    assert versions[1]["changed_by"] == user_id
    assert versions[1]["change_description"] == "add a step"
    assert versions[0]["change_description"] is None
