"""Agent tasks and their steps as the API and the CLI see them (spec: agent-task-steps.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from renewflow.limits import Column

NAME_MAX = 255
INSTRUCTIONS_MAX = 20_000
STEPS_MAX = 50
CONTEXT_BUDGET_MAX = 200_000

StepName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)
]
Instructions = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=INSTRUCTIONS_MAX)
]
ModelName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Column("task_steps.model"),
]
MaxRetries = Annotated[int, Field(ge=0, le=10, description="retries after a failed call")]
TimeoutSeconds = Annotated[int, Field(ge=1, le=3600, description="per LLM call attempt")]
ContextBudget = Annotated[
    int,
    Field(
        ge=0,
        le=CONTEXT_BUDGET_MAX,
        description="characters of previous steps' results a step may receive",
    ),
]


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


# the run is under way: its steps' order and content are fixed until it ends or is cancelled
BUSY = frozenset({TaskStatus.RUNNING, TaskStatus.AWAITING_APPROVAL})


class StepIn(BaseModel):
    """A new step. `position` (1-based) inserts it there, moving the later ones down; without
    it the step goes last."""

    model_config = ConfigDict(extra="forbid")

    step_name: StepName
    instructions: Instructions
    include_previous_context: bool = False
    max_retries: MaxRetries = 2
    timeout_seconds: TimeoutSeconds | None = None
    model: ModelName | None = None
    requires_approval: bool = False
    position: Annotated[int, Field(ge=1, le=STEPS_MAX)] | None = None


class StepUpdate(BaseModel):
    """The fields sent change; `position` moves the step there (the others close up)."""

    model_config = ConfigDict(extra="forbid")

    step_name: StepName | None = None
    instructions: Instructions | None = None
    include_previous_context: bool | None = None
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSeconds | None = None
    model: ModelName | None = None
    requires_approval: bool | None = None
    position: Annotated[int, Field(ge=1, le=STEPS_MAX)] | None = None


class TaskCreate(BaseModel):
    """A task with its steps in order. A task given `instructions` and no steps gets one step
    from them (the spec's single-instruction task)."""

    model_config = ConfigDict(extra="forbid")

    name: StepName
    instructions: Instructions | None = None
    context_budget_chars: ContextBudget = 8000
    steps: Annotated[list[StepIn], Field(max_length=STEPS_MAX)] = []


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StepName | None = None
    instructions: Instructions | None = None
    context_budget_chars: ContextBudget | None = None


class Reorder(BaseModel):
    """Every step of the task, each exactly once, in the new order."""

    model_config = ConfigDict(extra="forbid")

    step_ids: Annotated[list[UUID], Field(min_length=1, max_length=STEPS_MAX)]


class Usage(BaseModel):
    """What a step's LLM calls cost, over all its attempts."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


class Step(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    task_id: UUID
    step_order: int
    step_name: str
    instructions: str
    include_previous_context: bool
    status: StepStatus
    max_retries: int
    retry_count: int
    timeout_seconds: int | None
    model: str | None
    requires_approval: bool
    approved_at: datetime | None
    approved_by: UUID | None
    queued: bool = Field(description="waiting for a worker (or for its retry's backoff)")
    context_data: dict[str, Any] | None
    execution_result: dict[str, Any] | None
    error_message: str | None
    execution_started_at: datetime | None
    execution_completed_at: datetime | None
    usage: Usage


class AgentTask(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant_id: UUID
    user_id: UUID
    name: str
    instructions: str | None
    status: TaskStatus
    context_budget_chars: int
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    steps: list[Step]
    usage: Usage


class AgentTaskSummary(BaseModel):
    """A task in a list (its steps counted, not shown)."""

    id: UUID
    user_id: UUID
    name: str
    status: TaskStatus
    step_count: int
    completed_steps: int
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    usage: Usage


class AgentTaskPage(BaseModel):
    items: list[AgentTaskSummary]
    total: int
    limit: int
    offset: int
