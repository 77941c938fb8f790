"""Workflow executions: starting one by hand, reading them, and moving between steps.

An execution runs the workflow version it started with (`workflow_versions`), whatever edits
come later. Every function works in the caller's tenant transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from renewflow.context import CustomerNotFound
from renewflow.db import Connection, load_queries
from renewflow.engine.errors import ExecutionConflict, ExecutionNotFound, StepRunning
from renewflow.errors import InvalidInputError, PermissionDeniedError
from renewflow.workflows.model import Step, WorkflowConfig

_Q = load_queries("renewflow.engine")
_RUNS = load_queries("renewflow.engine", "runs.sql")


@dataclass(frozen=True)
class LoadedExecution:
    """An execution row with the config of the version it runs."""

    row: dict[str, Any]
    config: WorkflowConfig

    @property
    def id(self) -> UUID:
        execution_id: UUID = self.row["id"]
        return execution_id

    def step(self, step_id: str) -> tuple[int, Step]:
        for index, step in enumerate(self.config.steps):
            if step.id == step_id:
                return index, step
        raise ExecutionNotFound(f"the workflow {self.row['workflow_id']} has no step {step_id!r}")


def start_execution(
    conn: Connection,
    *,
    customer_id: UUID,
    workflow: dict[str, Any],
    started_by: UUID | None,
    reason: dict[str, Any],
) -> UUID:
    """Starts `workflow` (a row of `renewflow.workflows.get_workflow`) for a customer, at its
    current version.

    A customer runs one execution at a time: starting another while one is active is a conflict.
    """
    version = workflow["current_version"]
    if version is None:
        raise ExecutionConflict(f"workflow {workflow['workflow_id']} has no published version")
    config = workflow["config"]
    try:
        with conn.transaction():
            row = conn.execute(
                _Q["insert_execution"],
                {
                    "customer_id": customer_id,
                    "workflow_pk": workflow["id"],
                    "version": version,
                    "first_step": config["steps"][0]["id"] if config.get("steps") else None,
                    "reason": Jsonb(reason),
                    "started_by": started_by,
                },
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        active = conn.execute(
            _Q["active_execution_of_customer"], {"customer_id": customer_id}
        ).fetchone()
        active_id = active["id"] if active else "?"
        raise ExecutionConflict(
            f"customer {customer_id} already has an active execution ({active_id}); "
            "complete or cancel it first"
        ) from None
    except psycopg.errors.ForeignKeyViolation:
        # a missing customer and another tenant's look the same: the one-active key leads with
        # tenant_id (migration 0017), so only this tenant's own rows can collide before this
        raise CustomerNotFound(f"customer {customer_id} not found") from None
    assert row is not None
    execution_id: UUID = row["id"]
    return execution_id


def startable_workflows(conn: Connection) -> list[dict[str, Any]]:
    """The workflows the transaction's tenant can start, with their triggers."""
    return conn.execute(_Q["startable_workflows"]).fetchall()


def load_execution(conn: Connection, execution_id: UUID, *, lock: bool = False) -> LoadedExecution:
    query = _Q["get_execution_for_update"] if lock else _Q["get_execution"]
    row = conn.execute(query, {"execution_id": execution_id}).fetchone()
    if row is None:
        raise ExecutionNotFound(f"execution {execution_id} not found")
    return LoadedExecution(
        row=row, config=_config(row["workflow_pk"], row["workflow_version"], row["config"])
    )


# Versions never change once written, so each is validated once per process.
_CONFIGS: dict[tuple[UUID, int], WorkflowConfig] = {}
_CONFIGS_MAX = 1024


def _config(workflow_pk: UUID, version: int, raw: dict[str, Any]) -> WorkflowConfig:
    key = (workflow_pk, version)
    config = _CONFIGS.get(key)
    if config is None:
        if len(_CONFIGS) >= _CONFIGS_MAX:
            _CONFIGS.clear()
        config = _CONFIGS[key] = WorkflowConfig.model_validate(raw)
    return config


def list_executions(
    conn: Connection,
    *,
    customer_id: UUID | None = None,
    workflow_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    rows = conn.execute(
        _Q["list_executions"],
        {
            "customer_id": customer_id,
            "workflow_id": workflow_id,
            "status": status,
            "limit": limit,
            "offset": offset,
        },
    ).fetchall()
    total = rows[0]["total_count"] if rows else 0
    return rows, total


def step_history(conn: Connection, execution_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(_Q["step_history"], {"execution_id": execution_id}).fetchall()


def steps_overview(
    execution: LoadedExecution, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each step of the workflow with its latest state in this execution."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in history:
        latest[entry["step_id"]] = entry
    overview = []
    for step in execution.config.steps:
        last = latest.get(step.id)
        status = last["status"] if last else "pending"
        if status == "pending" and step.id == execution.row["current_step_id"]:
            status = "current"
        overview.append(
            {
                "id": step.id,
                "name": step.name,
                "type": step.type,
                "status": status,
                "outputs": last["outputs"] if last else None,
            }
        )
    return overview


def require_active(execution: LoadedExecution) -> None:
    if execution.row["status"] != "active":
        raise ExecutionConflict(
            f"execution {execution.id} is {execution.row['status']}, not active"
        )


def require_current(execution: LoadedExecution, step_id: str) -> None:
    require_active(execution)
    current = execution.row["current_step_id"]
    if current != step_id:
        raise ExecutionConflict(f"step {step_id!r} is not the current step ({current!r})")


def require_no_live_run(
    conn: Connection, execution: LoadedExecution, *, fresh: bool = True
) -> None:
    """Raises StepRunning while a run of the execution is queued or running under a lease; a run
    whose lease has passed (its process stopped between claim and finish) is settled, as failed,
    and blocks nobody.

    With `fresh` False, the live run loaded with the locked execution is trusted: it may miss a
    run claimed by a transaction that committed while this one waited for the lock, so callers
    passing False must guard their own write (as `insert_run` does)."""
    row = execution.row
    if fresh or row.get("live_expired"):
        live = conn.execute(
            _RUNS["settle_and_find_live"], {"execution_id": execution.id}
        ).fetchone()
        if live is None:
            return
        run_id, step_id, status = live["id"], live["step_id"], live["status"]
        since = live["started_at"] or live["queued_at"]
    elif row.get("live_run_id") is None:
        return
    else:
        run_id, step_id, status = row["live_run_id"], row["live_step_id"], row["live_status"]
        since = row["live_since"]
    raise StepRunning(
        f"step {step_id!r} is already {status} (run {run_id}, since "
        f"{since.isoformat() if since else 'now'}); wait for it, or follow the run",
        runId=str(run_id),
        runUrl=f"/api/workflows/runs/{run_id}",
        stepId=step_id,
    )


def next_step_in_order(execution: LoadedExecution, step_id: str) -> str | None:
    index, _ = execution.step(step_id)
    steps = execution.config.steps
    return steps[index + 1].id if index + 1 < len(steps) else None


def move_to(conn: Connection, execution: LoadedExecution, step_id: str | None) -> str:
    """Makes `step_id` current, or completes the execution when there is no next step."""
    status = "active" if step_id is not None else "completed"
    conn.execute(
        _Q["move_execution"],
        {"execution_id": execution.id, "step_id": step_id, "status": status},
    )
    return status


APPROVER_ROLES = frozenset({"admin", "manager"})


def require_approver_on_approval(
    execution: LoadedExecution, actor_role: str | None, what: str
) -> None:
    """An approval step is a gate: answering it, skipping it, going back from it or ending the
    execution on it are for approvers (managers and admins) only."""
    current = execution.row["current_step_id"]
    if current is None or execution.row["status"] != "active":
        return
    _, step = execution.step(current)
    if step.type == "approval" and actor_role not in APPROVER_ROLES:
        raise PermissionDeniedError(
            f"step {current!r} is an approval: only a manager or an admin may {what} it"
        )


def skip_step(
    conn: Connection,
    execution_id: UUID,
    step_id: str,
    reason: str,
    *,
    actor_role: str | None = None,
) -> str | None:
    """Skips the current step (a reason is required) and moves on in order; returns the next step."""
    if not reason.strip():
        raise InvalidInputError("reason", "a reason is required to skip a step")
    execution = load_execution(conn, execution_id, lock=True)
    index, _ = execution.step(step_id)
    require_current(execution, step_id)
    require_approver_on_approval(execution, actor_role, "skip")
    require_no_live_run(conn, execution)
    conn.execute(
        _Q["record_skipped_step"],
        {"execution_id": execution_id, "step_id": step_id, "step_index": index, "reason": reason},
    )
    following = next_step_in_order(execution, step_id)
    move_to(conn, execution, following)
    return following


def go_back(conn: Connection, execution_id: UUID, *, actor_role: str | None = None) -> str:
    """Makes the step before the current one current again (its outputs stay in the history)."""
    execution = load_execution(conn, execution_id, lock=True)
    require_active(execution)
    require_approver_on_approval(execution, actor_role, "go back from")
    require_no_live_run(conn, execution)
    current = execution.row["current_step_id"]
    index, _ = execution.step(current)
    if index == 0:
        raise ExecutionConflict("the current step is the first one: there is no step to go back to")
    previous = execution.config.steps[index - 1].id
    move_to(conn, execution, previous)
    return previous


def finish_execution(
    conn: Connection,
    execution_id: UUID,
    status: str = "completed",
    *,
    actor_role: str | None = None,
) -> None:
    """Ends an active execution as completed or cancelled."""
    if status not in ("completed", "cancelled"):
        raise InvalidInputError("status", "must be completed or cancelled")
    execution = load_execution(conn, execution_id, lock=True)
    require_active(execution)
    require_approver_on_approval(execution, actor_role, f"end the execution ({status}) on")
    require_no_live_run(conn, execution)
    conn.execute(
        _Q["move_execution"],
        {
            "execution_id": execution_id,
            "step_id": execution.row["current_step_id"],
            "status": status,
        },
    )
