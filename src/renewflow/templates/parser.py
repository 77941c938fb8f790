"""Recursive-descent parser for the grammar of handlebars.js's `handlebars.yy`.

Recursion is bounded by `Limits.max_depth`, checked on every block and subexpression, so a
hostile source gets a `TemplateLimitError` long before Python's own recursion limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TemplateLimitError, TemplateSyntaxError
from .lexer import Token, tokenize
from .limits import DEFAULT_LIMITS, Limits
from .nodes import (
    Block,
    Comment,
    Content,
    Expr,
    Literal,
    Mustache,
    Partial,
    PathExpr,
    Program,
    Statement,
    Strip,
    SubExpr,
)
from .whitespace import strip_whitespace

# handlebars.js's `scopedId`, unanchored `this` included: such a path is never a helper name.
_SCOPED = re.compile(r"^\.|this\b", re.ASCII)
_NAME_STARTS = frozenset({"ID", "DATA", "STRING", "NUMBER", "BOOLEAN", "UNDEFINED", "NULL"})
_DESCRIBE = {
    "CLOSE": "'}}'",
    "CLOSE_UNESCAPED": "'}}}'",
    "CLOSE_SEXPR": "')'",
    "OPEN_ENDBLOCK": "a closing tag",
    "EOF": "end of template",
}


def _strip(open_text: str, close_text: str) -> Strip:
    return Strip(open=open_text[2:3] == "~", close=close_text[-3:-2] == "~")


@dataclass(slots=True)
class _Inverse:
    strip: Strip
    program: Program
    chain: bool


def parse(source: str, limits: Limits = DEFAULT_LIMITS) -> Program:
    if len(source) > limits.max_source:
        raise TemplateLimitError(
            f"template source is {len(source)} characters, over the limit of {limits.max_source}"
        )
    program = _Parser(source, limits).parse()
    strip_whitespace(program)
    return program


class _Parser:
    def __init__(self, source: str, limits: Limits) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0
        self.max_depth = limits.max_depth

    # -- token plumbing ------------------------------------------------------------------

    def error(self, message: str, token: Token | None = None) -> TemplateSyntaxError:
        token = token or self.tokens[self.i]
        return TemplateSyntaxError(message, self.source, token.pos)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str) -> Token:
        token = self.tokens[self.i]
        if token.kind != kind:
            found = repr(token.text) if token.text else _DESCRIBE.get(token.kind, token.kind)
            raise self.error(f"expected {_DESCRIBE.get(kind, kind)}, found {found}", token)
        self.i += 1
        return token

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise TemplateLimitError(
                f"template nesting deeper than {self.max_depth} at line "
                f"{self.source.count(chr(10), 0, token.pos) + 1}"
            )

    # -- statements ----------------------------------------------------------------------

    def parse(self) -> Program:
        program = self.program()
        token = self.peek()
        if token.kind == "OPEN_ENDBLOCK":
            raise self.error("closing tag without a matching block", token)
        if token.kind in ("INVERSE", "OPEN_INVERSE_CHAIN"):
            raise self.error("'else' outside a block", token)
        if token.kind != "EOF":
            raise self.error(f"unexpected {token.text!r}", token)
        return program

    def program(self) -> Program:
        body: list[Statement] = []
        while True:
            token = self.peek()
            kind = token.kind
            if kind == "CONTENT":
                self.i += 1
                body.append(Content(token.value, token.value))
            elif kind == "COMMENT":
                self.i += 1
                body.append(Comment(_strip(token.text, token.text)))
            elif kind in ("OPEN", "OPEN_UNESCAPED"):
                body.append(self.mustache())
            elif kind in ("OPEN_BLOCK", "OPEN_INVERSE", "OPEN_PARTIAL_BLOCK"):
                body.append(self.block())
            elif kind == "OPEN_PARTIAL":
                body.append(self.partial())
            elif kind == "OPEN_RAW_BLOCK":
                raise self.error("raw blocks '{{{{' are not supported", token)
            else:
                return Program(body)

    def mustache(self) -> Mustache:
        open_token = self.advance()
        if open_token.text.endswith("*"):
            raise self.error("decorators are not supported", open_token)
        call = self.call()
        unescaped = open_token.kind == "OPEN_UNESCAPED"
        close = self.expect("CLOSE_UNESCAPED" if unescaped else "CLOSE")
        escaped = not (unescaped or open_token.text.endswith("&"))
        return Mustache(call, escaped, _strip(open_token.text, close.text), open_token.pos)

    def partial(self) -> Partial:
        open_token = self.advance()
        name = self.param()
        params, hash_ = self.arguments()
        close = self.expect("CLOSE")
        if len(params) > 1:
            raise self.error("a partial takes at most one context argument", open_token)
        return Partial(name, params, hash_, _strip(open_token.text, close.text), pos=open_token.pos)

    def block(self) -> Block:
        open_token = self.advance()
        if open_token.text.endswith("*"):
            raise self.error("decorators such as '{{#*inline}}' are not supported", open_token)
        self.enter(open_token)
        is_partial = open_token.kind == "OPEN_PARTIAL_BLOCK"
        if is_partial:
            name = self.param()
            params, hash_ = self.arguments()
            call = SubExpr(_as_head(name), params, hash_, open_token.pos)
        else:
            call = self.call()
        block_params = self.block_params()
        close = self.expect("CLOSE")
        open_strip = _strip(open_token.text, close.text)
        program = self.program()
        program.block_params = block_params
        inverse: _Inverse | None = None
        token = self.peek()
        if token.kind == "INVERSE" and not is_partial:
            self.i += 1
            inverse = _Inverse(_strip(token.text, token.text), self.program(), chain=False)
        elif token.kind == "OPEN_INVERSE_CHAIN" and open_token.kind == "OPEN_BLOCK":
            inverse = self.inverse_chain()
        close_strip = self.close_block(call)
        self.depth -= 1
        block = _prepare_block(
            call,
            open_strip,
            program,
            inverse,
            close_strip,
            inverted=open_token.kind == "OPEN_INVERSE",
        )
        block.pos = open_token.pos
        block.partial_block = is_partial
        return block

    def inverse_chain(self) -> _Inverse:
        open_token = self.advance()
        self.enter(open_token)
        call = self.call()
        block_params = self.block_params()
        close = self.expect("CLOSE")
        strip = _strip(open_token.text, close.text)
        program = self.program()
        program.block_params = block_params
        inner: _Inverse | None = None
        token = self.peek()
        if token.kind == "INVERSE":
            self.i += 1
            inner = _Inverse(_strip(token.text, token.text), self.program(), chain=False)
        elif token.kind == "OPEN_INVERSE_CHAIN":
            inner = self.inverse_chain()
        self.depth -= 1
        block = _prepare_block(
            call, strip, program, inner, inner.strip if inner else None, inverted=False
        )
        block.pos = open_token.pos
        return _Inverse(strip, Program([block], chained=True), chain=True)

    def close_block(self, call: SubExpr) -> Strip:
        open_token = self.peek()
        if open_token.kind != "OPEN_ENDBLOCK":
            raise self.error(f"expected '{{{{/{_name_of(call.path)}}}}}'", open_token)
        self.i += 1
        name = self.name()
        close = self.expect("CLOSE")
        if _name_of(name) != _name_of(call.path):
            raise self.error(
                f"'{_name_of(call.path)}' doesn't match '{_name_of(name)}'", open_token
            )
        return _strip(open_token.text, close.text)

    # -- expressions ---------------------------------------------------------------------

    def call(self) -> SubExpr:
        token = self.peek()
        head = self.name()
        params, hash_ = self.arguments()
        return SubExpr(head, params, hash_, token.pos)

    def arguments(self) -> tuple[list[Expr], list[tuple[str, Expr]]]:
        params: list[Expr] = []
        hash_: list[tuple[str, Expr]] = []
        tokens = self.tokens
        while True:
            token = tokens[self.i]
            if token.kind == "ID" and tokens[self.i + 1].kind == "EQUALS":
                self.i += 2
                key = token.value[1:-1] if token.value.startswith("[") else token.value
                hash_.append((key, self.param()))
            elif hash_:
                return params, hash_
            elif token.kind in _NAME_STARTS or token.kind == "OPEN_SEXPR":
                params.append(self.param())
            else:
                return params, hash_

    def block_params(self) -> tuple[str, ...]:
        if self.peek().kind != "OPEN_BLOCK_PARAMS":
            return ()
        self.i += 1
        names: list[str] = []
        while self.peek().kind == "ID":
            names.append(self.advance().value)
        self.expect("CLOSE_BLOCK_PARAMS")
        if not names:
            raise self.error("empty block parameters")
        return tuple(names)

    def param(self) -> Expr:
        token = self.peek()
        if token.kind != "OPEN_SEXPR":
            return self.name()
        self.i += 1
        self.enter(token)
        call = self.call()
        self.expect("CLOSE_SEXPR")
        self.depth -= 1
        return call

    def name(self) -> PathExpr | Literal:
        token = self.advance()
        kind = token.kind
        if kind == "ID":
            return self.path(token, data=False)
        if kind == "DATA":
            return self.path(self.expect("ID"), data=True)
        if kind == "STRING":
            return Literal(token.value, token.value, pos=token.pos)
        if kind == "NUMBER":
            number: int | float = float(token.value) if "." in token.value else int(token.value)
            return Literal(number, token.value, pos=token.pos)
        if kind == "BOOLEAN":
            return Literal(token.value == "true", token.value, pos=token.pos)
        if kind == "NULL":
            return Literal(None, "null", pos=token.pos)
        if kind == "UNDEFINED":
            return Literal(None, "undefined", undefined=True, pos=token.pos)
        found = repr(token.text) if token.text else _DESCRIBE.get(kind, kind)
        raise self.error(f"expected a name or a value, found {found}", token)

    def path(self, first: Token, *, data: bool) -> PathExpr:
        segments = [("", first)]
        while self.peek().kind == "SEP" and self.tokens[self.i + 1].kind == "ID":
            separator = self.advance().value
            segments.append((separator, self.advance()))
        if self.peek().kind == "SEP":
            raise self.error("a path cannot end with a separator")
        original = "@" if data else ""
        parts: list[str] = []
        depth = 0
        for separator, token in segments:
            literal = token.value.startswith("[")
            part = token.value[1:-1] if literal else token.value
            original += separator + part
            if not literal and part in ("..", ".", "this"):
                if parts:
                    raise self.error(f"invalid path: {original}", token)
                if part == "..":
                    depth += 1
            else:
                parts.append(part)
        scoped = _SCOPED.search(original) is not None
        return PathExpr(tuple(parts), original, depth, data, scoped, first.pos)


def _as_head(expr: Expr) -> PathExpr | Literal:
    if isinstance(expr, SubExpr):
        raise TemplateSyntaxError("dynamic partial names are not supported in partial blocks")
    return expr


def _name_of(expr: PathExpr | Literal) -> str:
    return expr.original


def _prepare_block(
    call: SubExpr,
    open_strip: Strip,
    program: Program,
    inverse_and_program: _Inverse | None,
    close_strip: Strip | None,
    *,
    inverted: bool,
) -> Block:
    inverse: Program | None = None
    inverse_strip: Strip | None = None
    if inverse_and_program is not None:
        if inverse_and_program.chain:
            chained = inverse_and_program.program.body[0]
            assert isinstance(chained, Block)
            chained.close_strip = close_strip
        inverse_strip = inverse_and_program.strip
        inverse = inverse_and_program.program
    main: Program | None = program
    if inverted:
        main, inverse = inverse, main
    return Block(call, main, inverse, open_strip, inverse_strip, close_strip)
