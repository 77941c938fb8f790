"""Agent tasks for their owner: create, read, edit, order the steps, and steer runs.

Every function takes the caller's transaction (the API's or the CLI's): row-level security
limits it to the caller's own agent tasks (an admin also reads the tenant's others), so another
user's task is simply not found. A change to the steps first locks the task's row: edits of one
task take turns, and a run cannot start halfway through one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow.agents.errors import AgentTaskNotFound, NotAllowedNow, StepNotFound, TaskBusy
from renewflow.agents.models import (
    BUSY,
    STEPS_MAX,
    AgentTask,
    AgentTaskPage,
    AgentTaskSummary,
    Reorder,
    Step,
    StepIn,
    StepUpdate,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
    Usage,
)
from renewflow.db import Connection, load_queries
from renewflow.errors import InvalidInputError

_Q = load_queries("renewflow.agents")


def default_step_instructions(name: str) -> str:
    """What a task with neither steps nor instructions is asked to do (the same text as the
    migration gives such tasks)."""
    return f'Carry out the task "{name}" and report what you found.'


def create_task(conn: Connection, body: TaskCreate) -> AgentTask:
    steps = body.steps
    if not steps:
        steps = [
            StepIn(
                step_name=body.name,
                instructions=body.instructions or default_step_instructions(body.name),
            )
        ]
    if any(step.position is not None for step in steps):
        raise InvalidInputError("steps.position", "a new task's steps are numbered as given")
    row = conn.execute(
        _Q["insert_task"],
        {
            "name": body.name,
            "instructions": body.instructions,
            "context_budget_chars": body.context_budget_chars,
        },
    ).fetchone()
    assert row is not None
    task_id: UUID = row["id"]
    conn.execute(
        _Q["insert_steps"],
        {
            "task_id": task_id,
            "steps": Jsonb([s.model_dump(mode="json", exclude={"position"}) for s in steps]),
        },
    )
    return get_task(conn, task_id)


def get_task(conn: Connection, task_id: UUID) -> AgentTask:
    row = conn.execute(_Q["get_task"], {"task_id": task_id}).fetchone()
    if row is None:
        raise AgentTaskNotFound(task_id)
    steps = [_step(r) for r in conn.execute(_Q["task_steps"], {"task_id": task_id}).fetchall()]
    total = Usage(
        calls=sum(s.usage.calls for s in steps),
        input_tokens=sum(s.usage.input_tokens for s in steps),
        output_tokens=sum(s.usage.output_tokens for s in steps),
        cost_usd=sum((s.usage.cost_usd for s in steps), Decimal(0)),
    )
    return AgentTask.model_validate({**row, "steps": steps, "usage": total})


def list_tasks(
    conn: Connection,
    *,
    everyone: bool = False,
    status: TaskStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AgentTaskPage:
    """The caller's tasks, newest first; `everyone` lists all those it may read (an admin: the
    tenant's)."""
    rows = conn.execute(
        _Q["list_tasks"],
        {
            "everyone": everyone,
            "status": status.value if status else None,
            "limit": limit,
            "offset": offset,
        },
    ).fetchall()
    items = [AgentTaskSummary.model_validate({**r, "usage": _usage(r)}) for r in rows]
    total = rows[0]["total_count"] if rows else 0
    return AgentTaskPage(items=items, total=total, limit=limit, offset=offset)


def update_task(conn: Connection, task_id: UUID, body: TaskUpdate) -> AgentTask:
    _lock(conn, task_id)
    conn.execute(_Q["update_task"], {"task_id": task_id, **body.model_dump()})
    return get_task(conn, task_id)


def delete_task(conn: Connection, task_id: UUID) -> None:
    """Deletes the task and its steps (a step in flight: its worker's finish is refused)."""
    _lock(conn, task_id)
    conn.execute(_Q["delete_task"], {"task_id": task_id})


# -- steps -----------------------------------------------------------------------------------


def add_step(conn: Connection, task_id: UUID, body: StepIn) -> AgentTask:
    count = _lock_editable(conn, task_id)
    if count >= STEPS_MAX:
        raise InvalidInputError("steps", f"a task has at most {STEPS_MAX} steps")
    position = count + 1 if body.position is None else body.position
    if position > count + 1:
        raise InvalidInputError("position", f"must be between 1 and {count + 1}")
    conn.execute(
        _Q["insert_step"],
        {"task_id": task_id, **body.model_dump(exclude={"position"}), "position": position},
    )
    return get_task(conn, task_id)


def update_step(conn: Connection, task_id: UUID, step_id: UUID, body: StepUpdate) -> AgentTask:
    count = _lock_editable(conn, task_id)
    sent = body.model_fields_set
    row = conn.execute(
        _Q["update_step"],
        {
            "task_id": task_id,
            "step_id": step_id,
            **body.model_dump(exclude={"position"}),
            "set_timeout": "timeout_seconds" in sent,
            "set_model": "model" in sent,
        },
    ).fetchone()
    if row is None:
        raise StepNotFound(step_id)
    if body.position is not None:
        if body.position > count:
            raise InvalidInputError("position", f"must be between 1 and {count}")
        order = [r["id"] for r in conn.execute(_Q["step_ids"], {"task_id": task_id}).fetchall()]
        order.remove(step_id)
        order.insert(body.position - 1, step_id)
        conn.execute(_Q["reorder_steps"], {"task_id": task_id, "step_ids": order})
    return get_task(conn, task_id)


def delete_step(conn: Connection, task_id: UUID, step_id: UUID) -> AgentTask:
    count = _lock_editable(conn, task_id)
    if count <= 1:
        raise InvalidInputError("step_id", "a task keeps at least one step: delete the task")
    row = conn.execute(_Q["delete_step"], {"task_id": task_id, "step_id": step_id}).fetchone()
    if row is None or row["deleted"] == 0:
        raise StepNotFound(step_id)
    return get_task(conn, task_id)


def reorder_steps(conn: Connection, task_id: UUID, body: Reorder) -> AgentTask:
    """The steps in the order given, which must name every step of the task exactly once
    (otherwise 422, and nothing changes)."""
    _lock_editable(conn, task_id)
    current = [r["id"] for r in conn.execute(_Q["step_ids"], {"task_id": task_id}).fetchall()]
    given = body.step_ids
    duplicates = sorted({str(i) for i in given if given.count(i) > 1})
    unknown = sorted(str(i) for i in set(given) - set(current))
    missing = sorted(str(i) for i in set(current) - set(given))
    problems = []
    if duplicates:
        problems.append(f"named more than once: {', '.join(duplicates)}")
    if unknown:
        problems.append(f"not steps of this task: {', '.join(unknown)}")
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if problems:
        raise InvalidInputError(
            "step_ids", "must name every step of the task exactly once; " + "; ".join(problems)
        )
    conn.execute(_Q["reorder_steps"], {"task_id": task_id, "step_ids": given})
    return get_task(conn, task_id)


# -- runs ------------------------------------------------------------------------------------


def run_task(conn: Connection, task_id: UUID) -> AgentTask:
    """Starts a run from the first step (a finished or failed run's results are cleared)."""
    _lock_editable(conn, task_id, doing="run it again")
    conn.execute(_Q["reset_steps"], {"task_id": task_id})
    conn.execute(_Q["start_task"], {"task_id": task_id, "fresh": True})
    conn.execute(_Q["advance"], {"task_id": task_id})
    return get_task(conn, task_id)


def resume_task(conn: Connection, task_id: UUID) -> AgentTask:
    """Runs a failed or cancelled task on from its first unfinished step: the completed steps
    are not run again."""
    status = _lock(conn, task_id)[0]
    if status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        raise NotAllowedNow(f"only a failed or cancelled task resumes; this one is {status}")
    conn.execute(_Q["reopen_unfinished_steps"], {"task_id": task_id})
    conn.execute(_Q["start_task"], {"task_id": task_id, "fresh": False})
    conn.execute(_Q["advance"], {"task_id": task_id})
    return get_task(conn, task_id)


def cancel_task(conn: Connection, task_id: UUID) -> AgentTask:
    status = _lock(conn, task_id)[0]
    if status not in BUSY:
        raise NotAllowedNow(f"only a running or paused task can be cancelled; this one is {status}")
    conn.execute(_Q["cancel_task"], {"task_id": task_id})
    return get_task(conn, task_id)


def approve_step(conn: Connection, task_id: UUID, step_id: UUID) -> AgentTask:
    """Lets the run go on with the step it is paused before."""
    _waiting_step(conn, task_id, step_id, need=TaskStatus.AWAITING_APPROVAL)
    conn.execute(_Q["approve_step"], {"step_id": step_id})
    conn.execute(_Q["advance"], {"task_id": task_id})
    return get_task(conn, task_id)


def skip_step(conn: Connection, task_id: UUID, step_id: UUID) -> AgentTask:
    """Skips the step a run is paused before (or failed on), and the run goes on after it."""
    status = _waiting_step(conn, task_id, step_id, need=None)
    conn.execute(_Q["skip_step"], {"step_id": step_id})
    if status is TaskStatus.FAILED:
        conn.execute(_Q["reopen_unfinished_steps"], {"task_id": task_id})
        conn.execute(_Q["start_task"], {"task_id": task_id, "fresh": False})
    conn.execute(_Q["advance"], {"task_id": task_id})
    return get_task(conn, task_id)


def _waiting_step(
    conn: Connection, task_id: UUID, step_id: UUID, *, need: TaskStatus | None
) -> TaskStatus:
    status = _lock(conn, task_id)[0]
    allowed = (need,) if need else (TaskStatus.AWAITING_APPROVAL, TaskStatus.FAILED)
    if status not in allowed:
        raise NotAllowedNow(f"the task is {status}: no step is waiting for a decision")
    waiting = conn.execute(_Q["next_step"], {"task_id": task_id}).fetchone()
    if waiting is None or waiting["id"] != step_id:
        raise NotAllowedNow(
            "that step is not the one the run is waiting on",
            waitingStepId=str(waiting["id"]) if waiting else None,
        )
    return status


# -- helpers ---------------------------------------------------------------------------------


def _lock(conn: Connection, task_id: UUID) -> tuple[TaskStatus, int]:
    row = conn.execute(_Q["lock_task"], {"task_id": task_id}).fetchone()
    if row is None:
        raise AgentTaskNotFound(task_id)
    counted = conn.execute(_Q["count_steps"], {"task_id": task_id}).fetchone()
    assert counted is not None
    return TaskStatus(row["status"]), int(counted["step_count"])


def _lock_editable(conn: Connection, task_id: UUID, *, doing: str = "change its steps") -> int:
    status, count = _lock(conn, task_id)
    if status in BUSY:
        raise TaskBusy(f"the task is {status}: cancel the run (or let it finish) to {doing}")
    return count


def _usage(row: dict[str, Any]) -> Usage:
    return Usage(
        calls=row["calls"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
    )


def _step(row: dict[str, Any]) -> Step:
    return Step.model_validate({**row, "usage": _usage(row)})
