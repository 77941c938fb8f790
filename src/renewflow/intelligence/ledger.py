"""Where a tenant's pass is recorded in the autonomous-run ledger (`autonomous_tasks`, task type
`continuous_intelligence_update`) and where the tenant's LLM budget is asked.

The one place to switch to `renewflow.ledger` (its `start`/`finish`) and its budgets once they
exist: nothing else in this package writes the ledger or knows about budgets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow.db import Connection, load_queries

_Q = load_queries("renewflow.intelligence")

TriggeredBy = Literal["cron", "api", "system"]
LedgerStatus = Literal["completed", "failed", "partial_failure", "cancelled"]


def start_tenant_run(conn: Connection, *, triggered_by: TriggeredBy, input: dict[str, Any]) -> UUID:
    """A running ledger row for the transaction's tenant; the LLM calls recorded later in a
    transaction that `attach`es it are linked to it."""
    row = conn.execute(
        _Q["ledger_start"], {"input": Jsonb(input), "triggered_by": triggered_by}
    ).fetchone()
    assert row is not None
    run_id: UUID = row["id"]
    return run_id


def attach(conn: Connection, run_id: UUID) -> None:
    conn.execute(_Q["ledger_attach"], {"id": run_id})


def finish_tenant_run(
    conn: Connection,
    run_id: UUID,
    *,
    status: LedgerStatus,
    output: dict[str, Any],
    error: str | None = None,
    cost_usd: Decimal | None = None,
) -> None:
    conn.execute(
        _Q["ledger_finish"],
        {
            "id": run_id,
            "status": status,
            "output": Jsonb(output),
            "error": error,
            "cost": cost_usd,
        },
    )


def budget_refusal(conn: Connection, tenant_id: UUID) -> str | None:
    """Why the tenant's scheduled LLM work must wait (its budget is spent), or None to go on.

    No budgets exist yet: every tenant may go on. Replace with the ledger's
    `budget.allows_autonomous(conn, tenant_id)` when it lands."""
    return None
