"""The tasks package's errors: the shared hierarchy, so the API maps them in its one table."""

from __future__ import annotations

from renewflow.errors import ConflictError, InvalidInputError, NotFoundError, RenewflowError


class TaskNotFound(NotFoundError):
    def __init__(self, task_id: object) -> None:
        super().__init__(f"task {task_id} not found")


class TransitionNotAllowed(ConflictError):
    """The task's current status does not allow this move."""


class DecisionRequired(ConflictError):
    """The snooze deadline has passed: the task must be done, skipped or cancelled, not snoozed."""


class UnknownProcessor(RenewflowError):
    """No processor is registered under the name an AI task gives."""


__all__ = [
    "DecisionRequired",
    "InvalidInputError",
    "TaskNotFound",
    "TransitionNotAllowed",
    "UnknownProcessor",
]
