"""Where a tenant's pass is recorded in the autonomous-run ledger (`autonomous_tasks`, task type
`continuous_intelligence_update`) and where the tenant's LLM budget is asked: through
`renewflow.ledger`, in one place, so the pass itself knows neither."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from renewflow import ledger
from renewflow.db import Connection, Database

TriggeredBy = Literal["cron", "api", "system"]
LedgerStatus = Literal["completed", "failed", "partial_failure", "cancelled"]
AGENT_NAME = "continuous-intelligence"


def start_tenant_run(
    conn: Connection, *, tenant_id: UUID, triggered_by: TriggeredBy, input: dict[str, Any]
) -> UUID:
    """A running ledger row for the tenant; the LLM calls recorded later in a transaction that
    `attach`es it are linked to it."""
    return ledger.start(
        conn,
        tenant_id=tenant_id,
        task_type=ledger.TaskType.CONTINUOUS_INTELLIGENCE_UPDATE,
        triggered_by=triggered_by,
        agent_name=AGENT_NAME,
        input=input,
    )


attach = ledger.attach


def finish_tenant_run(
    conn: Connection,
    run_id: UUID,
    *,
    status: LedgerStatus,
    output: dict[str, Any],
    error: str | None = None,
    cost_usd: Decimal | None = None,
) -> None:
    ledger.finish(conn, run_id, status=status, output=output, error=error, cost_usd=cost_usd)


def budget_refusal(conn: Connection, tenant_id: UUID) -> str | None:
    """Why the tenant's scheduled LLM work must wait (its budget is spent), or None to go on."""
    allowed = ledger.allows_autonomous(conn, tenant_id)
    return None if allowed else (allowed.reason or "the tenant's LLM budget is spent")


def record_idle_tenants(
    database: Database, tenants: Iterable[UUID], *, triggered_by: TriggeredBy, every: timedelta
) -> None:
    """The tenants a pass found nothing due for: a completed run each (one row per tenant and
    hour), so the health of the agent's schedule (`renewflow.ledger.health`) holds for a tenant
    whose customers did not change, and only a tenant left waiting (past the pass's limit, or
    failing) goes late."""
    idle = list(tenants)
    if not idle:
        return
    with ledger.periodic(
        database,
        ledger.TaskType.CONTINUOUS_INTELLIGENCE_UPDATE,
        agent_name=AGENT_NAME,
        every=every,
        triggered_by=triggered_by,
        tenants=idle,
    ) as run:
        for tenant_id in idle:
            run.count(tenant_id, "customers_due", 0)
