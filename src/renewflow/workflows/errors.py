"""Errors of the workflows package."""

from __future__ import annotations

from renewflow.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RenewflowError,
)


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


class ValidationFailed(InvalidInputError):
    """Input failed validation in several places at once; `errors` lists each (field, message).

    The API answers 422 with every error in problem+json `errors`; the first one is also the
    `field`/`reason` of an ordinary InvalidInputError, for callers that show a single line.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        if not errors:
            raise ValueError("ValidationFailed needs at least one error")
        super().__init__(*errors[0])
        self.errors = list(errors)
        count = len(errors)
        self.message = (
            f"{count} validation error{'s' if count > 1 else ''}: "
            + "; ".join(f"{field}: {message}" for field, message in errors[:5])
            + (" ..." if count > 5 else "")
        )
