"""The processor interface and the registry (built-ins plus `renewflow.processors` plugins)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from renewflow.db import Connection, Database
from renewflow.plugins import load_entry_points
from renewflow.tasks.errors import UnknownProcessor
from renewflow.tasks.models import Task

ENTRY_POINT_GROUP = "renewflow.processors"


@dataclass(frozen=True)
class ProcessorResult:
    """What a processor reports.

    - `success`: the work is done; `output` is stored as the task's execution_result.
    - otherwise `error` says why, and `retryable` whether trying again later may succeed (a timeout,
      a 503) or not (bad input, a 404). Retryable failures are retried with exponential backoff up
      to the task's max_attempts; the others fail the task at once.
    """

    success: bool
    retryable: bool = False
    output: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def ok(cls, **output: Any) -> ProcessorResult:
        return cls(success=True, output=output)

    @classmethod
    def fail(cls, error: str, *, retryable: bool = False, **output: Any) -> ProcessorResult:
        return cls(success=False, retryable=retryable, error=error, output=output)


class ProcessorContext:
    """What a processor gets besides its task: the task's tenant, and short transactions in it.

    `transaction()` opens a transaction as the app role scoped to `tenant_id` (row-level security:
    only that tenant's rows are visible and writable) and commits it when the block ends, or rolls
    it back if the block raises. Open one around each burst of database work and close it before
    any call to the outside world: no connection may be held across a network call.
    """

    __slots__ = ("_database", "tenant_id")

    def __init__(self, database: Database, tenant_id: UUID) -> None:
        self._database = database
        self.tenant_id = tenant_id

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._database.tenant_transaction(self.tenant_id) as conn:
            yield conn


class Processor(Protocol):
    """Does one AI task's work.

    Contract:
    - `task` is the task as claimed (its `metadata` carries the processor's input; `attempts` is
      this attempt's number);
    - the processor runs with no transaction open. When it needs the database it asks
      `ctx.transaction()` for a short transaction in the task's tenant; each one commits on its own
      when its block ends. Never keep one open across a network call (a CRM, an LLM, a webhook);
    - **at least once**: a task may run more than once (a retry, a worker killed or cut off after
      the processor returned, a lease lost while it ran), and writes already committed stay
      committed whatever happens next: a run whose result is refused because its lease was lost
      keeps the processor's own writes, and so does a run that then fails. So make every write
      idempotent (an upsert keyed on the task, "set to" rather than "add"), do related writes in
      one transaction so that none is half-done, and send the task id as an idempotency key to
      the outside world;
    - return a `ProcessorResult`. An exception counts as a retryable failure, its message kept as
      the task's error (the transaction it raised in, if any, rolls back);
    - do not keep `ctx` or its connections beyond the call.
    """

    def __call__(self, task: Task, ctx: ProcessorContext, /) -> ProcessorResult: ...


class ProcessorRegistry:
    """Processors by name. Tests build their own registry: installed plugins stay out of them."""

    def __init__(self, processors: Mapping[str, Processor] | None = None) -> None:
        self._processors: dict[str, Processor] = dict(processors or {})

    @classmethod
    def default(cls, *, plugins: bool = True) -> ProcessorRegistry:
        """The built-ins, then (if `plugins`) every `renewflow.processors` entry point."""
        from renewflow.tasks.processors.builtin import BUILTINS

        registry = cls(BUILTINS)
        if plugins:
            registry.load_entry_points()
        return registry

    def register(self, name: str, processor: Processor) -> None:
        self._processors[name] = processor

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        return load_entry_points(group, self.register)

    def get(self, name: str | None) -> Processor:
        if name and name in self._processors:
            return self._processors[name]
        known = ", ".join(sorted(self._processors)) or "none"
        raise UnknownProcessor(f"unknown processor {name!r} (registered: {known})")

    def names(self) -> list[str]:
        return sorted(self._processors)

    def __contains__(self, name: object) -> bool:
        return name in self._processors

    def update(self, processors: Iterable[tuple[str, Processor]]) -> None:
        for name, processor in processors:
            self.register(name, processor)
