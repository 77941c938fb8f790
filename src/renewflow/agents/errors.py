"""The agents package's errors: the shared hierarchy, so the API and the CLI map them once."""

from __future__ import annotations

from renewflow.errors import ConflictError, InvalidInputError, NotFoundError


class AgentTaskNotFound(NotFoundError):
    """Missing, or another user's: the two must look the same."""

    def __init__(self, task_id: object) -> None:
        super().__init__(f"agent task {task_id} not found")


class StepNotFound(NotFoundError):
    def __init__(self, step_id: object) -> None:
        super().__init__(f"step {step_id} not found in this agent task")


class TaskBusy(ConflictError):
    """The task's run is under way (or paused for an approval): its steps cannot change now."""


class NotAllowedNow(ConflictError):
    """The task's state does not allow this move (approving a step no one waits on...)."""


__all__ = ["AgentTaskNotFound", "InvalidInputError", "NotAllowedNow", "StepNotFound", "TaskBusy"]
