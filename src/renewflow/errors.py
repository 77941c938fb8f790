"""The root of renewflow's exceptions.

Each package defines its own errors as subclasses; the API maps them to HTTP statuses and the CLI to
exit codes, each in one place (`renewflow.api.problems`, `renewflow.cli`).
"""

from __future__ import annotations


class RenewflowError(Exception):
    """An error whose message is written for the person who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFoundError(RenewflowError):
    """The thing does not exist, or is not visible to the caller (which must look the same)."""


class ConflictError(RenewflowError):
    """The change clashes with the current state (a duplicate, a stale version, a wrong status)."""


class PermissionDeniedError(RenewflowError):
    """The caller is known but its role may not do this."""


class InvalidInputError(RenewflowError):
    """A value is not acceptable; `field` names it (a dotted path for nested input)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
