"""The root of renewflow's exceptions.

Each package defines its own errors as subclasses; the API maps them to HTTP statuses and the CLI to
exit codes, each in one place (`renewflow.api.problems`, `renewflow.cli`).
"""

from __future__ import annotations

from typing import Any


class RenewflowError(Exception):
    """An error whose message is written for the person who caused it."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        # extra members of the problem+json body (camelCase keys): what a client acts on
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return self.message


class NotFoundError(RenewflowError):
    """The thing does not exist, or is not visible to the caller (which must look the same)."""


class ConflictError(RenewflowError):
    """The change clashes with the current state (a duplicate, a stale version, a wrong status)."""


class PermissionDeniedError(RenewflowError):
    """The caller is known but its role may not do this."""


class UnsupportedMediaError(RenewflowError):
    """Input of a type renewflow does not read (an uploaded file's format)."""


class PayloadTooLargeError(RenewflowError):
    """Input over a size limit (an uploaded file, or the text extracted from it)."""


class InvalidInputError(RenewflowError):
    """A value is not acceptable; `field` names it (a dotted path for nested input)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


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
