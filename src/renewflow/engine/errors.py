"""Errors of the execution engine."""

from __future__ import annotations

from renewflow.errors import ConflictError, NotFoundError, RenewflowError


class EngineError(RenewflowError):
    """Base of the engine's errors."""


class ExecutionNotFound(EngineError, NotFoundError):
    """No such execution (or step) in the caller's tenant."""


class ExecutionConflict(EngineError, ConflictError):
    """The execution is not in a state that allows this (ended, another step is current, ...)."""
