"""Step processors: named Python callables a step names in `execution.processor`.

A step processor takes part in a step, next to (or instead of) its LLM call:

- phase `before`: runs before the LLM. What it returns as `data` is merged under the context's
  `data.<key>`, so the step's prompt (and everything rendered after it) can read it. A step with
  no `llmPrompt` takes the processor's `outputs` as its own: the processor runs *instead of* the
  LLM.
- phase `after`: runs once the step's outputs are known (the LLM's validated answer, or the
  outputs a person gave), and may amend them (`outputs`) and act on them (record an outcome).

Processors run with no database connection held: one that needs the database asks for its own
short tenant transaction (`StepProcessorInput.transaction()`), which commits on its own. The step
itself lands later, in the engine's fenced finish; if that finish is refused (the lease was lost),
the processor's writes stay, so a processor must be idempotent (run it twice, get the same rows).

Names are checked by the workflow validator against this registry: a workflow naming an unknown
processor is refused when it is saved, not when it runs. Plugins register through the entry-point
group `renewflow.step_processors` (name = "module:callable", the callable carrying a `phase`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

from renewflow.db import Connection
from renewflow.plugins import load_entry_points

ENTRY_POINT_GROUP = "renewflow.step_processors"
Phase = Literal["before", "after"]


@dataclass(frozen=True)
class StepProcessorInput:
    """What a processor sees. `outputs` is None in the `before` phase."""

    tenant_id: UUID
    execution_id: UUID
    customer_id: UUID
    step_id: str
    context: Mapping[str, Any]
    outputs: Mapping[str, Any] | None
    actor_user_id: UUID | None
    actor_role: str | None
    transaction: Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True)
class StepProcessorResult:
    """`outputs` replaces the step's outputs when set (checked against the step's schema again);
    `data` is merged under the context's `data` (phase `before`); `error` fails the step, which
    stays current and can be run again."""

    outputs: Mapping[str, Any] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def fail(cls, error: str) -> StepProcessorResult:
        return cls(error=error)


class StepProcessor(Protocol):
    """Contract: a callable with a `phase` attribute, taking a `StepProcessorInput` and returning
    a `StepProcessorResult`. An exception fails the step with the exception's message kept; never
    commit or roll back a connection you did not open with `input.transaction()`."""

    phase: Phase

    def __call__(self, step: StepProcessorInput, /) -> StepProcessorResult: ...


class StepProcessorRegistry:
    """Processors by name. Tests build their own: installed plugins stay out of them."""

    def __init__(self, processors: Mapping[str, StepProcessor] | None = None) -> None:
        self._processors: dict[str, StepProcessor] = dict(processors or {})

    @classmethod
    def default(cls, *, plugins: bool = True) -> StepProcessorRegistry:
        from renewflow.workflows.step_processors import BUILTINS

        registry = cls(BUILTINS)
        if plugins:
            registry.load_entry_points()
        return registry

    def register(self, name: str, processor: StepProcessor) -> None:
        if getattr(processor, "phase", None) not in ("before", "after"):
            raise ValueError(f"step processor {name!r} needs a phase: 'before' or 'after'")
        self._processors[name] = processor

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        return load_entry_points(group, self.register)

    def get(self, name: str) -> StepProcessor | None:
        return self._processors.get(name)

    def names(self) -> list[str]:
        return sorted(self._processors)

    def __contains__(self, name: object) -> bool:
        return name in self._processors

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._processors))


_default: StepProcessorRegistry | None = None


def default_registry() -> StepProcessorRegistry:
    """The process's registry: built-ins and installed plugins, loaded once."""
    global _default  # noqa: PLW0603 - one registry per process, built on first use
    if _default is None:
        _default = StepProcessorRegistry.default()
    return _default


def step_processor_names() -> frozenset[str]:
    """The names a workflow may use in `execution.processor`."""
    return frozenset(default_registry().names())
