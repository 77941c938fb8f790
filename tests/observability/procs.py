"""A processor for the observability tests, loaded by a worker subprocess with
`--processor explode_once=tests.observability.procs:explode_once`."""

from __future__ import annotations

from renewflow.tasks import ProcessorContext, ProcessorResult, Task


def explode_once(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """Raises on its first attempt (the worker logs it, with the job's ids), then succeeds."""
    if task.attempts <= 1:
        raise RuntimeError("the CRM hung up")
    return ProcessorResult.ok(attempt=task.attempts)
