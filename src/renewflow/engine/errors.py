"""Errors of the execution engine."""

from __future__ import annotations

from renewflow.errors import ConflictError, InvalidInputError, NotFoundError, RenewflowError


class EngineError(RenewflowError):
    """Base of the engine's errors."""


class ExecutionNotFound(EngineError, NotFoundError):
    """No such execution (or step) in the caller's tenant."""


class ExecutionConflict(EngineError, ConflictError):
    """The execution is not in a state that allows this (ended, another step is current, ...)."""


class StepRunning(ExecutionConflict):
    """A run of the execution is queued or running: a second one would call the LLM twice."""


class RunLeaseLost(EngineError, ConflictError):
    """A run's finish came after its lease passed (or another took it over): nothing written."""


class RunNotFound(EngineError, NotFoundError):
    """No such step run in the caller's tenant."""


class TemplateFailed(EngineError, InvalidInputError):
    """A template of the workflow failed to render at run time; `field` is its place."""
