"""The processor interface and the registry (built-ins plus `renewflow.processors` plugins)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from renewflow.db import Connection
from renewflow.tasks.errors import UnknownProcessor
from renewflow.tasks.models import Task

log = logging.getLogger(__name__)

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


class Processor(Protocol):
    """Does one AI task's work.

    Contract:
    - `task` is the task as claimed (its `metadata` carries the processor's input);
    - `conn` is a transaction as the app role scoped to the task's tenant: the processor sees and
      writes only that tenant's rows. Its database writes commit only together with the task's
      success, in one transaction, and only while the worker still holds the lease: a run whose
      lease was lost, or that failed, leaves no database change behind. Writes outside the database
      (an HTTP call) cannot be rolled back: they happen at least once, so send an idempotency key
      (the task id) that the receiver can deduplicate on;
    - return a `ProcessorResult`; an exception counts as a retryable failure;
    - do not commit, roll back or change the connection's tenant.
    """

    def __call__(self, task: Task, conn: Connection, /) -> ProcessorResult: ...


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
        loaded: list[str] = []
        for point in entry_points(group=group):
            try:
                self.register(point.name, point.load())
            except Exception:
                log.exception("processor plugin %s (%s) failed to load", point.name, point.value)
                continue
            loaded.append(point.name)
        return loaded

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
