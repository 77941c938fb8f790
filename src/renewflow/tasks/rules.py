"""The action plan's rules as plain functions: which status moves are allowed, and the snooze
window. The database keeps the rules that must hold under concurrency (the sub-task roll-up is a
trigger; every move is one guarded UPDATE)."""

from __future__ import annotations

from datetime import datetime, timedelta

from renewflow.errors import InvalidInputError
from renewflow.tasks.errors import DecisionRequired, TransitionNotAllowed
from renewflow.tasks.models import CLOSED, ExecutionStatus, Status, Task, TaskType

DEFAULT_SNOOZE_DEADLINE = timedelta(days=7)
# A tenant's configured snooze window is capped: a task always comes back to someone.
MAX_SNOOZE_WINDOW = timedelta(days=365)
NAIVE_DATETIME = "must include a time zone offset (for example 2025-03-01T09:00:00Z or +02:00)"

# status -> the statuses it may move to
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset(
        {Status.IN_PROGRESS, Status.SNOOZED, Status.COMPLETED, Status.SKIPPED, Status.CANCELLED}
    ),
    Status.IN_PROGRESS: frozenset(
        {Status.PENDING, Status.SNOOZED, Status.COMPLETED, Status.SKIPPED, Status.CANCELLED}
    ),
    Status.SNOOZED: frozenset(
        {
            Status.PENDING,
            Status.IN_PROGRESS,
            Status.SNOOZED,
            Status.COMPLETED,
            Status.SKIPPED,
            Status.CANCELLED,
        }
    ),
    # a closed task only reopens
    Status.COMPLETED: frozenset({Status.PENDING}),
    Status.SKIPPED: frozenset({Status.PENDING}),
    Status.CANCELLED: frozenset({Status.PENDING}),
}

# statuses a PATCH may set; the others have their own action
PATCHABLE_STATUSES = frozenset({Status.PENDING, Status.IN_PROGRESS})


def check_transition(task: Task, target: Status, *, verb: str) -> None:
    """Raises TransitionNotAllowed (409) unless `task` may move to `target`."""
    if task.execution_status is ExecutionStatus.RUNNING and target is not Status.PENDING:
        raise TransitionNotAllowed(
            f"cannot {verb} task {task.id}: its processor is running; wait for it to finish"
        )
    if target not in TRANSITIONS[task.status]:
        hint = " (reopen it first)" if task.status in CLOSED else ""
        raise TransitionNotAllowed(f"cannot {verb} a task that is {task.status.value}{hint}")


def check_reopen(task: Task) -> None:
    if task.status not in CLOSED:
        raise TransitionNotAllowed(
            f"only a completed, skipped or cancelled task reopens; this one is {task.status.value}"
        )


def check_snooze(task: Task, until: datetime, now: datetime, deadline_after: timedelta) -> datetime:
    """Validates a snooze until `until`; returns the task's snooze deadline (set on first snooze).

    Past the deadline the task requires a decision: snoozing again is a conflict (409).
    """
    if until.tzinfo is None or until.utcoffset() is None:
        # a wall-clock time names no instant: refused rather than guessed (docs/api.md)
        raise InvalidInputError("body.until", NAIVE_DATETIME)
    check_transition(task, Status.SNOOZED, verb="snooze")
    deadline = task.snooze_deadline or now + min(deadline_after, MAX_SNOOZE_WINDOW)
    if task.requires_decision or now >= deadline:
        raise DecisionRequired(
            f"task {task.id} was first snoozed {task.snooze_count} time(s) ago and its snooze "
            f"deadline {deadline.isoformat()} has passed: a decision is required — complete, "
            "skip or cancel it instead of snoozing again"
        )
    if until <= now:
        raise InvalidInputError("body.until", "must be in the future")
    if until > deadline:
        raise InvalidInputError(
            "body.until", f"must not be after the task's snooze deadline {deadline.isoformat()}"
        )
    return deadline


def check_executable(task: Task) -> None:
    """Only an open AI task with a processor, not already running, can be executed on demand."""
    if task.task_type is not TaskType.AI_TASK:
        raise TransitionNotAllowed(
            f"task {task.id} is a {task.task_type.value}: only AI tasks execute; a CSM does this one"
        )
    if not task.processor:
        raise TransitionNotAllowed(f"AI task {task.id} names no processor to execute")
    if task.execution_status is ExecutionStatus.RUNNING:
        raise TransitionNotAllowed(f"AI task {task.id} is already running")
    if task.status is not Status.PENDING:
        raise TransitionNotAllowed(
            f"AI task {task.id} is {task.status.value}; only a pending task executes"
            + (" (reopen it first)" if task.status in CLOSED else "")
        )


def check_skip_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInputError("body.reason", "a reason is required to skip a task")
    return reason
