"""handlebars.js's spec cases (see conformance_cases.py), with their JS helpers in Python."""

from __future__ import annotations

from typing import Any

import pytest

from renewflow.templates import (
    Environment,
    HelperOptions,
    SafeString,
    TemplateError,
    default_helpers,
)
from renewflow.templates.helpers import strict_equal
from renewflow.templates.runtime import escape_html, to_str

from .conformance_cases import CASES, ERROR, SKIPPED, Case
from .conftest import RenderJs


def _s(value: Any) -> str:
    return to_str(value)


def _form(*args: Any, options: HelperOptions) -> str:
    return "<form>" + options.fn(args[0] if args else options.this) + "</form>"


def _list(context: Any, options: HelperOptions) -> str:
    if context:
        return "<ul>" + "".join("<li>" + options.fn(item) + "</li>" for item in context) + "</ul>"
    return "<p>" + options.inverse() + "</p>"


def _byes(options: HelperOptions) -> str:
    return "".join(f"{bye} {options.fn({})}! " for bye in ("Goodbye", "goodbye", "GOODBYE"))


def _input(**hash_: Any) -> SafeString:
    label, placeholder = escape_html(_s(hash_["aria-label"])), escape_html(_s(hash_["placeholder"]))
    return SafeString(f'<input aria-label="{label}" placeholder="{placeholder}" />')


def _blog(*args: Any, **hash_: Any) -> str:
    if "fun" in hash_ and not args:
        return "val is " + _s(hash_["fun"])
    if len(args) == 3:
        return f"val is {_s(args[0])}, {_s(args[1])} and {_s(args[2])}"
    return "val is " + _s(args[0])


PLAIN: dict[str, Any] = {
    "blog": _blog,
    "equal": lambda x, y, **_: strict_equal(x, y),
    "dash": lambda a, b: _s(a) + "-" + _s(b),
    "concat": lambda a, b: _s(a) + _s(b),
    "t": lambda text: SafeString(_s(text)),
    "input": _input,
    "hello": lambda *args: (
        "&<"
        if not args
        else f"Hello {_s(args[0])} {_s(args[1])} times: {_s(args[2])} {_s(args[3])}"
    ),
    "safe": lambda: SafeString("&<"),
    "goodbye": lambda **h: f"GOODBYE {_s(h['cruel'])} {_s(h['times'])} TIMES",
}
WITH_OPTIONS: dict[str, Any] = {
    "link": lambda prefix, options: (
        f'<a href="{_s(prefix)}/{_s(options.this["url"])}">{_s(options.this["text"])}</a>'
    ),
    "goodbyes": lambda options: options.fn({"text": "GOODBYE"}),
    "form": _form,
    "list": _list,
}
_BAR: tuple[dict[str, Any], dict[str, Any]] = ({"foo": lambda value: "bar " + _s(value)}, {})
PER_CASE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "this keyword in helpers 1": _BAR,
    "this keyword in helpers 2": _BAR,
    "this keyword nested inside helpers param": _BAR,
    "arg-less helper": ({"foo": lambda v: _s(v) + _s(v), "bar": lambda: "LOL"}, {}),
    "subexpressions can't just be property lookups": ({"foo": lambda v: _s(v) + _s(v)}, {}),
    "should handle literals in subexpression": ({"foo": lambda v: v, "false": lambda: "bar"}, {}),
    "helper block with complex lookup expression": ({}, {"goodbyes": _byes}),
    "block helper should have context in this": (
        {},
        {
            "link": lambda options: (
                f'<a href="/people/{_s(options.this["id"])}">{options.fn(options.this)}</a>'
            )
        },
    ),
    "nested block helpers": (
        {},
        {
            "form": _form,
            "link": lambda options: (
                f'<a href="{_s(options.this["name"])}">{options.fn(options.this)}</a>'
            ),
        },
    ),
    "helper with complex lookup": ({}, {"link": WITH_OPTIONS["link"]}),
    "block helpers hash": (
        {},
        {
            "goodbye": lambda options: (
                f"GOODBYE {_s(options.hash['cruel'])} {options.fn(options.this)}"
            )
        },
    ),
    "block params": (
        {},
        {"goodbyes": lambda options: options.fn({"value": "bar"}, block_params=(1, 2))},
    ),
    "helpers can pass data frames to blocks": (
        {},
        {
            "hello": lambda options: options.fn(
                options.this, data=options.create_frame(adjective="happy")
            )
        },
    ),
}


def _environment(case: Case) -> Environment:
    helpers = default_helpers()
    plain, with_options = PLAIN, WITH_OPTIONS
    if case.name in PER_CASE:
        plain, with_options = PER_CASE[case.name]
    if case.custom_helpers:
        for name, fn in plain.items():
            helpers.register(name, fn)
        for name, fn in with_options.items():
            helpers.register(name, fn, options=True)
    return Environment(helpers)


def _render(case: Case) -> str:
    template = _environment(case).compile(
        case.source, escape=case.escape, strict=case.strict, partials=case.partials
    )
    return template.render(case.context)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.spec}: {c.name}" for c in CASES])
def test_spec_case(case: Case) -> None:
    if case.expected is ERROR:
        with pytest.raises(TemplateError):
            _render(case)
    else:
        assert _render(case) == case.expected


def test_every_skip_category_has_a_reason() -> None:
    assert all(reason and cases for reason, cases in SKIPPED.items())


def test_ported_expectations_match_handlebars_js(handlebars_js: RenderJs) -> None:
    """The ported expectations are themselves checked against handlebars.js 4.7."""
    checked = [c for c in CASES if not c.custom_helpers]
    results = handlebars_js(
        [
            {
                "source": c.source,
                "context": c.context,
                "escape": c.escape,
                "strict": c.strict,
                "partials": c.partials,
            }
            for c in checked
        ]
    )
    wrong = [
        (c.spec, c.name, c.expected, result)
        for c, result in zip(checked, results, strict=True)
        if ("error" in result) != (c.expected is ERROR)
        or (c.expected is not ERROR and result.get("ok") != c.expected)
    ]
    assert wrong == []
