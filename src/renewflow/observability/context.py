"""The ids a log line carries where they apply: the request, the tenant, the execution, the job.

Each is a context variable, set by the entry point that knows it (the HTTP middleware, the step
runner, the worker loop) for the duration of its work and read by the log formatter. FastAPI's
thread pool copies the context into the thread that runs a route, so a route's log lines carry its
request id; a worker's threads start with an empty context, and each job binds its own ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

request_id: ContextVar[str | None] = ContextVar("renewflow_request_id", default=None)
tenant_id: ContextVar[str | None] = ContextVar("renewflow_tenant_id", default=None)
execution_id: ContextVar[str | None] = ContextVar("renewflow_execution_id", default=None)
job_id: ContextVar[str | None] = ContextVar("renewflow_job_id", default=None)

# the names log lines use, in the order they print
VARIABLES: dict[str, ContextVar[str | None]] = {
    "request_id": request_id,
    "tenant_id": tenant_id,
    "execution_id": execution_id,
    "job_id": job_id,
}


@contextmanager
def bound(
    *,
    request: object = None,
    tenant: object = None,
    execution: object = None,
    job: object = None,
) -> Iterator[None]:
    """Sets the ids given (None leaves one as it is) until the block ends."""
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for variable, value in (
        (request_id, request),
        (tenant_id, tenant),
        (execution_id, execution),
        (job_id, job),
    ):
        if value is not None:
            tokens.append((variable, variable.set(str(value))))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def current() -> dict[str, str]:
    """The ids set here, by name (only those that are set)."""
    ids = {}
    for name, variable in VARIABLES.items():
        value = variable.get()
        if value is not None:
            ids[name] = value
    return ids
