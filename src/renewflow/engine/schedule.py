"""Scheduled notifications (the overdue ladder and friends), evaluated tenant by tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from renewflow.context import build_context
from renewflow.db import Connection, Database, load_queries
from renewflow.engine.notifications import due_scheduled, fire
from renewflow.workflows.model import WorkflowConfig

_Q = load_queries("renewflow.engine")


def fire_scheduled_notifications(conn: Connection, now: datetime | None = None) -> int:
    """Fires every scheduled notification due now for the transaction's tenant; returns how many
    rows were new. Safe to run often and from several processes: each fires once."""
    moment = now or datetime.now(UTC)
    configs: dict[tuple[UUID, int], WorkflowConfig] = {}
    created = 0
    for row in conn.execute(_Q["scheduled_candidates"], {"now": moment}).fetchall():
        key = (row["workflow_pk"], row["workflow_version"])
        config = configs.get(key)
        if config is None:
            config = configs[key] = WorkflowConfig.model_validate(row["config"])
        fired = set(row["fired"])
        due = [
            (notification, f"{row['id']}:{suffix}")
            for notification, suffix in due_scheduled(config.notifications, row["days"])
            if f"{row['id']}:{suffix}" not in fired
        ]
        if not due:
            continue
        context: dict[str, Any] = build_context(conn, row["customer_id"], row["id"])
        for notification, dedupe_key in due:
            created += fire(
                conn,
                execution_id=row["id"],
                customer_id=row["customer_id"],
                notification=notification,
                context=context,
                dedupe_key=dedupe_key,
            )
    return created


def run_schedule(database: Database, now: datetime | None = None) -> int:
    """Every tenant's scheduled notifications, each tenant in its own transaction: the service role
    only lists the tenants, the work runs under each tenant's row-level security."""
    with database.service_transaction() as conn:
        tenants = [row["id"] for row in conn.execute(_Q["tenant_ids"]).fetchall()]
    created = 0
    for tenant_id in tenants:
        with database.tenant_transaction(tenant_id) as conn:
            created += fire_scheduled_notifications(conn, now)
    return created
