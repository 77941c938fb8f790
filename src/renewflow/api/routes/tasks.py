"""The action plan's tasks (spec: action-plan-tasks.md): list, create, read, edit, the hierarchy,
and the moves — complete, reopen, skip, cancel, snooze, execute."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from renewflow import tasks
from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.limits import LIMIT_MAX, OFFSET_MAX, SkipReason
from renewflow.tasks import (
    ExecutionStatus,
    Owner,
    SortKey,
    Status,
    Task,
    TaskCreate,
    TaskFilters,
    TaskNode,
    TaskPage,
    TaskType,
    TaskUpdate,
)
from renewflow.tasks.processors import ProcessorRegistry

router = APIRouter(prefix="/api/workflows/tasks", tags=["tasks"])

# Running a processor on demand has side effects outside renewflow (a CRM, a webhook).
_Executors = Depends(require_role(Role.ADMIN, Role.MANAGER, Role.SERVICE))


async def _processors(request: Request) -> ProcessorRegistry:
    """The processors this process knows (built once at start-up: `create_app`)."""
    registry: ProcessorRegistry = request.app.state.processors
    return registry


_Processors = Annotated[ProcessorRegistry, Depends(_processors)]


class SkipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: SkipReason = Field(description="why the task is skipped (required)")


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: AwareDatetime = Field(
        description="when the task comes back, with its time zone offset; at most the snooze "
        "deadline"
    )


@router.get("")
def list_tasks(
    session: SessionDep,
    *,
    auto_execute: bool | None = None,
    execution_status: ExecutionStatus | None = None,
    status: Status | None = None,
    owner: Owner | None = None,
    task_type: TaskType | None = None,
    customer_id: UUID | None = None,
    assigned_to: UUID | None = None,
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    due_before: date | None = None,
    due_after: date | None = None,
    workflow_execution_id: Annotated[
        UUID | None, Query(description="tasks of this execution, including those surfaced in it")
    ] = None,
    parent_task_id: UUID | None = None,
    sort: SortKey = SortKey.PRIORITY,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> TaskPage:
    """The caller's tenant's tasks, filtered, sorted (then oldest first) and paginated."""
    filters = TaskFilters(
        auto_execute=auto_execute,
        execution_status=execution_status,
        status=status,
        owner=owner,
        task_type=task_type,
        customer_id=customer_id,
        assigned_to=assigned_to,
        priority=priority,
        due_before=due_before,
        due_after=due_after,
        workflow_execution_id=workflow_execution_id,
        parent_task_id=parent_task_id,
    )
    with session.transaction() as conn:
        return tasks.list_tasks(
            conn, filters, sort=sort, descending=order == "desc", limit=limit, offset=offset
        )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_task(body: TaskCreate, session: SessionDep, processors: _Processors) -> Task:
    """A task (or a sub-task, with parent_task_id). An auto-executed AI task is queued at once.
    A processor must be one the server knows (422 otherwise, listing the known ones)."""
    with session.transaction() as conn:
        return tasks.create_task(conn, body, processors=processors)


@router.get("/{task_id}")
def get_task(task_id: UUID, session: SessionDep) -> Task:
    with session.transaction() as conn:
        return tasks.get_task(conn, task_id)


@router.patch("/{task_id}")
def update_task(
    task_id: UUID, body: TaskUpdate, session: SessionDep, processors: _Processors
) -> Task:
    """Changes the fields sent. Status moves here only between pending and in_progress; a
    processor must be one the server knows."""
    with session.transaction() as conn:
        return tasks.update_task(conn, task_id, body, processors=processors)


@router.get("/{task_id}/tree")
def task_tree(task_id: UUID, session: SessionDep) -> TaskNode:
    """The task with its sub-tasks, nested, at any depth."""
    with session.transaction() as conn:
        return tasks.task_tree(conn, task_id)


@router.post("/{task_id}/complete")
def complete_task(task_id: UUID, session: SessionDep) -> Task:
    """Completes the task; a parent whose sub-tasks are now all closed completes too."""
    with session.transaction() as conn:
        return tasks.complete_task(conn, task_id)


@router.post("/{task_id}/reopen")
def reopen_task(task_id: UUID, session: SessionDep) -> Task:
    """Reopens a completed, skipped or cancelled task (and its completed parent)."""
    with session.transaction() as conn:
        return tasks.reopen_task(conn, task_id)


@router.post("/{task_id}/skip")
def skip_task(task_id: UUID, body: SkipIn, session: SessionDep) -> Task:
    with session.transaction() as conn:
        return tasks.skip_task(conn, task_id, body.reason)


@router.post("/{task_id}/cancel")
def cancel_task(task_id: UUID, session: SessionDep) -> Task:
    with session.transaction() as conn:
        return tasks.cancel_task(conn, task_id)


@router.post("/{task_id}/snooze")
def snooze_task(task_id: UUID, body: SnoozeIn, session: SessionDep) -> Task:
    """Snoozes until `until`. Past the snooze deadline (7 days after the first snooze unless the
    tenant configures another) the task requires a decision and this answers 409."""
    with session.transaction() as conn:
        return tasks.snooze_task(conn, task_id, body.until)


@router.post("/{task_id}/execute", status_code=status.HTTP_202_ACCEPTED, dependencies=[_Executors])
def execute_task(task_id: UUID, session: SessionDep) -> Task:
    """Runs (or retries) an AI task now: it is queued with a fresh retry budget and a worker picks
    it up at once. A CSM task answers 409."""
    with session.transaction() as conn:
        return tasks.execute_task(conn, task_id)
