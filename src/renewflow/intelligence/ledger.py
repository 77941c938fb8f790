"""Where a tenant's pass is recorded in the autonomous-run ledger (`autonomous_tasks`, task type
`continuous_intelligence_update`) and where the tenant's LLM budget is asked: through
`renewflow.ledger`, in one place, so the pass itself knows neither."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from renewflow import ledger
from renewflow.db import Connection

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
