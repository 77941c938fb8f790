"""The handlers saved actions and LLM branches name, resolved against a registry of Python
callables, never against files.

A handler string takes one of three forms:

- `code:<Name>.<method>` names a registered callable, e.g. `code:GlobalActions.snooze`;
- `file:<path>` (the spec's `file:handlers/custom.js`) never loads a file: it names a handler a
  plugin registered under that path (`handlers/custom`, the extension ignored); anything else is
  refused at validation, with the reason;
- a plain name (`renewal-qa`, `negotiation.competitive`): an LLM branch's handler.

Plugins register through the entry-point group `renewflow.chat_handlers`: `name =
"module:callable"`, the callable carrying `kind` ("action" or "llm"). Tests build their own
registry: installed plugins stay out of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

from renewflow.chat.errors import UnresolvedHandler
from renewflow.db import Connection
from renewflow.plugins import load_entry_points

ENTRY_POINT_GROUP = "renewflow.chat_handlers"
Kind = Literal["action", "llm"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
_CODE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
_FILE_SUFFIXES = (".js", ".ts", ".py", ".mjs")


@dataclass(frozen=True)
class ActionInput:
    """What an action handler sees: the locked execution, the step it runs on, the action's
    config, the caller's reason (skip) and who asks. The handler works in `conn`, the request's
    own transaction, through the engine's and the tasks' rules."""

    conn: Connection
    execution: Any  # renewflow.engine.LoadedExecution
    step_id: str
    action: Mapping[str, Any]
    config: Mapping[str, Any]
    reason: str | None
    actor_user_id: UUID | None
    actor_role: str | None
    dedupe: str  # unique per request (its Idempotency-Key when given): notifications fire once


@dataclass
class ActionResult:
    """What an action did, for the answer; `moved` is True when it moved the execution itself
    (a skip), so that the branch's `returnToStep` does not undo it."""

    summary: str
    moved: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class ActionHandler(Protocol):
    """Contract: `kind = "action"`; called with an `ActionInput`, returns an `ActionResult`;
    raises a renewflow error (conflict, invalid input) to refuse, which rolls the request back.
    Never commits or rolls back `conn`."""

    kind: Literal["action"]

    def __call__(self, action: ActionInput, /) -> ActionResult: ...


@dataclass(frozen=True)
class LLMHandler:
    """How an LLM branch's thread talks: what it adds to the system prompt, which tools it offers,
    and whether it retrieves from the knowledge base on every turn."""

    name: str
    instructions: str
    tools: tuple[str, ...] = ("database_query", "create_chart")
    retrieval: bool = False
    kind: Literal["llm"] = "llm"


class HandlerRegistry:
    def __init__(self, handlers: Mapping[str, Any] | None = None) -> None:
        self._handlers: dict[str, Any] = {}
        for name, handler in (handlers or {}).items():
            self.register(name, handler)

    @classmethod
    def default(cls, *, plugins: bool = True) -> HandlerRegistry:
        from renewflow.chat.builtins import BUILTIN_HANDLERS

        registry = cls(BUILTIN_HANDLERS)
        if plugins:
            registry.load_entry_points()
        return registry

    def register(self, name: str, handler: Any) -> None:
        if getattr(handler, "kind", None) not in ("action", "llm"):
            raise ValueError(f"chat handler {name!r} needs a kind: 'action' or 'llm'")
        if not _NAME.match(name) or ".." in name:
            raise ValueError(f"chat handler name {name!r} is not a plain name")
        self._handlers[name] = handler

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        return load_entry_points(group, self.register)

    def names(self, kind: Kind | None = None) -> list[str]:
        return sorted(n for n, h in self._handlers.items() if kind is None or h.kind == kind)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def resolve(self, handler: str, kind: Kind) -> Any:
        """The registered handler `handler` names, or UnresolvedHandler saying why not."""
        name = registered_name(handler)
        found = self._handlers.get(name)
        if found is None or found.kind != kind:
            known = ", ".join(self.names(kind)) or "none"
            raise UnresolvedHandler(
                "handler", f"{handler!r} names no registered {kind} handler (known: {known})"
            )
        return found


def registered_name(handler: str) -> str:
    """The registry name a handler string means; UnresolvedHandler for one that could only mean
    a file (a path climbing out, an absolute path) or is malformed."""
    if handler.startswith("code:"):
        name = handler.removeprefix("code:")
        if not _CODE.match(name):
            raise UnresolvedHandler(
                "handler", f"{handler!r}: code handlers are written code:<Name>.<method>"
            )
        return name
    if handler.startswith("file:"):
        path = handler.removeprefix("file:")
        if not path or path.startswith("/") or ".." in path.split("/") or ".." in path:
            raise UnresolvedHandler(
                "handler",
                f"{handler!r}: files are never loaded; file: names a handler a plugin "
                "registered under that path, and this path could only mean a file",
            )
        for suffix in _FILE_SUFFIXES:
            path = path.removesuffix(suffix)
        if not _NAME.match(path):
            raise UnresolvedHandler("handler", f"{handler!r} is not a registered handler's path")
        return path
    if not _NAME.match(handler) or ".." in handler:
        raise UnresolvedHandler("handler", f"{handler!r} is not a handler name")
    return handler


_default: HandlerRegistry | None = None


def default_registry() -> HandlerRegistry:
    """The process's registry: built-ins and installed plugins, loaded once."""
    global _default  # noqa: PLW0603 - one registry per process, built on first use
    if _default is None:
        _default = HandlerRegistry.default()
    return _default


def unresolved(handler: str, kind: Kind, registry: HandlerRegistry | None = None) -> str | None:
    """Why `handler` does not resolve to a `kind` handler, or None when it does."""
    try:
        (registry or default_registry()).resolve(handler, kind)
    except UnresolvedHandler as error:
        return error.reason
    return None


ActionCallable = Callable[[ActionInput], ActionResult]
