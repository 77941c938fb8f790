"""The action plan's task: what the API and the worker read and write (spec: action-plan-tasks.md)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from renewflow.limits import (
    MAX_ATTEMPTS_MAX,
    PRIORITY_MAX,
    PRIORITY_MIN,
    Column,
    Day,
    EstimatedCompletionTime,
    JsonObject,
    ProcessorName,
    TaskAction,
)


class TaskType(StrEnum):
    AI_TASK = "AI_TASK"
    CSM_TASK = "CSM_TASK"


class Owner(StrEnum):
    AI = "AI"
    CSM = "CSM"


class Status(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SNOOZED = "snoozed"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class Complexity(StrEnum):
    SIMPLE = "simple"
    MODERATE = "moderate"
    COMPLEX = "complex"


CLOSED = frozenset({Status.COMPLETED, Status.SKIPPED, Status.CANCELLED})
OPEN = frozenset(set(Status) - CLOSED)

Priority = Annotated[
    int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX, description="1 is the most urgent")
]
MaxAttempts = Annotated[int, Field(ge=1, le=MAX_ATTEMPTS_MAX)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# The enumerations land in varchar columns too (the contract test checks that they fit).
TaskTypeIn = Annotated[TaskType, Column("workflow_tasks.task_type")]
OwnerIn = Annotated[Owner, Column("workflow_tasks.owner")]
StatusIn = Annotated[Status, Column("workflow_tasks.status")]
ExecutionStatusIn = Annotated[ExecutionStatus, Column("workflow_tasks.execution_status")]
ComplexityIn = Annotated[Complexity, Column("workflow_tasks.complexity")]


class Task(BaseModel):
    """One row of workflow_tasks as the API shows it (the lease token stays inside)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant_id: UUID
    workflow_execution_id: UUID
    step_execution_id: UUID | None
    customer_id: UUID
    task_type: TaskType
    owner: Owner
    action: str
    description: str
    recommendation_id: UUID | None
    status: Status
    priority: int
    requires_decision: bool
    snooze_count: int
    first_snoozed_at: datetime | None
    snooze_deadline: datetime | None
    snoozed_until: datetime | None
    completed_at: datetime | None
    skipped_at: datetime | None
    skip_reason: str | None
    original_workflow_execution_id: UUID | None
    surfaced_in_workflow_ids: list[UUID]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    auto_execute: bool
    processor: str | None
    execution_status: ExecutionStatus | None
    execution_result: dict[str, Any] | None
    executed_at: datetime | None
    parent_task_id: UUID | None
    estimated_completion_time: str | None
    complexity: Complexity | None
    attempts: int
    max_attempts: int
    run_after: datetime
    last_error: str | None
    claimed_by: str | None
    lease_expires_at: datetime | None
    assigned_to: UUID | None
    due_date: date | None


class TaskNode(Task):
    """A task in its hierarchy: depth 0 is the task asked for."""

    depth: int
    children: list[TaskNode] = Field(default_factory=list)


class TaskCreate(BaseModel):
    """The spec's create body, plus assignment, due date and the retry budget."""

    model_config = ConfigDict(extra="forbid")

    workflow_execution_id: UUID
    customer_id: UUID
    task_type: TaskTypeIn
    owner: OwnerIn
    action: TaskAction
    # text: written by the engine from a rendered template too, so bounded only by the body
    description: Description
    priority: Priority
    status: StatusIn = Status.PENDING
    step_execution_id: UUID | None = None
    recommendation_id: UUID | None = None
    auto_execute: bool = False
    processor: ProcessorName | None = None
    execution_status: ExecutionStatusIn | None = None
    parent_task_id: UUID | None = None
    estimated_completion_time: EstimatedCompletionTime | None = None
    complexity: ComplexityIn | None = None
    metadata: JsonObject = Field(default_factory=dict)
    assigned_to: UUID | None = None
    due_date: Day | None = None
    max_attempts: MaxAttempts = 5


class TaskUpdate(BaseModel):
    """PATCH: only the fields sent change. Status moves only between pending and in_progress here;
    the other moves have their own actions (complete, skip, cancel, snooze, reopen)."""

    model_config = ConfigDict(extra="forbid")

    action: TaskAction | None = None
    description: Description | None = None
    priority: Priority | None = None
    status: StatusIn | None = None
    assigned_to: UUID | None = None
    due_date: Day | None = None
    metadata: JsonObject | None = None
    estimated_completion_time: EstimatedCompletionTime | None = None
    complexity: ComplexityIn | None = None
    processor: ProcessorName | None = None
    max_attempts: MaxAttempts | None = None


class TaskFilters(BaseModel):
    auto_execute: bool | None = None
    execution_status: ExecutionStatus | None = None
    status: Status | None = None
    owner: Owner | None = None
    task_type: TaskType | None = None
    customer_id: UUID | None = None
    assigned_to: UUID | None = None
    priority: int | None = None
    due_before: date | None = None
    due_after: date | None = None
    workflow_execution_id: UUID | None = None
    parent_task_id: UUID | None = None


class SortKey(StrEnum):
    PRIORITY = "priority"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    DUE_DATE = "due_date"


class TaskPage(BaseModel):
    items: list[Task]
    total: int
    limit: int
    offset: int
