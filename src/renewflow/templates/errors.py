"""One shallow exception hierarchy: callers catch `TemplateError` and nothing else."""

from __future__ import annotations

from collections.abc import Iterable


class TemplateError(Exception):
    """Base of every error the engine raises for a template or its data."""


class TemplateSyntaxError(TemplateError):
    """The source is not a template we accept; carries the position and a caret excerpt."""

    def __init__(self, message: str, source: str = "", offset: int = 0) -> None:
        self.message = message
        offset = max(0, min(offset, len(source)))
        self.line = source.count("\n", 0, offset) + 1
        line_start = source.rfind("\n", 0, offset) + 1
        self.column = offset - line_start + 1
        line_end = source.find("\n", offset)
        self.excerpt = source[line_start : len(source) if line_end < 0 else line_end]
        super().__init__(str(self))

    def __str__(self) -> str:
        caret = " " * (self.column - 1) + "^"
        return f"{self.message} (line {self.line}, column {self.column})\n{self.excerpt}\n{caret}"


class MissingVariableError(TemplateError):
    """Strict mode: every path the render needed but the context lacked, reported together."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths: tuple[str, ...] = tuple(paths)
        super().__init__("missing template variables: " + ", ".join(self.paths))


class TemplateLimitError(TemplateError):
    """A resource limit was reached (source size, nesting, output, iterations, partial depth)."""


class HelperError(TemplateError):
    """A helper failed; the original exception is chained as `__cause__`."""
