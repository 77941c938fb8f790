"""The public API: rendering, variables, errors, strict mode, helpers, cache."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from renewflow.templates import (
    Environment,
    HelperError,
    MissingVariableError,
    TemplateSyntaxError,
    compile,
    default_helpers,
)

REFERENCE = (
    "Analyze risk for {{customer.name}} with ARR ${{customer.arr}}. "
    "{{#if (and customer.hasAccountPlan (gte workflow.renewalARR 100000))}}War room.{{/if}} "
    "{{#each contacts}}- {{name}} ({{role}}){{/each}} Overdue {{abs workflow.daysOverdue}} days."
)
CONTEXT = {
    "customer": {"name": "Acme Corp", "arr": 100000, "hasAccountPlan": True},
    "workflow": {"renewalARR": 150000, "daysOverdue": -3},
    "contacts": [{"name": "Sarah Chen", "role": "CFO"}, {"name": "Li", "role": "Admin"}],
}


def render(source: str, data: Any = None, **options: Any) -> str:
    return compile(source, **options).render(data)


def test_reference_template() -> None:
    assert render(REFERENCE, CONTEXT) == (
        "Analyze risk for Acme Corp with ARR $100000. War room. "
        "- Sarah Chen (CFO)- Li (Admin) Overdue 3 days."
    )


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("{{a}}", {"a": 1.0}, "1"),
        ("{{a}}", {"a": 2.5}, "2.5"),
        ("{{a}}", {"a": True}, "true"),
        ("{{a}}", {"a": None}, ""),
        ("{{a}}", {"a": 1e21}, "1e+21"),
        ("{{a}}", {"a": 1e-7}, "1e-7"),
        ("{{a}}", {"a": [1, None, "x"]}, "1,,x"),
        ("{{a}}", {"a": {}}, "[object Object]"),
        ("{{a.length}}", {"a": "abc"}, "3"),
        ("{{a.[1]}}", {"a": ["x", "y"]}, "y"),
        ("{{a.[b.c]}}", {"a": {"b.c": "dot"}}, "dot"),
        ("{{#if a}}y{{else}}n{{/if}}", {"a": []}, "n"),
        ("{{#if a}}y{{else}}n{{/if}}", {"a": {}}, "y"),
        ("{{#if a}}y{{else if b}}b{{else}}n{{/if}}", {"b": 1}, "b"),
        ("{{#with a}}{{@root.r}}{{../r}}{{/with}}", {"a": {"x": 1}, "r": "R"}, "RR"),
        ("{{#each a}}{{@key}}={{this}};{{/each}}", {"a": {"x": 1, "y": 2}}, "x=1;y=2;"),
        ("{{a}}", {"a": "<b>"}, "<b>"),
    ],
)
def test_render(source: str, data: Any, expected: str) -> None:
    assert render(source, data) == expected


def test_escape_on_uses_handlebars_entities() -> None:
    assert render("{{a}}|{{{a}}}", {"a": "&<>\"'`="}, escape=True) == (
        "&amp;&lt;&gt;&quot;&#x27;&#x60;&#x3D;|&<>\"'`="
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{customer.name}}", {"customer.name"}),
        ("{{#each contacts}}{{name}}{{/each}}", {"contacts", "contacts[].name"}),
        ("{{#each contacts}}{{../customer.name}}{{/each}}", {"contacts", "customer.name"}),
        ("{{#each contacts}}{{@root.workflow.id}}{{/each}}", {"contacts", "workflow.id"}),
        ("{{#with customer}}{{name}}{{/with}}", {"customer", "customer.name"}),
        ("{{#if (gte workflow.arr 1)}}{{/if}}", {"workflow.arr"}),
        ("{{#each a as |item|}}{{item.b}}{{/each}}", {"a", "a[].b"}),
        ("{{#each a}}{{#each b}}{{c}}{{/each}}{{/each}}", {"a", "a[].b", "a[].b[].c"}),
        ("{{@index}}{{upper 'x'}}", set()),
    ],
)
def test_variables(source: str, expected: set[str]) -> None:
    assert compile(source).variables == expected


def test_syntax_error_has_line_column_and_caret() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile("line one\n  {{#if a}}x{{/each}}")
    error = caught.value
    assert (error.line, error.column) == (2, 13)
    assert str(error).endswith("  {{#if a}}x{{/each}}\n            ^")


@pytest.mark.parametrize(
    "source",
    [
        "{{",
        "{{a",
        "{{#if a}}",
        "{{/if}}",
        "{{else}}",
        "{{a b=}}",
        "{{!-- x }}",
        "{{a.this}}",
        "{{nohelper a}}",
        "{{> missing}}",
        "{{#upper a}}{{/upper}}",
        "{{{{raw}}}}{{{{/raw}}}}",
    ],
)
def test_invalid_sources_are_syntax_errors(source: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        compile(source)


def test_strict_lists_every_missing_path_at_once() -> None:
    template = compile("{{a.b}} {{c}} {{#each l}}{{z}}{{/each}} {{ok}}", strict=True)
    with pytest.raises(MissingVariableError) as caught:
        template.render({"l": [{}], "ok": 1})
    assert caught.value.paths == ("a.b", "c", "l[].z")


def test_lenient_renders_missing_as_empty() -> None:
    assert render("[{{a.b}}{{c}}]", {}) == "[]"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{eq 1 1.0}} {{eq 1 '1'}} {{ne a null}}", "true false true"),
        ("{{gt 2 1}} {{gte 1 1}} {{lt 'a' 'b'}} {{lte 3 2}}", "true true true false"),
        ("{{and 1 'x' true}} {{and 1 0}} {{or 0 '' 3}} {{not a}}", "true false true false"),
        ("{{abs -3}} {{abs '-2.5'}}", "3 2.5"),
        ("{{default missing 'none'}} {{default a 'none'}}", "none 1"),
        ("{{lookup list 1}} {{lookup obj 'k'}}", "y v"),
        ("{{len list}} {{len obj}} {{len 'abc'}}", "2 1 3"),
        ("{{join list}} {{join list '/'}}", "x, y x/y"),
        ("{{upper 'ab'}} {{lower 'AB'}}", "AB ab"),
        ("{{round 2.5}} {{round 1.2345 2}}", "3 1.23"),
        ("{{formatCurrency 1234.5}} {{formatCurrency -3 'EUR'}}", "$1,234.50 -€3.00"),
        ("{{formatNumber 1234567.891}} {{formatNumber 3 2}}", "1,234,567.891 3.00"),
        (
            "{{formatDate day 'MMM DD, YYYY'}} {{formatDate '2024-03-05T10:20:30Z'}}",
            "Jan 02, 2025 2024-03-05",
        ),
        ("{{daysBetween '2024-01-01' '2024-03-01'}}", "60"),
        ("{{{json obj}}} {{{json list}}}", '{"k":"v"} ["x","y"]'),
    ],
)
def test_builtin_helpers(source: str, expected: str) -> None:
    data = {"a": 1, "list": ["x", "y"], "obj": {"k": "v"}, "day": date(2025, 1, 2)}
    assert render(source, data) == expected


def test_python_code_can_extend_helpers() -> None:
    helpers = default_helpers()
    helpers.register("shout", lambda value, mark="!": f"{value}{mark}")
    env = Environment(helpers)
    assert env.compile("{{shout name mark='?'}}").render({"name": "hi"}) == "hi?"
    with pytest.raises(TemplateSyntaxError):
        compile("{{shout name}}")
    with pytest.raises(ValueError, match="built-in"):
        helpers.register("each", lambda: None)


def test_helper_failures_are_mapped_to_helper_error() -> None:
    helpers = default_helpers()
    helpers.register("boom", lambda: 1 / 0)
    with pytest.raises(HelperError) as caught:
        Environment(helpers).compile("{{boom}}").render({})
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_compile_is_cached_by_source_and_options() -> None:
    assert compile("{{x}}") is compile("{{x}}")
    assert compile("{{x}}") is not compile("{{x}}", escape=True)
    assert compile("{{> p}}", partials={"p": "a"}) is not compile("{{> p}}", partials={"p": "b"})


def test_partials_with_context_and_hash() -> None:
    partials = {"card": "{{name}}/{{role}}/{{extra}}"}
    source = "{{#each people}}{{> card this extra=../team}};{{/each}}"
    data = {"team": "T", "people": [{"name": "A", "role": "r"}]}
    assert render(source, data, partials=partials) == "A/r/T;"
