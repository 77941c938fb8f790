"""Errors of the workflows package."""

from __future__ import annotations

from renewflow.errors import RenewflowError


class WorkflowFileError(RenewflowError):
    """A workflow file cannot be read or parsed (before any validation of its content)."""


class InvalidWorkflowError(RenewflowError):
    """A workflow config failed validation; `issues` holds every problem with its path."""

    def __init__(self, source: str, issues: list[object]) -> None:
        super().__init__(f"{source}: {len(issues)} validation error(s), first: {issues[0]}")
        self.issues = issues
