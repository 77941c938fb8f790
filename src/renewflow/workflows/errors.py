"""Errors of the workflows package."""

from __future__ import annotations

from renewflow.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RenewflowError,
    ValidationFailed,
)

__all__ = [
    "InvalidWorkflowError",
    "ValidationFailed",
    "WorkflowConflict",
    "WorkflowFileError",
    "WorkflowNotFound",
    "WorkflowReadOnly",
]


class WorkflowFileError(RenewflowError):
    """A workflow file cannot be read or parsed (before any validation of its content)."""


class InvalidWorkflowError(RenewflowError):
    """A workflow config failed validation; `issues` holds every problem with its path."""

    def __init__(self, source: str, issues: list[object]) -> None:
        super().__init__(f"{source}: {len(issues)} validation error(s), first: {issues[0]}")
        self.issues = issues


class WorkflowNotFound(NotFoundError):
    """No workflow (or version) of that id is visible to the caller."""


class WorkflowConflict(ConflictError):
    """The change clashes with the workflow's current state: a stale ETag, an existing id,
    nothing to publish, a rollback to the current config."""


class WorkflowReadOnly(PermissionDeniedError):
    """A core workflow: tenants read it and may override it, never change it."""
