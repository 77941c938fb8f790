"""The code generator: template text never becomes Python source, and it renders like closures."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from renewflow.templates import Environment, Template, TemplateError, compile
from renewflow.templates.codegen import UnsafeSourceError, _check_source, generate_source
from renewflow.templates.compiler import Options, PartialRegistry, compile_closures
from renewflow.templates.helpers import default_helpers
from renewflow.templates.limits import DEFAULT_LIMITS
from renewflow.templates.nodes import (
    Block,
    Content,
    Expr,
    Literal,
    Mustache,
    Partial,
    PathExpr,
    Program,
    SubExpr,
)
from renewflow.templates.parser import parse

from .generator import cases

MARKER = "MARKER_FILE_7f3a"
"""`touch`-ed by the payloads below if anything ever executed them (cwd is a temporary dir)."""

SOURCE_CHARS = re.compile(r"[A-Za-z0-9_ ,.()=:\n{}\"\[\]*+-]*")
"""Every character the generator can write: no quote but `"` (f-strings), no backslash."""

ADVERSARIAL = [
    f"{{{{customer.[x') or __import__('os').system('touch {MARKER}') or ('] }}}}",
    f'{{{{customer.[x") or __import__("os").system("touch {MARKER}") or ("] }}}}',
    f"{{{{[''' + __import__('os').system('touch {MARKER}') + ''']}}}}",
    f"text with '''triple''' and \"\"\"double\"\"\" quotes, a \\ backslash\\n and "
    f"__import__('os').system('touch {MARKER}') {{{{customer.name}}}} end",
    "line one\nline two\r\nsep\u2028para\u2029nul\x00form\x0cend {{customer.name}}",
    f"{{{{default missing \"'); __import__('os').system('touch {MARKER}') #\"}}}}",
    f'{{{{default missing \'""" + __import__("os").system("touch {MARKER}") + """\'}}}}',
    "{{eq \"quote\\\"inside\" 'apos\\'inside'}}",
    f"{{{{formatNumber customer.arr decimals=\"__import__('os').system('touch {MARKER}')\"}}}}",
    f"{{{{#each [rows\\\"x]}}}}{{{{[cell\\'y]}}}}{{{{@index}}}}"
    f"{{{{else}}}}__import__('os').system('touch {MARKER}'){{{{/each}}}}",
    f'{{{{#if (eq customer.[__class__] "}}}}\\"\\"\\"\')")}}}}yes{{{{else}}}}'
    f"{{{{#with customer}}}}{{{{[__import__('os').system('touch {MARKER}')]}}}}{{{{/with}}}}{{{{/if}}}}",
    'f-string bait {k0} {t1} {{customer.name}} {__import__} "{k0}" \\{{lit}}',
    '{{customer.[\\x00\\u2028]}}{{[\x00]}}{{["\n"]}}{{lookup customer "\u2029"}}',
    f"{{{{#each customer}}}}{{{{@key}}}}={{{{this}}}};{{{{/each}}}}"
    f"{{{{upper \"__import__('os').system('touch {MARKER}')\"}}}}",
]

DATA: dict[str, Any] = {
    "customer": {"name": "Acme \"Corp\" '''", "arr": 1234.5, "x') or (": "bracket"},
    'rows\\"x': [{"cell\\'y": "a"}, {"cell\\'y": "b"}],
    "\x00": "nul",
    "\n": "newline",
}


def _strings(program: Program | None) -> list[str]:
    """Every piece of template text, path segment and string literal in a tree."""
    found: list[str] = []

    def expr(node: Expr) -> None:
        if isinstance(node, PathExpr):
            # `@index` and friends name a fixed frame field; every other segment is data.
            found.extend(node.parts[1:] if node.data else node.parts)
            found.append(node.original)
        elif isinstance(node, Literal):
            found.append(node.original)
            if isinstance(node.value, str):
                found.append(node.value)
        else:
            call(node)

    def call(node: SubExpr) -> None:
        expr(node.path)
        for param in node.params:
            expr(param)
        for key, value in node.hash:
            found.append(key)
            expr(value)

    def walk(node: Program | None) -> None:
        for statement in node.body if node is not None else ():
            if isinstance(statement, Content):
                found.extend((statement.value, statement.original))
            elif isinstance(statement, Mustache):
                call(statement.call)
            elif isinstance(statement, Block):
                call(statement.call)
                walk(statement.program)
                walk(statement.inverse)
            elif isinstance(statement, Partial):
                expr(statement.name)

    walk(program)
    return found


def _options(*, escape: bool = False) -> Options:
    return Options(escape=escape, strict=False, helpers=default_helpers(), limits=DEFAULT_LIMITS)


def _closure_render(source: str, context: Any, *, escape: bool = False) -> str:
    options = _options(escape=escape)
    registry = PartialRegistry({}, options)
    compiled = compile_closures(parse(source, DEFAULT_LIMITS), options, registry, source)
    return Template(source, compiled, DEFAULT_LIMITS, strict=False).render(context)


@pytest.mark.parametrize("escape", [False, True])
@pytest.mark.parametrize("source", ADVERSARIAL)
def test_generated_source_holds_no_template_text(
    source: str, escape: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    options = _options(escape=escape)
    tree = parse(source, DEFAULT_LIMITS)
    code, consts, _generator = generate_source(tree, options, PartialRegistry({}, options), source)

    assert SOURCE_CHARS.fullmatch(code), "only the generator's own characters"
    for text in _strings(tree):
        if len(text.strip()) >= 3:
            assert text not in code, f"template text {text!r} reached the generated source"
    for distinctive in ("__import__", "system", "touch", MARKER, "'''", '"""', "\\"):
        assert distinctive not in code
    _check_source(ast.parse(code))
    assert any(isinstance(const, str) and const for const in consts)

    template = Environment().compile(source, escape=escape)
    assert template._compiled.code == code, "rendered through the generated function"
    try:
        output = template.render(DATA)
    except TemplateError:
        output = None
    if output is not None:
        assert output == _closure_render(source, DATA, escape=escape)
    assert not (tmp_path / MARKER).exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "code",
    [
        "x = 'text'",
        "x = b'bytes'",
        "x = 2",
        "x = 1.5",
        "__import__",
        "k0.__class__",
        "os.system",
        "import os",
        "from os import system",
        "def evil(k0): pass",
        "def render(evil): pass",
        "f(name=k0)",
        "try:\n    pass\nexcept Exception as evil:\n    pass",
        "global k0",
        "x = f'{k0!r}'",
    ],
)
def test_source_check_rejects_anything_not_generated(code: str) -> None:
    with pytest.raises(UnsafeSourceError):
        _check_source(ast.parse(code))


def test_source_check_accepts_the_generators_vocabulary() -> None:
    _check_source(ast.parse('t1 = f"{k0}{v2}" if type(c0) is dict else to_str(s0[0])'))
    _check_source(ast.parse("t3 = k1(v1, **hz(k2, (v2,)))\nf1.last = i1 == n1 - 1"))


def test_common_templates_use_the_generated_function() -> None:
    for source in ["", "plain", "{{a}}", "{{#each a}}{{@index}}{{../b}}{{/each}}", "{{> p}}"]:
        template = Environment().compile(source, partials={"p": "{{x}}"})
        assert template._compiled.code is not None


def test_strict_mode_and_huge_templates_use_closures() -> None:
    assert compile("{{a}}", strict=True)._compiled.code is None
    huge = "{{#each rows}}{{name}} {{#if ok}}y{{/if}}{{/each}}\n" * 2000
    template = compile(huge)
    assert template._compiled.code is None
    assert template.render({"rows": [{"name": "n", "ok": 1}]}) == "n y\n" * 2000


def test_deep_blocks_are_delegated_not_a_python_limit() -> None:
    source = "{{#each a}}" * 40 + "{{@index}}{{../x}}{{#with b}}{{c}}{{/with}}" + "{{/each}}" * 40
    data: dict[str, Any] = {"x": 1, "b": {"c": 2}}
    level = data
    for _ in range(40):
        child: dict[str, Any] = {"x": 1, "b": {"c": 2}}
        level["a"] = [child]
        level = child
    template = compile(source)
    assert template._compiled.code is not None
    assert template.render(data) == "012"
    assert compile("{{#if a}}" * 47 + "x" + "{{/if}}" * 47).render({"a": 1}) == "x"


def test_generated_and_closure_backends_agree_on_generated_templates() -> None:
    compared = 0
    for case in cases(1500, seed=7):
        if case["strict"]:
            continue
        env = Environment()
        try:
            generated = env.compile(
                case["source"], escape=case["escape"], partials=case["partials"]
            )
        except TemplateError:
            continue
        options = _options(escape=case["escape"])
        registry = PartialRegistry(case["partials"] or {}, options)
        tree = parse(case["source"], DEFAULT_LIMITS)
        closures = compile_closures(tree, options, registry, case["source"])
        assert generated.variables == frozenset(closures.relative) | frozenset(closures.absolute)
        reference = Template(case["source"], closures, DEFAULT_LIMITS, strict=False)
        results: list[tuple[str, str]] = []
        for template in (generated, reference):
            try:
                results.append(("ok", template.render(case["context"])))
            except TemplateError as error:
                results.append((type(error).__name__, str(error)))
        assert results[0] == results[1], case["source"]
        compared += 1
    assert compared > 500
