"""Agent tasks (spec: agent-task-steps.md): create with ordered steps, edit, add, delete and
reorder steps, and steer runs (run, resume, cancel, approve or skip a step).

Each user reaches only their own agent tasks: another user's is 404, exactly like a missing one
(row-level security decides, in the database). An admin may read the tenant's agent tasks and
their runs (`?everyone=true`, and by id), never change them.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from renewflow import agents
from renewflow.agents import (
    AgentTask,
    AgentTaskPage,
    Reorder,
    StepIn,
    StepUpdate,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
)
from renewflow.api.deps import SessionDep
from renewflow.limits import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix="/api/agents/tasks", tags=["agents"])


@router.get("")
def list_tasks(
    session: SessionDep,
    *,
    everyone: Annotated[
        bool, Query(description="every task the caller may read (an admin: the tenant's)")
    ] = False,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> AgentTaskPage:
    """The caller's agent tasks, newest first, each with its steps counted and its LLM spend."""
    with session.transaction() as conn:
        return agents.list_tasks(conn, everyone=everyone, status=status, limit=limit, offset=offset)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_task(body: TaskCreate, session: SessionDep) -> AgentTask:
    """A task with its steps in order (or one step from `instructions`)."""
    with session.transaction() as conn:
        return agents.create_task(conn, body)


@router.get("/{task_id}")
def get_task(task_id: UUID, session: SessionDep) -> AgentTask:
    """The task and its steps in order: status, result, what each step was passed as context
    (and what was cut), and each step's LLM tokens and cost."""
    with session.transaction() as conn:
        return agents.get_task(conn, task_id)


@router.patch("/{task_id}")
def update_task(task_id: UUID, body: TaskUpdate, session: SessionDep) -> AgentTask:
    with session.transaction() as conn:
        return agents.update_task(conn, task_id, body)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task(task_id: UUID, session: SessionDep) -> Response:
    with session.transaction() as conn:
        agents.delete_task(conn, task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{task_id}/steps", status_code=status.HTTP_201_CREATED)
def add_step(task_id: UUID, body: StepIn, session: SessionDep) -> AgentTask:
    """Adds a step at `position` (the later ones move down) or last. 409 while a run is under
    way."""
    with session.transaction() as conn:
        return agents.add_step(conn, task_id, body)


@router.patch("/{task_id}/steps/{step_id}")
def update_step(task_id: UUID, step_id: UUID, body: StepUpdate, session: SessionDep) -> AgentTask:
    """Changes the fields sent; `position` moves the step (the others close up)."""
    with session.transaction() as conn:
        return agents.update_step(conn, task_id, step_id, body)


@router.delete("/{task_id}/steps/{step_id}")
def delete_step(task_id: UUID, step_id: UUID, session: SessionDep) -> AgentTask:
    """Deletes a step; the later ones move up. A task keeps at least one step."""
    with session.transaction() as conn:
        return agents.delete_step(conn, task_id, step_id)


@router.put("/{task_id}/steps/order")
def reorder_steps(task_id: UUID, body: Reorder, session: SessionDep) -> AgentTask:
    """The steps in a new order (drag and drop): `step_ids` must name every step exactly once,
    otherwise 422 and nothing changes."""
    with session.transaction() as conn:
        return agents.reorder_steps(conn, task_id, body)


@router.post("/{task_id}/run", status_code=status.HTTP_202_ACCEPTED)
def run_task(task_id: UUID, session: SessionDep) -> AgentTask:
    """Starts a run from the first step; a worker runs the steps in order. 409 while one runs."""
    with session.transaction() as conn:
        return agents.run_task(conn, task_id)


@router.post("/{task_id}/resume", status_code=status.HTTP_202_ACCEPTED)
def resume_task(task_id: UUID, session: SessionDep) -> AgentTask:
    """Runs a failed or cancelled task on from its failed step; completed steps stay done."""
    with session.transaction() as conn:
        return agents.resume_task(conn, task_id)


@router.post("/{task_id}/cancel")
def cancel_task(task_id: UUID, session: SessionDep) -> AgentTask:
    """Stops the run: queued steps leave the queue, a step in flight has its result refused."""
    with session.transaction() as conn:
        return agents.cancel_task(conn, task_id)


@router.post("/{task_id}/steps/{step_id}/approve", status_code=status.HTTP_202_ACCEPTED)
def approve_step(task_id: UUID, step_id: UUID, session: SessionDep) -> AgentTask:
    """Approves the step the run is paused before: the run goes on with it."""
    with session.transaction() as conn:
        return agents.approve_step(conn, task_id, step_id)


@router.post("/{task_id}/steps/{step_id}/skip", status_code=status.HTTP_202_ACCEPTED)
def skip_step(task_id: UUID, step_id: UUID, session: SessionDep) -> AgentTask:
    """Skips the step the run is paused before (or failed on); the run goes on after it."""
    with session.transaction() as conn:
        return agents.skip_step(conn, task_id, step_id)
