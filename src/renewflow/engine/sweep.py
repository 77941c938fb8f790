"""The trigger sweep: every customer with an active contract gets the workflow its days until
renewal call for, in a few set-based statements however many customers there are; then early
triggers may pull a stage forward for the customers just before it.

Run with a service transaction it covers every tenant; with a tenant transaction (an admin's
on-demand sweep), row-level security narrows the same statements to that tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from renewflow import templates
from renewflow.context import CustomerNotFound, build_contexts
from renewflow.db import Connection, load_queries
from renewflow.tasks import surface_open_tasks_of_many
from renewflow.workflows.model import EarlyTrigger, Trigger

_Q = load_queries("renewflow.engine")

# How many days before its range a workflow's early triggers are looked at.
EARLY_WINDOW_DAYS = 30


@dataclass(frozen=True)
class SweepResult:
    considered: int
    started: int
    superseded: int
    tasks_carried: int
    started_early: int = 0


def sweep(conn: Connection, now: datetime | None = None) -> SweepResult:
    """Starts and supersedes executions so each customer runs the workflow of its stage.

    Idempotent: a second run at the same moment changes nothing. `now` exists so tests and
    backfills can sweep as of another time.
    """
    params = {"now": now or datetime.now(UTC)}
    with conn.transaction():
        conn.execute(_Q["drop_sweep_tables"])
        conn.execute(_Q["sweep_usable"], params)
        considered = conn.execute(_Q["sweep_targets"], params).rowcount
        # temporary tables are never auto-analysed; the next statements join on it
        conn.execute(_Q["analyze_sweep_targets"])
        superseded = conn.execute(_Q["sweep_supersede"], params).fetchall()
        conn.execute(_Q["sweep_drop_running"])
        started = conn.execute(_Q["sweep_start"], params).fetchall()
        moved = {row["customer_id"] for row in superseded}
        carried = surface_open_tasks_of_many(
            conn,
            [
                (row["customer_id"], row["execution_id"])
                for row in started
                if row["customer_id"] in moved
            ],
        )
        early_started, early_superseded, early_carried = _early_triggers(conn, params["now"])
    return SweepResult(
        considered=considered,
        started=len(started) + early_started,
        superseded=len(superseded) + early_superseded,
        tasks_carried=carried + early_carried,
        started_early=early_started,
    )


def _early_triggers(conn: Connection, now: datetime) -> tuple[int, int, int]:
    """Evaluates the early triggers of the workflows just ahead of each customer; returns
    (started, superseded, tasks surfaced). One context per candidate: candidates are only the
    customers in the window before a workflow that has early triggers."""
    candidates = conn.execute(_Q["early_candidates"], {"window": EARLY_WINDOW_DAYS}).fetchall()
    # the loop writes executions only, which no context without an execution reads: the
    # candidates' contexts can all be built up front, in one query
    contexts = build_contexts(conn, {row["customer_id"] for row in candidates})
    triggers: dict[Any, list[EarlyTrigger]] = {}
    started = superseded = carried = 0
    done: set[Any] = set()
    for row in candidates:
        if row["customer_id"] in done:
            continue  # the nearest stage's trigger had its chance first
        early = triggers.get(row["workflow_pk"])
        if early is None:
            early = triggers[row["workflow_pk"]] = _early_of(conn, row["workflow_pk"])
        context = contexts.get(row["customer_id"])
        if context is None:
            raise CustomerNotFound(f"customer {row['customer_id']} not found")
        fired = next(
            (
                t
                for t in early
                if templates.compile(t.condition).render(context).strip().lower() == "true"
            ),
            None,
        )
        if fired is None:
            continue
        done.add(row["customer_id"])
        if row["current_execution_id"] is not None:
            conn.execute(
                _Q["supersede_execution"], {"execution_id": row["current_execution_id"], "now": now}
            )
            superseded += 1
        new = conn.execute(
            _Q["start_early"],
            {
                "tenant_id": row["tenant_id"],
                "customer_id": row["customer_id"],
                "workflow_pk": row["workflow_pk"],
                "version": row["version"],
                "first_step": row["first_step"],
                "now": now,
                "reason": Jsonb(
                    {
                        "rule": "earlyTrigger",
                        "workflowId": row["workflow_id"],
                        "condition": fired.condition,
                        "description": fired.description,
                        "range": {"min": row["min_days"], "max": row["max_days"]},
                        "daysUntilRenewal": row["days"],
                        "renewalDate": row["renewal_date"].isoformat(),
                        "timeZone": row["time_zone"],
                        "evaluatedAt": now.isoformat(),
                    }
                ),
            },
        ).fetchone()
        assert new is not None
        started += 1
        carried += surface_open_tasks_of_many(conn, [(row["customer_id"], new["id"])])
    return started, superseded, carried


def _early_of(conn: Connection, workflow_pk: Any) -> list[EarlyTrigger]:
    row = conn.execute(_Q["workflow_trigger"], {"workflow_pk": workflow_pk}).fetchone()
    if row is None or not row["trigger"]:
        return []
    return list(Trigger.model_validate(row["trigger"]).early_triggers)
