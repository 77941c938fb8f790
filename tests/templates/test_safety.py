"""Safety by construction: hostile sources fail cleanly, execute nothing, and stay bounded."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renewflow.templates import (
    Environment,
    Limits,
    TemplateError,
    TemplateLimitError,
    compile,
)

DATA = {"customer": {"name": "Acme", "x": 1}, "items": [1, 2, 3], "s": "str", "n": 4}
TOKENS = st.sampled_from(
    [
        "{{",
        "}}",
        "{{{",
        "}}}",
        "{{#",
        "{{/",
        "{{^",
        "{{>",
        "{{!",
        "--",
        "~",
        "(",
        ")",
        "[",
        "]",
        "else",
        "if",
        "each",
        "with",
        "unless",
        "this",
        "..",
        "/",
        ".",
        "@",
        "@root",
        "=",
        "|",
        " as |a|",
        '"',
        "'",
        "\\",
        "\n",
        " ",
        "customer",
        "items",
        "name",
        "eq",
        "and",
        "json",
        "lookup",
        "1",
        "-2.5",
        "true",
        "null",
        "undefined",
        "__class__",
        "constructor",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=40).map("".join))
def test_token_soup_fails_only_with_template_errors(source: str) -> None:
    with contextlib.suppress(TemplateError):
        compile(source, escape=True, partials={"p": source[:50]}).render(DATA)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_fails_only_with_template_errors(source: str) -> None:
    with contextlib.suppress(TemplateError):
        compile(source).render(DATA)


def test_bracket_injection_executes_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    source = f"{{{{customer.[x') or __import__('os').system('touch {marker}') or ('] }}}}"
    try:
        output = compile(source).render(DATA)
    except TemplateError:
        output = ""
    assert "touch" not in output
    assert not marker.exists()


@pytest.mark.parametrize(
    "source",
    [
        "{{[__class__]}}",
        "{{constructor}}",
        "{{__proto__}}",
        "{{customer.__class__.__mro__}}",
        "{{customer.[__init__].[__globals__]}}",
        "{{lookup customer '__class__'}}",
        "{{s.__class__}}",
        "{{n.real}}",
        "{{items.__len__}}",
        "{{customer.constructor.name}}",
        "{{#with customer}}{{__dict__}}{{/with}}",
        "{{s.upper}}",
        "{{customer.keys}}",
    ],
)
def test_python_internals_are_not_reachable(source: str) -> None:
    assert compile(source).render(DATA) == ""


def test_values_from_data_are_never_called() -> None:
    calls: list[int] = []
    data = {"f": lambda: calls.append(1), "o": {"f": lambda: calls.append(1)}}
    compile("{{f}}{{o.f}}{{#if f}}{{/if}}{{#each o}}{{this}}{{/each}}").render(data)
    assert calls == []


@pytest.mark.parametrize(
    ("source", "data", "limits"),
    [
        ("x" * 101, {}, Limits(max_source=100)),
        ("{{#if a}}" * 10 + "{{/if}}" * 10, {}, Limits(max_depth=5)),
        ("(" * 5, {}, Limits(max_depth=3)),
        (
            "{{#each a}}{{#each ../a}}x{{/each}}{{/each}}",
            {"a": list(range(200))},
            Limits(max_iterations=1000),
        ),
        (
            "{{#each a}}{{../b}}{{/each}}",
            {"a": list(range(10)), "b": "y" * 100},
            Limits(max_output=500),
        ),
        ("{{> p}}", {}, Limits(max_partial_depth=8)),
    ],
)
def test_limits_raise_a_clear_error(source: str, data: object, limits: Limits) -> None:
    source = source.replace("(" * 5, "{{eq " + "(eq " * 5 + "1 1" + ")" * 5 + " 1}}")
    env = Environment(limits=limits)
    with pytest.raises(TemplateLimitError):
        env.compile(source, partials={"p": "{{> p}}"}).render(data)


def test_deep_nesting_is_a_limit_error_not_recursion_error() -> None:
    with pytest.raises(TemplateLimitError):
        compile("{{#if a}}" * 500 + "{{/if}}" * 500)
    with pytest.raises(TemplateLimitError):
        compile("{{eq " + "(eq " * 500 + "1 1" + ")" * 500 + " 1}}")


def test_exponential_partials_are_bounded() -> None:
    partials = {f"p{i}": f"{{{{> p{i + 1}}}}}{{{{> p{i + 1}}}}}" for i in range(30)}
    partials["p30"] = "x" * 1000
    with pytest.raises(TemplateLimitError):
        compile("{{> p0}}", partials=partials).render({})


def test_self_referencing_data_in_json_fails_cleanly() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(TemplateError):
        compile("{{json a}}").render({"a": loop})
