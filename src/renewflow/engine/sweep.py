"""The trigger sweep: every customer with an active contract gets the workflow its days until
renewal call for, in a few set-based statements however many customers there are.

Run with a service transaction it covers every tenant; with a tenant transaction (an admin's
on-demand sweep), row-level security narrows the same statements to that tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from renewflow.db import Connection, load_queries

_Q = load_queries("renewflow.engine")


@dataclass(frozen=True)
class SweepResult:
    considered: int
    started: int
    superseded: int
    tasks_carried: int


def sweep(conn: Connection, now: datetime | None = None) -> SweepResult:
    """Starts and supersedes executions so each customer runs the workflow of its stage.

    Idempotent: a second run at the same moment changes nothing. `now` exists so tests and
    backfills can sweep as of another time.
    """
    params = {"now": now or datetime.now(UTC)}
    with conn.transaction():
        considered = conn.execute(_Q["sweep_targets"], params).rowcount
        # temporary tables are never auto-analysed; the next statements join on it
        conn.execute(_Q["analyze_sweep_targets"])
        superseded = conn.execute(_Q["sweep_supersede"], params).fetchall()
        started = conn.execute(_Q["sweep_start"], params).fetchall()
        new_by_customer = {row["customer_id"]: row["execution_id"] for row in started}
        pairs = [
            (row["old_execution_id"], new_by_customer[row["customer_id"]])
            for row in superseded
            if row["customer_id"] in new_by_customer
        ]
        carried = 0
        if pairs:
            carried = conn.execute(
                _Q["carry_open_tasks"],
                {"old_ids": [old for old, _ in pairs], "new_ids": [new for _, new in pairs]},
            ).rowcount
    return SweepResult(
        considered=considered,
        started=len(started),
        superseded=len(superseded),
        tasks_carried=carried,
    )
