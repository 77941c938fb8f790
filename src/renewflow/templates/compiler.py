"""Compile the syntax tree into nested Python closures.

No source code is generated here and nothing is `exec`-ed: every template construct becomes a
closure built here, and template text only ever reaches them as data (constants, dict keys).
`compile_tree` first tries codegen.py (one generated function per template, lenient mode), which
calls closures from this module for the constructs it does not inline; strict mode and templates
the generator declines use these closures alone. The common
shapes (a one- or two-segment path, a helper with one or two arguments) get specialised closures,
which is where the speed comes from.

Calling convention: a renderer is `fn(scope, frame) -> str`, a getter is `fn(scope, frame) -> value`.
`scope` is a cons list `(context, parent_scope)` so `../` walks up; `frame` is the `@data` frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import HelperError, TemplateError, TemplateLimitError, TemplateSyntaxError
from .helpers import RESERVED, Helper, HelperOptions, Helpers, push_scope
from .limits import Limits
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
    SubExpr,
)
from .parser import parse
from .runtime import (
    UNDEFINED,
    Frame,
    SafeString,
    escape_html,
    if_falsy,
    is_empty,
    js_truthy,
    lookup,
    object_keys,
    to_str,
)

Scope = tuple[Any, Any]
Render = Callable[[Scope, Frame], str]
Getter = Callable[[Scope, Frame], Any]
BlockFn = Callable[[Scope, Frame, Any], str]


@dataclass(frozen=True, slots=True)
class Options:
    escape: bool
    strict: bool
    helpers: Helpers
    limits: Limits


@dataclass(slots=True)
class Compiled:
    render: Render
    relative: dict[str, None]
    """Paths read relative to the template's own context, in first-use order."""
    absolute: dict[str, None]
    """Paths read through `@root`."""
    code: str | None = None
    """The generated Python source (see codegen.py), or None for the closure compiler."""


@dataclass(slots=True)
class PartialRegistry:
    """Partials of one compile: sources by name, compiled on first reference."""

    sources: Mapping[str, str]
    options: Options
    compiled: dict[str, Compiled] = field(default_factory=dict)
    compiling: set[str] = field(default_factory=set)

    def get(self, name: str) -> Compiled | None:
        found = self.compiled.get(name)
        if found is not None or name in self.compiling:
            return found
        source = self.sources.get(name)
        if source is None:
            return None
        self.compiling.add(name)
        try:
            found = compile_tree(parse(source, self.options.limits), self.options, self, source)
        finally:
            self.compiling.discard(name)
        self.compiled[name] = found
        return found


def compile_tree(
    program: Program, options: Options, registry: PartialRegistry, source: str
) -> Compiled:
    if not options.strict:
        from .codegen import compile_generated

        generated = compile_generated(program, options, registry, source)
        if generated is not None:
            return generated
    return compile_closures(program, options, registry, source)


def compile_closures(
    program: Program, options: Options, registry: PartialRegistry, source: str
) -> Compiled:
    compiler = _Compiler(options, registry, source)
    render = compiler.program(program)
    return Compiled(render, compiler.relative, compiler.absolute)


def _empty(scope: Scope, frame: Frame) -> str:
    return ""


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    """handlebars.js's null-safe chain: stops at the first null or undefined and returns it."""
    for part in parts:
        if value is None or value is UNDEFINED:
            return value
        value = lookup(value, part)
    return value


def _wrap(name: str, error: Exception) -> TemplateError:
    """A helper's own exception, mapped to ours at the boundary."""
    if isinstance(error, RecursionError):
        return TemplateLimitError(f"helper {name!r} nested too deeply")
    return HelperError(f"helper {name!r} failed: {type(error).__name__}: {error}")


def _call_helper(name: str, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except TemplateError:
        raise
    except Exception as error:
        raise _wrap(name, error) from error


def _join(fns: list[Render], suffix: str) -> Render:
    """One renderer for a program body; short bodies avoid the list and the join."""
    if not fns:
        return (lambda scope, frame: suffix) if suffix else _empty
    if len(fns) == 1:
        (a,) = fns
        if not suffix:
            return a
        return lambda scope, frame: a(scope, frame) + suffix
    if len(fns) == 2:
        a, b = fns
        return lambda scope, frame: a(scope, frame) + b(scope, frame) + suffix
    if len(fns) == 3:
        a, b, c = fns
        return lambda scope, frame: a(scope, frame) + b(scope, frame) + c(scope, frame) + suffix
    body = tuple(fns)
    if not suffix:
        return lambda scope, frame: "".join([fn(scope, frame) for fn in body])
    return lambda scope, frame: "".join([fn(scope, frame) for fn in body]) + suffix


def _const(value: Any) -> Getter:
    return lambda scope, frame: value


class _Compiler:
    def __init__(self, options: Options, registry: PartialRegistry, source: str) -> None:
        self.options = options
        self.helpers = options.helpers
        self.registry = registry
        self.source = source
        # Static mirror of the runtime scope chain, for `variables` and strict-mode messages:
        # the label of each context (None when not a plain path, e.g. a helper's result).
        self.scopes: list[str | None] = [""]
        self.block_params: list[tuple[tuple[str, ...], tuple[str | None, ...]]] = []
        self.relative: dict[str, None] = {}
        self.absolute: dict[str, None] = {}

    def error(self, message: str, pos: int) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, self.source, pos)

    # -- programs ------------------------------------------------------------------------

    def program(self, node: Program | None) -> Render:
        if node is None:
            return _empty
        fns: list[Render] = []
        pending = ""
        for statement in node.body:
            if isinstance(statement, Content):
                pending += statement.value
            elif not isinstance(statement, Comment):
                fns.append(self.statement(statement, pending))
                pending = ""
        return _join(fns, pending)

    def scoped_program(
        self,
        node: Program | None,
        label: str | None,
        push: bool,
        param_labels: tuple[str | None, ...] = (),
    ) -> Render:
        if push:
            self.scopes.append(label)
        names = node.block_params if node is not None else ()
        if names:
            labels = tuple(
                param_labels[i] if i < len(param_labels) else None for i in range(len(names))
            )
            self.block_params.append((names, labels))
        try:
            return self.program(node)
        finally:
            if names:
                self.block_params.pop()
            if push:
                self.scopes.pop()

    def statement(self, node: Statement, prefix: str) -> Render:
        if isinstance(node, Mustache):
            return self.mustache(node, prefix)
        if isinstance(node, Block):
            return self.block(node, prefix)
        assert isinstance(node, Partial)
        return self.partial(node, prefix)

    # -- names and paths -----------------------------------------------------------------

    def head(self, call: SubExpr, *, block: bool) -> tuple[str | None, PathExpr]:
        """(helper name or None, path): which helper this call invokes, if any."""
        path = call.path
        if isinstance(path, Literal):
            name = path.value if isinstance(path.value, str) else path.original
            if isinstance(path.value, int | float) and not isinstance(path.value, bool):
                name = to_str(path.value)
            path = PathExpr((name,), name, pos=path.pos)
        if path.is_simple:
            name = path.parts[0]
            if name in self.helpers or (block and name in RESERVED):
                return name, path
            if name in RESERVED:
                raise self.error(f"'{name}' is a block helper: write {{{{#{name} ...}}}}", call.pos)
        if call.params or call.hash:
            raise self.error(f"unknown helper '{path.original}'", call.pos)
        return None, path

    def label(self, path: PathExpr) -> str | None:
        """The dotted path a variable reference resolves to, `[]` marking list items."""
        if path.depth >= len(self.scopes):
            return None
        base = self.scopes[-1 - path.depth]
        if base is None:
            return None
        if not path.parts:
            return base or None
        tail = ".".join(path.parts)
        return f"{base}.{tail}" if base else tail

    def find_block_param(self, path: PathExpr) -> tuple[int, int] | None:
        if path.depth or path.scoped or path.data or not path.parts:
            return None
        name = path.parts[0]
        for up, (names, _labels) in enumerate(reversed(self.block_params)):
            if name in names:
                return up, names.index(name)
        return None

    def expr_label(self, expr: Expr) -> str | None:
        if not isinstance(expr, PathExpr) or expr.data:
            return None
        found = self.find_block_param(expr)
        if found is not None:
            up, index = found
            base = self.block_params[-1 - up][1][index]
            if base is None:
                return None
            rest = expr.parts[1:]
            return ".".join((base, *rest)) if rest else base
        return self.label(expr)

    def expr(self, expr: Expr) -> Getter:
        if isinstance(expr, Literal):
            return _const(UNDEFINED if expr.undefined else expr.value)
        if isinstance(expr, SubExpr):
            name, _path = self.head(expr, block=False)
            if name is None or name in RESERVED:
                raise self.error(f"unknown helper '{_path.original}'", expr.pos)
            return self.helper_call(name, expr, None, None)
        return self.path(expr, require_terminal=False)

    def path(self, path: PathExpr, *, require_terminal: bool) -> Getter:
        parts = path.parts
        strict = self.options.strict
        if path.data:
            return self.data_path(path, require_terminal)
        found = self.find_block_param(path)
        label = self.expr_label(path)
        if label:
            self.relative.setdefault(label)
        missing_label = label or path.original
        if found is not None:
            return self.block_param_path(found, parts[1:], strict, require_terminal, missing_label)
        depth = path.depth
        if strict:
            return _strict_context_path(depth, parts, require_terminal, missing_label)
        if depth == 0:
            if not parts:
                return lambda scope, frame: scope[0]
            if len(parts) <= 2:
                return _shallow_getter(parts)

            def get_n(scope: Scope, frame: Frame) -> Any:
                return _walk(scope[0], parts)

            return get_n

        def get_up(scope: Scope, frame: Frame) -> Any:
            current: Any = scope
            for _ in range(depth):
                current = current[1]
                if current is None:
                    return UNDEFINED
            return _walk(current[0], parts)

        return get_up

    def data_path(self, path: PathExpr, require_terminal: bool) -> Getter:
        head, rest = path.parts[0], path.parts[1:]
        depth = path.depth
        if head == "root" and rest:
            self.absolute.setdefault(".".join(rest))
        if head not in ("root", "index", "key", "first", "last"):
            # Custom @data only exists when a Python helper created it.
            pass

        def get(scope: Scope, frame: Frame) -> Any:
            target: Frame | None = frame
            for _ in range(depth):
                target = target.parent if target is not None else None
            if target is None:
                return UNDEFINED
            return _walk(target.get(head), rest)

        if not self.options.strict:
            return get
        original = path.original

        def get_strict(scope: Scope, frame: Frame) -> Any:
            value = get(scope, frame)
            if value is UNDEFINED and require_terminal:
                frame.state.missing.setdefault(original)
            return value

        return get_strict

    def block_param_path(
        self,
        found: tuple[int, int],
        rest: tuple[str, ...],
        strict: bool,
        require_terminal: bool,
        missing_label: str,
    ) -> Getter:
        up, index = found

        def get(scope: Scope, frame: Frame) -> Any:
            chain = frame.block_params
            for _ in range(up):
                chain = chain[1] if chain is not None else None
            if chain is None:
                return UNDEFINED
            values = chain[0]
            value = values[index] if index < len(values) else UNDEFINED
            if strict:
                return _strict_walk(value, rest, require_terminal, missing_label, frame)
            return _walk(value, rest)

        return get

    # -- mustaches -----------------------------------------------------------------------

    def mustache(self, node: Mustache, prefix: str) -> Render:
        name, path = self.head(node.call, block=False)
        escape = node.escaped and self.options.escape
        if name is not None:
            return _output(self.helper_call(name, node.call, None, None), prefix, escape)
        if (
            not self.options.strict
            and not path.data
            and path.depth == 0
            and self.find_block_param(path) is None
            and len(path.parts) in (1, 2)
        ):
            label = self.label(path)
            if label:
                self.relative.setdefault(label)
            return _fast_output(path.parts, prefix, escape)
        return _output(self.path(path, require_terminal=True), prefix, escape)

    def helper_call(
        self, name: str, call: SubExpr, fn: BlockFn | None, inverse: BlockFn | None
    ) -> Getter:
        helper: Helper = self.helpers[name]
        getters = tuple(self.expr(param) for param in call.params)
        pairs = tuple((key, self.expr(value)) for key, value in call.hash)
        function = helper.fn
        if helper.takes_options:

            def get_with_options(scope: Scope, frame: Frame) -> Any:
                args = [getter(scope, frame) for getter in getters]
                hash_ = {key: getter(scope, frame) for key, getter in pairs}
                options = HelperOptions(name, hash_, scope, frame, fn=fn, inverse=inverse)
                return _call_helper(name, function, args, {"options": options})

            return get_with_options
        if fn is not None or inverse is not None:
            raise self.error(f"'{name}' is not a block helper", call.pos)
        if pairs:

            def get_with_hash(scope: Scope, frame: Frame) -> Any:
                args = [getter(scope, frame) for getter in getters]
                hash_ = {key: getter(scope, frame) for key, getter in pairs}
                return _call_helper(name, function, args, hash_)

            return get_with_hash
        if len(getters) == 1:
            (g0,) = getters

            def get1(scope: Scope, frame: Frame) -> Any:
                a = g0(scope, frame)
                try:
                    return function(a)
                except TemplateError:
                    raise
                except Exception as error:
                    raise _wrap(name, error) from error

            return get1
        if len(getters) == 2:
            g0, g1 = getters

            def get2(scope: Scope, frame: Frame) -> Any:
                a, b = g0(scope, frame), g1(scope, frame)
                try:
                    return function(a, b)
                except TemplateError:
                    raise
                except Exception as error:
                    raise _wrap(name, error) from error

            return get2

        def get_n(scope: Scope, frame: Frame) -> Any:
            return _call_helper(name, function, [g(scope, frame) for g in getters], {})

        return get_n

    # -- blocks --------------------------------------------------------------------------

    def block(self, node: Block, prefix: str) -> Render:
        if node.partial_block:
            raise self.error("partial blocks '{{#> ...}}' are not supported", node.pos)
        call = node.call
        name, path = self.head(call, block=True)
        if name in ("if", "unless"):
            return self.if_block(node, prefix, negate=name == "unless")
        if name == "each":
            return self.each_block(node, prefix)
        if name == "with":
            return self.with_block(node, prefix)
        if name is not None:
            return self.helper_block(node, name, prefix)
        return self.missing_helper_block(node, path, prefix)

    def single_param(self, node: Block, name: str) -> Expr:
        if len(node.call.params) != 1:
            raise self.error(f"#{name} requires exactly one argument", node.pos)
        return node.call.params[0]

    def if_block(self, node: Block, prefix: str, *, negate: bool) -> Render:
        name = "unless" if negate else "if"
        cond = self.expr(self.single_param(node, name))
        zero_getters = [self.expr(value) for key, value in node.call.hash if key == "includeZero"]
        include_zero = zero_getters[-1] if zero_getters else None
        program = self.scoped_program(node.program, None, push=False)
        inverse = self.scoped_program(node.inverse, None, push=False)
        if negate:
            program, inverse = inverse, program

        if include_zero is None:

            def run(scope: Scope, frame: Frame) -> str:
                if if_falsy(cond(scope, frame)):
                    return prefix + inverse(scope, frame)
                return prefix + program(scope, frame)

            return run
        zero = include_zero

        def run_zero(scope: Scope, frame: Frame) -> str:
            value = cond(scope, frame)
            if is_empty(value) if js_truthy(zero(scope, frame)) else if_falsy(value):
                return prefix + inverse(scope, frame)
            return prefix + program(scope, frame)

        return run_zero

    def with_block(self, node: Block, prefix: str) -> Render:
        param = self.single_param(node, "with")
        value_of = self.expr(param)
        label = self.expr_label(param)
        program = self.scoped_program(node.program, label, push=True, param_labels=(label,))
        inverse = self.scoped_program(node.inverse, None, push=False)
        declares = bool(node.program and node.program.block_params)

        def run(scope: Scope, frame: Frame) -> str:
            value = value_of(scope, frame)
            if is_empty(value):
                return prefix + inverse(scope, frame)
            if declares:
                frame = _with_block_params(frame, (value,))
            return prefix + program(push_scope(value, scope), frame)

        return run

    def each_block(self, node: Block, prefix: str) -> Render:
        param = self.single_param(node, "each")
        items_of = self.expr(param)
        label = self.expr_label(param)
        item_label = f"{label}[]" if label else None
        program = self.scoped_program(
            node.program, item_label, push=True, param_labels=(item_label, None)
        )
        inverse = self.scoped_program(node.inverse, None, push=False)
        declares = bool(node.program and node.program.block_params)
        return _each(items_of, program, inverse, prefix, declares)

    def helper_block(self, node: Block, name: str, prefix: str) -> Render:
        program = self.scoped_program(node.program, self.scopes[-1], push=False)
        inverse = self.scoped_program(node.inverse, self.scopes[-1], push=False)
        fn = _block_fn(program, bool(node.program and node.program.block_params))
        inv = _block_fn(inverse, bool(node.inverse and node.inverse.block_params))
        value_of = self.helper_call(name, node.call, fn, inv)

        def run(scope: Scope, frame: Frame) -> str:
            return prefix + to_str(value_of(scope, frame))

        return run

    def missing_helper_block(self, node: Block, path: PathExpr, prefix: str) -> Render:
        """`{{#name}}` without a helper: a Mustache section (handlebars.js's blockHelperMissing)."""
        value_of = self.path(path, require_terminal=True)
        label = self.expr_label(path)
        program = self.scoped_program(node.program, label, push=True)
        inverse = self.scoped_program(node.inverse, None, push=False)
        each = _each(value_of, program, inverse, "", declares=False)

        def run(scope: Scope, frame: Frame) -> str:
            value = value_of(scope, frame)
            if value is True:
                return prefix + program(scope, frame)
            if value is False or value is None or value is UNDEFINED:
                return prefix + inverse(scope, frame)
            if isinstance(value, list | tuple):
                return prefix + each(scope, frame)
            return prefix + program(push_scope(value, scope), frame)

        return run

    # -- partials ------------------------------------------------------------------------

    def partial(self, node: Partial, prefix: str) -> Render:
        registry = self.registry
        name_expr = node.name
        dynamic: Getter | None = None
        if isinstance(name_expr, SubExpr):
            dynamic = self.expr(name_expr)
            static_name = ""
        elif isinstance(name_expr, Literal):
            static_name = to_str(name_expr.value)
        else:
            if name_expr.data:
                raise self.error(
                    "'@partial-block' and data partial names are not supported", node.pos
                )
            static_name = name_expr.original
        context_of = self.expr(node.params[0]) if node.params else None
        pairs = tuple((key, self.expr(value)) for key, value in node.hash)
        if dynamic is None:
            if static_name not in registry.sources:
                raise self.error(f"unknown partial '{static_name}'", node.pos)
            compiled = registry.get(static_name)
            if compiled is not None:
                base = self.expr_label(node.params[0]) if node.params else self.scopes[-1]
                for variable in compiled.relative:
                    if base is not None:
                        self.relative.setdefault(f"{base}.{variable}" if base else variable)
                for variable in compiled.absolute:
                    self.absolute.setdefault(variable)
        indent = node.indent
        max_depth = self.options.limits.max_partial_depth

        def run(scope: Scope, frame: Frame) -> str:
            name = to_str(dynamic(scope, frame)) if dynamic is not None else static_name
            compiled = registry.compiled.get(name) or registry.get(name)
            if compiled is None:
                raise TemplateError(f"the partial {name!r} could not be found")
            context = context_of(scope, frame) if context_of is not None else scope[0]
            if pairs:
                merged = dict(context) if isinstance(context, dict) else {}
                for key, getter in pairs:
                    merged[key] = getter(scope, frame)
                context = merged
            state = frame.state
            if state.partial_depth >= max_depth:
                raise TemplateLimitError(f"partials nested deeper than {max_depth}")
            state.partial_depth += 1
            try:
                text = compiled.render((context, None), frame)
            finally:
                state.partial_depth -= 1
            if indent:
                lines = text.split("\n")
                last = len(lines) - 1
                text = "\n".join(
                    line if not line and i == last else indent + line
                    for i, line in enumerate(lines)
                )
            return prefix + state.check_output(text)

        return run


# -- closures shared by several constructs --------------------------------------------------


def _strict_walk(
    value: Any, parts: tuple[str, ...], require_terminal: bool, label: str, frame: Frame
) -> Any:
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if value is None or value is UNDEFINED:
            frame.state.missing.setdefault(label)
            return UNDEFINED
        found = lookup(value, part)
        if (
            found is UNDEFINED
            and (require_terminal or i < last)
            # Present with an undefined value is not missing (JavaScript's `in`).
            and not (isinstance(value, dict) and part in value)
        ):
            frame.state.missing.setdefault(label)
        value = found
    return value


def _strict_context_path(
    depth: int, parts: tuple[str, ...], require_terminal: bool, label: str
) -> Getter:
    def get(scope: Scope, frame: Frame) -> Any:
        current: Any = scope
        for _ in range(depth):
            current = current[1]
            if current is None:
                frame.state.missing.setdefault(label)
                return UNDEFINED
        return _strict_walk(current[0], parts, require_terminal, label, frame)

    return get


def _output(value_of: Getter, prefix: str, escape: bool) -> Render:
    if escape:

        def run_escaped(scope: Scope, frame: Frame) -> str:
            value = value_of(scope, frame)
            if type(value) is str:
                return prefix + escape_html(value)
            if isinstance(value, SafeString):
                return prefix + str.__str__(value)
            return prefix + escape_html(to_str(value))

        return run_escaped

    def run(scope: Scope, frame: Frame) -> str:
        value = value_of(scope, frame)
        if type(value) is str:
            return prefix + value
        return prefix + to_str(value)

    return run


def _shallow_getter(parts: tuple[str, ...]) -> Getter:
    """`a` or `a.b` from the current scope, with a fast path for plain dicts."""
    if len(parts) == 1:
        (a,) = parts

        def get1(scope: Scope, frame: Frame) -> Any:
            value = scope[0]
            if type(value) is dict:
                return value.get(a, UNDEFINED)
            return _walk(value, parts)

        return get1
    a, b = parts
    rest = parts[1:]

    def get2(scope: Scope, frame: Frame) -> Any:
        value = scope[0]
        if type(value) is dict:
            value = value.get(a, UNDEFINED)
            if type(value) is dict:
                return value.get(b, UNDEFINED)
            return _walk(value, rest)
        return _walk(value, parts)

    return get2


def _fast_output(parts: tuple[str, ...], prefix: str, escape: bool) -> Render:
    """`{{a}}` / `{{a.b}}` in lenient mode: the hottest shape, so lookup and output are fused."""
    if len(parts) == 1:
        (a,) = parts
        if escape:

            def run1_escaped(scope: Scope, frame: Frame) -> str:
                value = scope[0]
                value = value.get(a, UNDEFINED) if type(value) is dict else _walk(value, parts)
                if type(value) is str:
                    return prefix + escape_html(value)
                if isinstance(value, SafeString):
                    return prefix + str.__str__(value)
                return prefix + escape_html(to_str(value))

            return run1_escaped

        def run1(scope: Scope, frame: Frame) -> str:
            value = scope[0]
            value = value.get(a, UNDEFINED) if type(value) is dict else _walk(value, parts)
            if type(value) is str:
                return prefix + value
            return prefix + to_str(value)

        return run1
    if escape:
        return _output(_shallow_getter(parts), prefix, escape)
    a, b = parts
    rest = parts[1:]

    def run2(scope: Scope, frame: Frame) -> str:
        value = scope[0]
        if type(value) is dict:
            value = value.get(a, UNDEFINED)
            value = value.get(b, UNDEFINED) if type(value) is dict else _walk(value, rest)
        else:
            value = _walk(value, parts)
        if type(value) is str:
            return prefix + value
        return prefix + to_str(value)

    return run2


def _with_block_params(frame: Frame, values: tuple[Any, ...]) -> Frame:
    """Block parameters ride on a copy of the frame that `@../` sees through."""
    child = frame.child()
    child.parent = frame.parent
    child.block_params = (values, frame.block_params)
    return child


def _block_fn(program: Render, declares: bool) -> BlockFn:
    def call(scope: Scope, frame: Frame, block_params: Any) -> str:
        if declares:
            frame = _with_block_params(frame, tuple(block_params or ()))
        return program(scope, frame)

    return call


def _each(
    items_of: Getter, program: Render, inverse: Render, prefix: str, declares: bool
) -> Render:
    def run(scope: Scope, frame: Frame) -> str:
        items = items_of(scope, frame)
        kind = type(items)
        if kind is list or kind is tuple or isinstance(items, list | tuple):
            count = len(items)
            if not count:
                return prefix + inverse(scope, frame)
            state = frame.state
            state.count_iterations(count)
            loop = frame.child()
            outer_params = frame.block_params
            last = count - 1
            parts: list[str] = []
            append = parts.append
            top = scope[0]
            for index, item in enumerate(items):
                loop.index = loop.key = index
                loop.first = index == 0
                loop.last = index == last
                if declares:
                    loop.block_params = ((item, index), outer_params)
                if type(item) is dict:
                    append(program((item, scope), loop))
                else:
                    append(program(scope if item is top else push_scope(item, scope), loop))
            return prefix + state.check_output("".join(parts))
        if kind is dict or isinstance(items, dict):
            keys = object_keys(items)
            if not keys:
                return prefix + inverse(scope, frame)
            state = frame.state
            state.count_iterations(len(keys))
            loop = frame.child()
            outer_params = frame.block_params
            last = len(keys) - 1
            parts = []
            for index, key in enumerate(keys):
                item = items[key]
                loop.index = index
                loop.key = key
                loop.first = index == 0
                loop.last = index == last
                if declares:
                    loop.block_params = ((item, key), outer_params)
                parts.append(program(push_scope(item, scope), loop))
            return prefix + state.check_output("".join(parts))
        return prefix + inverse(scope, frame)

    return run
