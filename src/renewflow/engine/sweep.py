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
        started = conn.execute(
            _Q["sweep_start"], {**params, "moved": [row["customer_id"] for row in superseded]}
        ).fetchone()
        assert started is not None
        carried = surface_open_tasks_of_many(
            conn, list(zip(started["moved_customers"], started["moved_executions"], strict=True))
        )
        early_started, early_superseded, early_carried = _early_triggers(conn, params["now"])
    return SweepResult(
        considered=considered,
        started=started["started"] + early_started,
        superseded=len(superseded) + early_superseded,
        tasks_carried=carried + early_carried,
        started_early=early_started,
    )


def _early_triggers(conn: Connection, now: datetime) -> tuple[int, int, int]:
    """Evaluates the early triggers of the workflows just ahead of each customer; returns
    (started, superseded, tasks surfaced). One context per candidate: candidates are only the
    customers in the window before a workflow that has early triggers."""
    candidates = conn.execute(_Q["early_candidates"], {"window": EARLY_WINDOW_DAYS}).fetchall()
    # a context without an execution reads nothing the sweep writes: the candidates' contexts
    # are built up front, in one query, and the writes come after the loop, set-based
    contexts = build_contexts(conn, {row["customer_id"] for row in candidates})
    triggers: dict[Any, list[EarlyTrigger]] = {}
    done: set[Any] = set()
    superseded_ids: list[Any] = []
    fired_rows: list[tuple[dict[str, Any], EarlyTrigger]] = []
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
            superseded_ids.append(row["current_execution_id"])
        fired_rows.append((row, fired))
    # customers are independent of each other: their executions end, start and take their
    # open tasks over in three statements, whatever their number
    if superseded_ids:
        conn.execute(_Q["supersede_executions"], {"execution_ids": superseded_ids, "now": now})
    if not fired_rows:
        return 0, len(superseded_ids), 0
    new = conn.execute(
        _Q["start_early"],
        {
            "tenant_ids": [row["tenant_id"] for row, _ in fired_rows],
            "customer_ids": [row["customer_id"] for row, _ in fired_rows],
            "workflow_pks": [row["workflow_pk"] for row, _ in fired_rows],
            "versions": [row["version"] for row, _ in fired_rows],
            "first_steps": [row["first_step"] for row, _ in fired_rows],
            "reasons": [_early_reason(row, fired, now) for row, fired in fired_rows],
            "now": now,
        },
    ).fetchall()
    carried = surface_open_tasks_of_many(conn, [(r["customer_id"], r["id"]) for r in new])
    return len(new), len(superseded_ids), carried


def _early_reason(row: dict[str, Any], fired: EarlyTrigger, now: datetime) -> Jsonb:
    return Jsonb(
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
    )


def _early_of(conn: Connection, workflow_pk: Any) -> list[EarlyTrigger]:
    row = conn.execute(_Q["workflow_trigger"], {"workflow_pk": workflow_pk}).fetchone()
    if row is None or not row["trigger"]:
        return []
    return list(Trigger.model_validate(row["trigger"]).early_triggers)
