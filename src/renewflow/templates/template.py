"""The public entry points: `Environment`, `Template` and the module-level `compile`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .compiler import Compiled, Options, PartialRegistry, compile_tree
from .errors import MissingVariableError, TemplateError, TemplateLimitError
from .helpers import Helpers, default_helpers
from .limits import DEFAULT_LIMITS, Limits
from .parser import parse
from .runtime import Frame, RenderState

_PartialItems = tuple[tuple[str, str], ...]


class Template:
    """A compiled template: immutable, thread-safe, render as often as you like."""

    __slots__ = ("_compiled", "_limits", "_strict", "source", "variables")

    def __init__(self, source: str, compiled: Compiled, limits: Limits, strict: bool) -> None:
        self.source = source
        self._compiled = compiled
        self._limits = limits
        self._strict = strict
        self.variables: frozenset[str] = frozenset(compiled.relative) | frozenset(compiled.absolute)
        """Every dotted path the template reads; `list[].field` for fields of list items."""

    def render(self, context: Any = None) -> str:
        state = RenderState(self._limits)
        try:
            text = self._compiled.render((context, None), Frame(None, context, state))
        except RecursionError:
            raise TemplateLimitError("template data or partials nested too deeply") from None
        if state.missing:
            raise MissingVariableError(state.missing)
        return state.check_output(text)

    def __repr__(self) -> str:
        head = self.source if len(self.source) <= 40 else self.source[:37] + "..."
        return f"<Template {head!r}>"


class Environment:
    """Helpers and limits shared by many templates, with an LRU cache of compiled ones."""

    def __init__(
        self,
        helpers: Helpers | None = None,
        limits: Limits = DEFAULT_LIMITS,
        cache_size: int = 512,
    ) -> None:
        # A private copy: registering a helper later must not change already cached templates.
        self.helpers = (helpers if helpers is not None else default_helpers()).copy()
        self.limits = limits
        self._cached = lru_cache(maxsize=cache_size)(self._compile)

    def compile(
        self,
        source: str,
        *,
        escape: bool = False,
        strict: bool = False,
        partials: Mapping[str, str] | None = None,
    ) -> Template:
        if not isinstance(source, str):
            raise TemplateError("template source must be a string")
        items: _PartialItems = tuple(sorted((partials or {}).items()))
        return self._cached(source, escape, strict, items)

    def _compile(self, source: str, escape: bool, strict: bool, items: _PartialItems) -> Template:
        options = Options(escape=escape, strict=strict, helpers=self.helpers, limits=self.limits)
        registry = PartialRegistry(dict(items), options)
        try:
            compiled = compile_tree(parse(source, self.limits), options, registry, source)
        except RecursionError:
            raise TemplateLimitError("template nested too deeply") from None
        return Template(source, compiled, self.limits, strict)


_DEFAULT = Environment()


def compile(
    source: str,
    *,
    escape: bool = False,
    strict: bool = False,
    partials: Mapping[str, str] | None = None,
) -> Template:
    """Compile `source` with the built-in helpers; cached by source and options."""
    return _DEFAULT.compile(source, escape=escape, strict=strict, partials=partials)
