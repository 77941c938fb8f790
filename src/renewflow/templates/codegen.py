"""Compile the syntax tree into one Python function per template, for speed.

Safety is by construction and then checked:

- The generator only ever writes identifiers it mints itself (`k3`, `t7`, `c1`, ...), the fixed
  names of the runtime functions below, and the fixed Python syntax around them. Every piece of
  template text, every path segment, literal, helper and helper name is passed in as a *constant*:
  it goes into the tuple `K`, and the generated code refers to it only as `k<index>`, a name bound
  by unpacking `K`. No template string is ever formatted into the source, not even `repr()`-ed.
- Before `compile()`, `_check_source` parses the generated source and rejects it unless every
  name is minted or from the fixed set, every attribute is from a fixed set, and the only literals
  are `None`, `True`, `False`, `0` and `1`; a rejected source falls back to the closure compiler. So even a bug in
  the generator cannot turn template text into code.
- The source is executed with a namespace holding only the runtime functions below and no
  builtins beyond those listed.

What is generated: text, `{{path}}` and helper calls are inlined, as are `#if`/`#unless`, `#each`
and `#with` without block parameters. Everything else (partials, block helpers, sections, `../`,
block parameters, `includeZero`, very deep nesting) is compiled by the closure compiler and called
from the generated code, so there is one set of semantics. Strict mode uses the closure compiler.
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import Any

from .compiler import Compiled, Options, PartialRegistry, _Compiler, _wrap
from .errors import TemplateError
from .helpers import RESERVED, push_scope
from .nodes import Block, Comment, Content, Expr, Literal, Mustache, PathExpr, Program, SubExpr
from .runtime import (
    UNDEFINED,
    SafeString,
    escape_html,
    if_falsy,
    is_empty,
    lookup,
    object_keys,
    to_str,
)

_MAX_INDENT = 40
"""Deeper blocks are delegated to closures: Python limits nested blocks and indentation."""
_MAX_LOOPS = 8
_MAX_LINES = 3000
"""Larger templates (roughly 15 KB of source) use closures: compiling huge functions is slow."""


def _step(value: Any, key: str) -> Any:
    """One segment of handlebars.js's null-safe chain (see `compiler._walk`)."""
    if value is None or value is UNDEFINED:
        return value
    return lookup(value, key)


def _escape_any(value: Any) -> str:
    if isinstance(value, SafeString):
        return str.__str__(value)
    return escape_html(to_str(value))


def _hash(keys: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(keys, values, strict=True))


def _dict_values(items: dict[Any, Any], keys: list[str]) -> list[Any]:
    return [items[key] for key in keys]


_RUNTIME: dict[str, Any] = {
    "U": UNDEFINED,
    "to_str": to_str,
    "esc": escape_html,
    "esc_any": _escape_any,
    "step": _step,
    "if_falsy": if_falsy,
    "is_empty": is_empty,
    "push": push_scope,
    "object_keys": object_keys,
    "dict_values": _dict_values,
    "hz": _hash,
    "wrap": _wrap,
    "sjoin": "".join,
    "EMPTY": "",
    "LT": (list, tuple),
    "TemplateError": TemplateError,
}
_BUILTINS: dict[str, Any] = {
    "Exception": Exception,
    "type": type,
    "str": str,
    "int": int,
    "list": list,
    "tuple": tuple,
    "dict": dict,
    "isinstance": isinstance,
    "len": len,
    "enumerate": enumerate,
}
_FIXED_NAMES = frozenset({*_RUNTIME, *_BUILTINS, "K", "render", "make", "e"})
_MINTED = re.compile(r"[kvtcsfnpailq][0-9]+")
_ATTRIBUTES = frozenset(
    {
        "get",
        "append",
        "state",
        "count_iterations",
        "check_output",
        "child",
        "index",
        "key",
        "first",
        "last",
        "root",
    }
)
_FRAME_FIELDS = {name: name for name in ("root", "index", "key", "first", "last")}
"""`@index` and friends: the attribute written is this table's own string, not the template's."""


class UnsafeSourceError(Exception):
    """The generated source failed the whitelist check (a generator bug; never seen by users)."""


def _check_source(tree: ast.Module) -> None:
    """Reject generated code holding anything but minted names, fixed names and fixed literals."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in _FIXED_NAMES and not _MINTED.fullmatch(node.id):
                raise UnsafeSourceError(f"name {node.id!r}")
        elif isinstance(node, ast.Attribute):
            if node.attr not in _ATTRIBUTES:
                raise UnsafeSourceError(f"attribute {node.attr!r}")
        elif isinstance(node, ast.Constant):
            value = node.value
            if not (
                value is None or type(value) is bool or (type(value) is int and value in (0, 1))
            ):
                raise UnsafeSourceError(f"literal {node.value!r}")
        elif isinstance(node, ast.FunctionDef):
            if node.name not in _FIXED_NAMES:
                raise UnsafeSourceError(f"function {node.name!r}")
        elif isinstance(node, ast.arg):
            if not _MINTED.fullmatch(node.arg) and node.arg != "K":
                raise UnsafeSourceError(f"argument {node.arg!r}")
        elif isinstance(node, ast.keyword):
            if node.arg is not None:
                raise UnsafeSourceError(f"keyword {node.arg!r}")
        elif isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            raise UnsafeSourceError(type(node).__name__)
        elif isinstance(node, ast.ExceptHandler) and node.name not in (None, "e"):
            raise UnsafeSourceError("handler")


@dataclass(slots=True, eq=False)
class _Level:
    """One context level of the generated code: context, scope chain and data frame variables."""

    ctx: str
    scope: str
    frame: str
    parent: _Level | None
    owner: _Level | None
    """The loop level whose frame this level uses (itself for a loop), None for the root frame."""
    scope_used: bool = False
    frame_used: bool = False


class _CodeGen(_Compiler):
    def __init__(self, options: Options, registry: PartialRegistry, source: str) -> None:
        super().__init__(options, registry, source)
        self.consts: list[Any] = []
        self.const_index: dict[int, int] = {}
        self.counter = 0
        self.out: list[str] = []
        self.indent = 2
        self.loops = 0
        self.level = _Level("c0", "s0", "f0", None, None)

    # -- emission --------------------------------------------------------------------------

    def const(self, value: Any) -> str:
        """A constant's name: `k<index>` into `K`. Never the value itself."""
        index = self.const_index.get(id(value))
        if index is None or self.consts[index] is not value:
            index = len(self.consts)
            self.consts.append(value)
            self.const_index[id(value)] = index
        return f"k{index}"

    def mint(self, letter: str) -> str:
        self.counter += 1
        return f"{letter}{self.counter}"

    def emit(self, line: str) -> None:
        self.out.append("    " * self.indent + line)

    def capture_start(self) -> list[str]:
        saved = self.out
        self.out = []
        self.indent += 1
        return saved

    def capture_end(self, saved: list[str]) -> list[str]:
        lines = self.out
        self.out = saved
        self.indent -= 1
        return lines

    def use_scope(self, level: _Level | None = None) -> str:
        level = level or self.level
        current: _Level | None = level
        while current is not None and not current.scope_used:
            current.scope_used = True
            current = current.parent
        return level.scope

    def use_frame(self, level: _Level | None = None) -> str:
        level = level or self.level
        owner = level.owner
        while owner is not None and not owner.frame_used:
            owner.frame_used = True
            assert owner.parent is not None
            owner = owner.parent.owner
        return level.frame

    @staticmethod
    def concat(pieces: list[str]) -> str:
        if not pieces:
            return "EMPTY"
        if len(pieces) == 1:
            return pieces[0]
        return 'f"' + "".join("{" + piece + "}" for piece in pieces) + '"'

    # -- programs --------------------------------------------------------------------------

    def gen_program(self, node: Program | None) -> list[str]:
        pieces: list[str] = []
        if node is None:
            return pieces
        pending = ""
        for statement in node.body:
            if isinstance(statement, Content):
                pending += statement.value
            elif not isinstance(statement, Comment):
                if pending:
                    pieces.append(self.const(pending))
                    pending = ""
                piece = None
                if isinstance(statement, Mustache):
                    piece = self.gen_mustache(statement)
                elif isinstance(statement, Block):
                    piece = self.gen_block(statement)
                if piece is None:
                    piece = self.delegate(self.statement(statement, ""))
                pieces.append(piece)
        if pending:
            pieces.append(self.const(pending))
        return pieces

    def delegate(self, fn: Any) -> str:
        """Call a closure (renderer or getter) for a construct the generator does not inline."""
        target = self.mint("t")
        self.emit(f"{target} = {self.const(fn)}({self.use_scope()}, {self.use_frame()})")
        return target

    # -- expressions -----------------------------------------------------------------------

    def gen_expr(self, expr: Expr) -> str:
        if isinstance(expr, Literal):
            return self.const(UNDEFINED if expr.undefined else expr.value)
        if isinstance(expr, SubExpr):
            name, path = self.head(expr, block=False)
            if name is None or name in RESERVED:
                raise self.error(f"unknown helper '{path.original}'", expr.pos)
            if self.helpers[name].takes_options:
                return self.delegate(self.expr(expr))
            return self.gen_helper_call(name, expr)
        return self.gen_path(expr, require_terminal=False)

    def gen_path(self, path: PathExpr, *, require_terminal: bool) -> str:
        getter = self.path(path, require_terminal=require_terminal)  # registers the variable
        if path.depth or self.find_block_param(path) is not None:
            return self.delegate(getter)
        parts = path.parts
        if path.data:
            head, parts = parts[0], parts[1:]
            frame = self.use_frame()
            value = self.mint("v")
            if head in _FRAME_FIELDS:
                self.emit(f"{value} = {frame}.{_FRAME_FIELDS[head]}")
            else:
                self.emit(f"{value} = {frame}.get({self.const(head)})")
        elif not parts:
            return self.level.ctx
        else:
            value = self.mint("v")
            first, parts = parts[0], parts[1:]
            ctx, key = self.level.ctx, self.const(first)
            self.emit(
                f"{value} = {ctx}.get({key}, U) if type({ctx}) is dict else step({ctx}, {key})"
            )
        for part in parts:
            key = self.const(part)
            self.emit(
                f"{value} = {value}.get({key}, U) if type({value}) is dict else step({value}, {key})"
            )
        return value

    def gen_helper_call(self, name: str, call: SubExpr) -> str:
        function = self.const(self.helpers[name].fn)
        args = [self.gen_expr(param) for param in call.params]
        if call.hash:
            keys = self.const(tuple(key for key, _value in call.hash))
            values = [self.gen_expr(value) for _key, value in call.hash]
            args.append(f"**hz({keys}, ({', '.join(values)},))")
        result = self.mint("t")
        self.emit("try:")
        self.emit(f"    {result} = {function}({', '.join(args)})")
        self.emit("except TemplateError:")
        self.emit("    raise")
        self.emit("except Exception as e:")
        self.emit(f"    raise wrap({self.const(name)}, e) from e")
        return result

    # -- statements ------------------------------------------------------------------------

    def gen_mustache(self, node: Mustache) -> str | None:
        name, path = self.head(node.call, block=False)
        if name is not None:
            if self.helpers[name].takes_options:
                return None
            value = self.gen_helper_call(name, node.call)
        else:
            value = self.gen_path(path, require_terminal=True)
        text = self.mint("t")
        if node.escaped and self.options.escape:
            self.emit(f"{text} = esc({value}) if type({value}) is str else esc_any({value})")
        else:
            self.emit(
                f"{text} = {value} if type({value}) is str else"
                f" str({value}) if type({value}) is int else to_str({value})"
            )
        return text

    def gen_block(self, node: Block) -> str | None:
        if node.partial_block or self.indent > _MAX_INDENT:
            return None
        for program in (node.program, node.inverse):
            if program is not None and program.block_params:
                return None
        name, _path = self.head(node.call, block=True)
        if name in ("if", "unless"):
            if any(key == "includeZero" for key, _value in node.call.hash):
                return None
            return self.gen_if(node, negate=name == "unless")
        if name == "each" and self.loops < _MAX_LOOPS:
            return self.gen_each(node)
        if name == "with":
            return self.gen_with(node)
        return None

    def gen_branch(self, node: Program | None, target: str) -> list[str]:
        saved = self.capture_start()
        pieces = self.gen_program(node)
        self.emit(f"{target} = {self.concat(pieces)}")
        return self.capture_end(saved)

    def gen_if(self, node: Block, *, negate: bool) -> str:
        cond = self.gen_expr(self.single_param(node, "unless" if negate else "if"))
        result = self.mint("t")
        program = self.gen_branch(node.program, result)
        inverse = self.gen_branch(node.inverse, result)
        if negate:
            program, inverse = inverse, program
        self.emit(f"if {cond} is True or ({cond} is not False and not if_falsy({cond})):")
        self.out.extend(program)
        self.emit("else:")
        self.out.extend(inverse)
        return result

    def gen_with(self, node: Block) -> str:
        param = self.single_param(node, "with")
        value = self.gen_expr(param)
        label = self.expr_label(param)
        parent = self.level
        level = _Level(self.mint("c"), self.mint("s"), parent.frame, parent, parent.owner)
        result = self.mint("t")
        self.scopes.append(label)
        self.level = level
        try:
            program = self.gen_branch(node.program, result)
        finally:
            self.level = parent
            self.scopes.pop()
        inverse = self.gen_branch(node.inverse, result)
        self.emit(f"if is_empty({value}):")
        self.out.extend(inverse)
        self.emit("else:")
        self.emit(f"    {level.scope} = push({value}, {self.use_scope(parent)})")
        self.emit(f"    {level.ctx} = {level.scope}[0]")
        self.out.extend(program)
        return result

    def gen_each(self, node: Block) -> str:
        param = self.single_param(node, "each")
        items = self.gen_expr(param)
        label = self.expr_label(param)
        parent = self.level
        level = _Level(self.mint("c"), self.mint("s"), self.mint("f"), parent, None)
        level.owner = level
        result, seq, keys, count = self.mint("t"), self.mint("q"), self.mint("q"), self.mint("n")
        parts, index, last = self.mint("p"), self.mint("i"), self.mint("l")
        self.scopes.append(f"{label}[]" if label else None)
        self.level = level
        self.loops += 1
        saved = self.capture_start()
        self.indent += 1
        try:
            pieces = self.gen_program(node.program)
            self.emit(f"{parts}({self.concat(pieces)})")
            body = self.out
        finally:
            self.indent -= 1
            self.capture_end(saved)
            self.loops -= 1
            self.level = parent
            self.scopes.pop()
        inverse = self.gen_branch(node.inverse, result)

        kind = self.mint("q")
        self.emit(f"{kind} = type({items})")
        self.emit(f"if {kind} is list or {kind} is tuple or isinstance({items}, LT):")
        self.emit(f"    {seq} = {items}")
        self.emit(f"    {keys} = None")
        self.emit(f"elif {kind} is dict or isinstance({items}, dict):")
        self.emit(f"    {keys} = object_keys({items})")
        self.emit(f"    {seq} = dict_values({items}, {keys})")
        self.emit("else:")
        self.emit(f"    {seq} = EMPTY")
        self.emit(f"if {seq}:")
        self.emit(f"    {count} = len({seq})")
        self.emit(f"    f0.state.count_iterations({count})")
        self.emit(f"    {result} = []")
        self.emit(f"    {parts} = {result}.append")
        if level.frame_used:
            self.emit(f"    {level.frame} = {self.use_frame(parent)}.child()")
            self.emit(f"    {last} = {count} - 1")
            self.emit(f"    for {index}, {level.ctx} in enumerate({seq}):")
            self.emit(f"        {level.frame}.index = {index}")
            self.emit(f"        {level.frame}.key = {index} if {keys} is None else {keys}[{index}]")
            self.emit(f"        {level.frame}.first = {index} == 0")
            self.emit(f"        {level.frame}.last = {index} == {last}")
        else:
            self.emit(f"    for {level.ctx} in {seq}:")
        if level.scope_used:
            ctx, outer = level.ctx, self.use_scope(parent)
            self.emit(
                f"        {level.scope} = ({ctx}, {outer}) if {keys} is None and type({ctx}) is dict"
                f" else push({ctx}, {outer})"
            )
        self.out.extend(body)
        self.emit(f"    {result} = f0.state.check_output(sjoin({result}))")
        self.emit("else:")
        self.out.extend(inverse)
        return result

    # -- the whole template ----------------------------------------------------------------

    def generate(self, node: Program) -> str:
        pieces = self.gen_program(node)
        self.emit(f"return {self.concat(pieces)}")
        lines = ["def make(K):"]
        if self.consts:
            names = ", ".join(f"k{i}" for i in range(len(self.consts)))
            lines.append(f"    {names}, = K")
        lines.append("    def render(s0, f0):")
        lines.append("        c0 = s0[0]")
        lines.extend(self.out)
        lines.append("    return render")
        return "\n".join(lines) + "\n"


def generate_source(
    program: Program, options: Options, registry: PartialRegistry, source: str
) -> tuple[str, tuple[Any, ...], _CodeGen]:
    """The generated source and its constants (exposed for the safety tests)."""
    generator = _CodeGen(options, registry, source)
    code = generator.generate(program)
    return code, tuple(generator.consts), generator


# CPython 3.11 keeps the depth counter of its AST <-> object conversion in interpreter-wide state,
# so two threads converting at once (one pauses mid-way, say for a garbage collection that runs a
# finaliser) can fail with "SystemError: AST constructor recursion depth mismatch". Seen under
# concurrent HTTP requests; the conversions are short and compiled templates are cached, so one
# lock costs nothing measurable.
_AST_LOCK = threading.Lock()


def compile_generated(
    program: Program, options: Options, registry: PartialRegistry, source: str
) -> Compiled | None:
    """The template as one generated function, or None to use the closure compiler instead."""
    code, consts, generator = generate_source(program, options, registry, source)
    if code.count("\n") > _MAX_LINES:
        return None
    try:
        with _AST_LOCK:
            tree = ast.parse(code)
        _check_source(tree)
        namespace: dict[str, Any] = {"__builtins__": dict(_BUILTINS), **_RUNTIME}
        # The source holds only minted names and fixed syntax, checked above; all template
        # text reaches it as the constants tuple, never as source.
        with _AST_LOCK:
            code_object = compile(tree, "<renewflow.templates>", "exec")
        exec(code_object, namespace)  # noqa: S102
    except (UnsafeSourceError, SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    render = namespace["make"](consts)
    return Compiled(render, generator.relative, generator.absolute, code)
