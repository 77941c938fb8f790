"""The syntax tree, shaped like handlebars.js's AST so its whitespace rules port line by line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Strip:
    open: bool = False
    close: bool = False


@dataclass(slots=True)
class PathExpr:
    parts: tuple[str, ...]
    original: str
    depth: int = 0
    data: bool = False
    scoped: bool = False
    """Written with `this` or `./`, so never a helper name."""
    pos: int = 0

    @property
    def is_simple(self) -> bool:
        return len(self.parts) == 1 and not self.scoped and not self.depth and not self.data


@dataclass(slots=True)
class Literal:
    value: str | int | float | bool | None
    """`None` is null; undefined is the `undefined` flag."""
    original: str
    undefined: bool = False
    pos: int = 0


@dataclass(slots=True)
class SubExpr:
    path: PathExpr | Literal
    params: list[Expr]
    hash: list[tuple[str, Expr]]
    pos: int = 0


Expr = PathExpr | Literal | SubExpr


@dataclass(slots=True)
class Content:
    original: str
    value: str
    left_stripped: bool = False
    right_stripped: bool = False


@dataclass(slots=True)
class Comment:
    strip: Strip


@dataclass(slots=True)
class Mustache:
    call: SubExpr
    escaped: bool
    strip: Strip
    pos: int = 0


@dataclass(slots=True)
class Partial:
    name: Expr
    params: list[Expr]
    hash: list[tuple[str, Expr]]
    strip: Strip
    indent: str = ""
    pos: int = 0


@dataclass(slots=True)
class Program:
    body: list[Statement]
    block_params: tuple[str, ...] = ()
    chained: bool = False


@dataclass(slots=True)
class Block:
    call: SubExpr
    program: Program | None
    inverse: Program | None
    open_strip: Strip
    inverse_strip: Strip | None = None
    close_strip: Strip | None = None
    pos: int = 0
    partial_block: bool = False
    """`{{#> layout}}default{{/layout}}`: the name is a partial, the program its fallback."""


Statement = Content | Comment | Mustache | Partial | Block
