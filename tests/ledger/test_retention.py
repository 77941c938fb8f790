"""Retention prunes exactly what is older than the tenant's settings say, writing its own row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from renewflow import ledger
from renewflow.db import Database
from renewflow.ledger.retention import run_retention
from tests.ledger.conftest import add_call, ledger_rows, set_settings


def _age(database: Database, table: str, column: str, row_id: uuid.UUID, days: int) -> None:
    from psycopg import sql

    with database.owner_connection() as conn:
        conn.execute(
            sql.SQL("UPDATE {} SET {} = now() - make_interval(days => %s) WHERE id = %s").format(
                sql.Identifier(table), sql.Identifier(column)
            ),
            (days, row_id),
        )


def _notification(database: Database, tenant: uuid.UUID, status: str) -> uuid.UUID:
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute(
            "INSERT INTO notifications (tenant_id, recipient, channel, notification_type, title,"
            " message, status) VALUES (current_tenant_id(), 'x@example.com', 'email', 't', 't',"
            " 'm', %s) RETURNING id",
            (status,),
        ).fetchone()
    assert row is not None
    row_id: uuid.UUID = row["id"]
    return row_id


def _thread(database: Database, tenant: uuid.UUID, status: str) -> uuid.UUID:
    with database.tenant_transaction(tenant) as conn:
        row = conn.execute(
            "INSERT INTO workflow_chat_threads (tenant_id, step_id, thread_type, status, ended_at)"
            " VALUES (current_tenant_id(), 's', 'llm', %s, CASE WHEN %s <> 'active' THEN now() END)"
            " RETURNING id",
            (status, status),
        ).fetchone()
    assert row is not None
    row_id: uuid.UUID = row["id"]
    return row_id


def _ids(database: Database, tenant: uuid.UUID, table: str) -> set[uuid.UUID]:
    from psycopg import sql

    with database.tenant_transaction(tenant) as conn:
        return {
            r["id"]
            for r in conn.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(table)))
        }


def test_retention_prunes_exactly_what_is_old_and_logs_its_run(
    database: Database, tenant: uuid.UUID
) -> None:
    set_settings(
        database,
        tenant,
        {
            "retention": {
                "llm_calls_days": 30,
                "ledger_days": 30,
                "notifications_days": 30,
                "chat_threads_days": 30,
            }
        },
    )
    old_call, new_call = add_call(database, tenant, "0.1"), add_call(database, tenant, "0.1")
    _age(database, "llm_calls", "created_at", old_call, 31)
    with database.tenant_transaction(tenant) as conn:
        old_run = ledger.record(
            conn, tenant_id=tenant, task_type="renewal_sweep", status="completed"
        )
        new_run = ledger.record(
            conn, tenant_id=tenant, task_type="renewal_sweep", status="completed"
        )
    _age(database, "autonomous_tasks", "created_at", old_run, 31)
    sent_old, sent_new = (
        _notification(database, tenant, "sent"),
        _notification(database, tenant, "sent"),
    )
    pending_old = _notification(database, tenant, "pending")
    for n in (sent_old, pending_old):
        _age(database, "notifications", "created_at", n, 40)
    done_old, done_new = (
        _thread(database, tenant, "completed"),
        _thread(database, tenant, "completed"),
    )
    active_old = _thread(database, tenant, "active")
    for t in (done_old, active_old):
        _age(database, "workflow_chat_threads", "started_at", t, 40)
    _age(database, "workflow_chat_threads", "ended_at", done_old, 40)

    result = run_retention(database, batch=1)  # one row per batch: the loop is exercised

    assert result.deleted[tenant] == {
        "llm_calls": 1,
        "ledger": 1,
        "notifications": 1,
        "chat_threads": 1,
    }
    assert _ids(database, tenant, "llm_calls") == {new_call}
    assert {old_run, new_run} & _ids(database, tenant, "autonomous_tasks") == {new_run}
    assert _ids(database, tenant, "notifications") == {sent_new, pending_old}
    assert _ids(database, tenant, "workflow_chat_threads") == {done_new, active_old}
    [row] = ledger_rows(database, tenant, "data_cleanup")
    assert row["status"] == "completed"
    assert row["agent_name"] == "ledger.retention"
    assert row["output_data"]["deleted"]["llm_calls"] == 1
    assert row["duration_ms"] is not None


def test_retention_without_settings_keeps_everything(database: Database, tenant: uuid.UUID) -> None:
    call = add_call(database, tenant, "0.1", at=datetime.now(UTC) - timedelta(days=4000))
    run_retention(database)
    assert call in _ids(database, tenant, "llm_calls")
    [row] = ledger_rows(database, tenant, "data_cleanup")
    assert row["status"] == "completed"
    assert row["output_data"] == {"deleted": {}}
