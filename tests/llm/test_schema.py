"""Checking answers against tenant-authored JSON Schemas: what is accepted, what is refused, and
that no schema can hang, crash or reach outside the process."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from renewflow.llm import generate, validate
from renewflow.llm.schema import MAX_DEPTH, MAX_ERRORS, resolve_ref, schema_problems
from renewflow.tasks.processors.email_draft import DRAFT_SCHEMA
from renewflow.workflows.files import core_library

RISK = {
    "type": "object",
    "required": ["signProbability", "mainBlocker", "escalate"],
    "properties": {
        "signProbability": {"type": "number", "minimum": 0, "maximum": 1},
        "mainBlocker": {"type": "string", "minLength": 3},
        "escalate": {"type": "boolean"},
        "tier": {"enum": ["gold", "silver"]},
        "plan": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
    },
    "additionalProperties": False,
}


def test_a_valid_answer_has_no_errors() -> None:
    answer = {"signProbability": 0.4, "mainBlocker": "budget", "escalate": True, "plan": ["call"]}
    assert validate(answer, RISK) == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"mainBlocker": "budget", "escalate": True},
            "$: missing required property 'signProbability'",
        ),
        (
            {"signProbability": 2, "mainBlocker": "budget", "escalate": True},
            "$.signProbability: above the maximum 1",
        ),
        (
            {"signProbability": 0.5, "mainBlocker": "no", "escalate": True},
            "$.mainBlocker: shorter than 3 characters",
        ),
        (
            {"signProbability": 0.5, "mainBlocker": "budget", "escalate": "yes"},
            "$.escalate: expected boolean, got string",
        ),
        (
            {"signProbability": 0.5, "mainBlocker": "budget", "escalate": True, "tier": "bronze"},
            '$.tier: must be one of ["gold", "silver"]',
        ),
        (
            {"signProbability": 0.5, "mainBlocker": "budget", "escalate": True, "plan": []},
            "$.plan: needs at least 1 items",
        ),
        (
            {"signProbability": 0.5, "mainBlocker": "budget", "escalate": True, "plan": [1]},
            "$.plan[0]: expected string, got integer",
        ),
        (
            {"signProbability": 0.5, "mainBlocker": "budget", "escalate": True, "extra": 1},
            "$: unexpected property 'extra'",
        ),
        ([], "$: expected object, got array"),
    ],
)
def test_each_violation_is_named_with_its_path(answer: Any, expected: str) -> None:
    assert expected in validate(answer, RISK)


def test_booleans_are_not_numbers_and_integral_floats_are_integers() -> None:
    assert validate(True, {"type": "integer"}) == ["$: expected integer, got boolean"]
    assert validate(3.0, {"type": "integer"}) == []
    assert validate(3.5, {"type": "integer"}) != []


def test_refs_and_combinators() -> None:
    schema = {
        "$defs": {"money": {"type": "number", "exclusiveMinimum": 0}},
        "type": "object",
        "properties": {
            "arr": {"$ref": "#/$defs/money"},
            "owner": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]},
        },
    }
    assert validate({"arr": 10, "owner": None, "kind": "a"}, schema) == []
    assert validate({"arr": 0}, schema) == ["$.arr: must be above 0"]
    assert validate({"owner": 3}, schema) == ["$.owner: matches none of anyOf"]
    assert validate({"kind": "c"}, schema) == ["$.kind: matches 0 of oneOf, not exactly one"]
    assert validate(1, {"oneOf": [{"type": "integer"}, {"minimum": 0}]}) == [
        "$: matches 2 of oneOf, not exactly one"
    ]


def test_a_ref_that_does_not_resolve_is_a_problem_not_an_exception() -> None:
    # it used to raise ValueError, which the engine does not catch: a 500 for a tenant's typo
    (problem,) = validate(1, {"$ref": "#/$defs/missing"})
    assert problem.startswith("$: the schema cannot be used: ")
    assert "/$defs/missing" in problem


# -- Draft 2020-12, where the hand-written validator differed (bench/handwritten.py) -----------


@pytest.mark.parametrize(
    ("schema", "instance", "valid"),
    [
        ({"uniqueItems": True}, [1, 1.0], False),
        ({"enum": [[1, True]]}, [1, 1], False),
        ({"const": {"a": True}}, {"a": 1}, False),
        ({"const": 1}, 1.0, True),
        ({"multipleOf": 0.01}, 0.07, True),
        ({"format": "email"}, "not an address", True),
        ({"maxLength": 1}, "\U0001f600", True),
        ({"pattern": "^\\d+$"}, "\u0663\u0664", False),  # ECMA-262: \d is ASCII
        ({"pattern": "^\\p{L}+$"}, "\u00e9t\u00e9", True),
        ({"properties": {"c": {"$ref": "#"}}}, {"c": {"c": {}}}, True),
        ({"properties": {"c": {"$ref": "#"}}}, {"c": {"c": 1}}, True),
        ({"properties": {"c": {"$ref": "#", "type": "object"}}}, {"c": {"c": 1}}, False),
        ({"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "maxLength": 2}, "abc", False),
        (
            {"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
            {"x1": 1},
            True,
        ),
        ({"minProperties": 1}, {}, False),
        ({"contains": {"const": 1}}, [2, 3], False),
        ({"if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}, {"a": 1}, False),
        ({"if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}, {"a": 2}, True),
        (True, 1, True),
        (False, 1, False),
    ],
)
def test_draft_2020_12(schema: Any, instance: Any, valid: bool) -> None:
    assert (validate(instance, schema) == []) is valid


def test_keywords_beyond_the_old_subset_are_named_in_our_words() -> None:
    assert validate({}, {"minProperties": 1}) == ["$: needs at least 1 properties"]
    assert validate([2], {"contains": {"const": 1}}) == ["$: has no item that matches 'contains'"]
    assert validate({"a": 1}, {"if": {"required": ["a"]}, "then": {"required": ["b"]}}) == [
        "$: missing required property 'b'"
    ]
    for closed in (
        {"additionalProperties": False},
        {"properties": {}, "additionalProperties": False},
    ):
        assert validate({"a": 1, "b": 2}, closed) == [
            "$: unexpected property 'a'",
            "$: unexpected property 'b'",
        ]
    assert validate({"x": {"a": 1}}, {"properties": {"x": {"additionalProperties": False}}}) == [
        "$.x: unexpected property 'a'"
    ]
    assert validate(1, False) == ["$: no value is allowed here"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "text"}, '#/type: "text" is not a type'),
        ({"properties": {"a": {"type": ["string", "txt"]}}}, "#/properties/a/type"),
        ({"pattern": "[a-"}, "#/pattern"),
        ({"pattern": "(?<=a)b"}, "lookaround"),  # the linear-time engine has none
        ({"pattern": "(a)\\1"}, "backreferences"),
        ({"minLength": -1}, "#/minLength"),
        ({"properties": 3}, "#/properties"),
        ({"$dynamicRef": "#meta"}, "meta"),
        ({"a": float("nan")}, "not plain JSON"),
    ],
)
def test_a_schema_that_does_not_compile_gives_one_clean_line(schema: Any, where: str) -> None:
    (problem,) = validate("x", schema)
    assert problem.startswith("$: the schema cannot be used: ")
    assert where in problem
    assert schema_problems(schema)  # and it is refused when the workflow is saved


# -- safety with tenant-authored schemas ----------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_catastrophic_pattern_answers_at_once() -> None:
    start = time.perf_counter()
    problems = validate("a" * 10_000 + "!", {"pattern": "^(a+)+$"})
    assert time.perf_counter() - start < 1.0  # Python's re takes seconds for 26 a's
    assert problems == ["$: does not match '^(a+)+$'"]
    assert validate("a" * 10_000, {"pattern": "^(a+)+$"}) == []


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"c": value}
    return value


TREE = {"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}}}}


def test_a_recursive_schema_checks_answers_up_to_the_depth_limit() -> None:
    schema = {**TREE, "$ref": "#/$defs/n"}
    assert validate(_nested(MAX_DEPTH - 1), schema) == []
    assert validate(_nested(MAX_DEPTH + 10), schema) == [
        "$" + ".c" * MAX_DEPTH + f": nests deeper than {MAX_DEPTH} levels"
    ]


@pytest.mark.timeout(20)
def test_an_answer_nested_far_too_deep_is_refused_not_a_crash() -> None:
    # the library recurses on the native stack: about 20,000 levels took the process down
    deep: Any = []
    for _ in range(200_000):
        deep = [deep]
    (problem,) = validate(deep, {"type": "array"})
    assert problem.endswith(f"nests deeper than {MAX_DEPTH} levels")


def test_a_schema_nested_too_deeply_is_a_clean_problem() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(5_000):
        schema = {"properties": {"c": schema}}
    (problem,) = validate({}, schema)
    assert problem.startswith("$: the schema cannot be used: ")
    assert schema_problems(schema)


def test_a_ref_cycle_gives_a_clean_answer() -> None:
    cycle = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert validate({}, cycle) == []  # it allows anything, as the spec says
    assert any("cycle" in p for p in schema_problems(cycle))  # which is refused at save


@pytest.mark.parametrize(
    ("instance", "problem"),
    [
        ({"a": float("nan")}, "$.a: nan is not a JSON number"),
        ([1, float("inf")], "$[1]: inf is not a JSON number"),
        ({"a": {1, 2}}, "$.a: a set is not a JSON value"),
        ({"a": {1: "x"}}, "$.a: a property name that is not a string (1)"),
    ],
)
def test_an_answer_that_is_not_plain_json_is_refused(instance: Any, problem: str) -> None:
    # the library would read NaN as null: `{"type": ["number", "null"]}` would accept it
    assert validate(instance, {"type": ["object", "array", "number", "null"]}) == [problem]


def test_the_number_of_problems_is_bounded() -> None:
    schema = {"type": "array", "items": {"type": "string", "minLength": 2}}
    assert len(validate(list(range(10_000)), schema)) == MAX_ERRORS


def test_an_enormous_enum_keeps_problem_lines_short() -> None:
    (problem,) = validate("x", {"enum": [f"option-{i}" for i in range(1000)]})
    assert problem.startswith("$: must be one of [")
    assert len(problem) <= 300


class _Counting(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []  # noqa: RUF012  # the test reads what the server saw

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        body = b'{"const": "fetched from the network"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Counting.requests = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_no_ref_reaches_the_network_or_the_disk(server: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"const": "the-server-secret-e3b0c442"}')
    schemas: list[dict[str, Any]] = [
        {"properties": {"a": {"$ref": f"{server}/schema.json"}}},
        {"properties": {"a": {"$ref": secret.as_uri()}}},
        {"$id": f"{server}/root.json", "properties": {"a": {"$ref": "other.json"}}},
        {"$id": tmp_path.as_uri() + "/", "properties": {"a": {"$ref": "secret.json"}}},
        {**TREE, "$ref": "#/$defs/n", "properties": {"x": {"$ref": f"{server}/deep.json"}}},
        {"$schema": f"{server}/meta.json", "type": "object"},
        {"properties": {"a": {"$ref": "secret.json"}}},  # no base URI: nothing to resolve against
    ]
    for schema in schemas:
        for answer in ({"a": 1}, {"a": "fetched from the network"}, {"a": "x"}):
            lines = [*validate(answer, schema), *schema_problems(schema)]
            assert not any("the-server-secret" in line for line in lines), lines
    assert _Counting.requests == []
    (refused,) = validate({"a": 1}, schemas[0])
    assert refused == (
        f"$: the schema cannot be used: #: $ref to '{server}/schema.json' refused: "
        "only local references (#/$defs/...) are allowed"
    )


# -- the subset a workflow may use (checked when it is saved) ------------------------------------


def test_every_schema_renewflow_ships_is_usable() -> None:
    schemas = [s.execution.outputs for c in core_library() for s in c.steps if s.execution.outputs]
    assert schemas
    for schema in [*schemas, DRAFT_SCHEMA, RISK]:
        assert schema_problems(schema) == [], schema


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (
            {"type": "object", "minProperties": 1},
            "#: the keyword 'minProperties' is not supported",
        ),
        (
            {"properties": {"tags": {"type": "array", "contains": {"const": "x"}}}},
            "#/properties/tags: the keyword 'contains' is not supported",
        ),
        ({"properties": {"a": {"minimun": 1}}}, "#/properties/a: the keyword 'minimun'"),
        (
            {"anyOf": [{"type": "string"}, {"if": {"type": "string"}}]},
            "#/anyOf/1: the keyword 'if' is not supported",
        ),
        (
            {"properties": {"a": {"$ref": "https://example.com/s.json"}}},
            "#/properties/a: $ref to 'https://example.com/s.json' refused",
        ),
        ({"$ref": "#/$defs/nope"}, "#: $ref '#/$defs/nope' does not resolve"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "#: $schema must be"),
        ({"properties": {"a": {"type": "text"}}}, '#/properties/a/type: "text" is not a type'),
        ({"properties": {"a": {"pattern": "(?=x)"}}}, "#/properties/a/pattern: "),
    ],
)
def test_a_schema_outside_the_subset_is_refused_at_save(schema: Any, problem: str) -> None:
    assert any(line.startswith(problem) for line in schema_problems(schema)), schema_problems(
        schema
    )


def test_a_property_named_like_a_keyword_is_only_a_name() -> None:
    schema = {
        "type": "object",
        "properties": {"contains": {"type": "string"}, "if": {"type": "boolean"}},
        "$defs": {"then": {"type": "string"}},
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    assert schema_problems(schema) == []


def test_what_the_mock_generates_for_the_subset_is_valid() -> None:
    schema = {
        "$defs": {"money": {"type": "number", "minimum": 0, "maximum": 10}},
        "type": "object",
        "required": ["amount", "tier"],
        "properties": {
            "amount": {"$ref": "#/$defs/money"},
            "tier": {"enum": ["gold", "silver"]},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "owner": {"anyOf": [{"type": "string", "minLength": 3}, {"type": "null"}]},
        },
        "additionalProperties": False,
    }
    assert schema_problems(schema) == []
    for seed in ("a", "b", "c"):
        assert validate(generate(schema, seed), schema) == []


def test_resolve_ref_is_local_only() -> None:
    root = {"$defs": {"a b": {"type": "string"}, "x/y": {"type": "integer"}}}
    assert resolve_ref(root, "#") is root
    assert resolve_ref(root, "#/$defs/a%20b") == {"type": "string"}
    assert resolve_ref(root, "#/$defs/x~1y") == {"type": "integer"}
    with pytest.raises(ValueError, match="only local"):
        resolve_ref(root, "https://example.com/s.json")
    with pytest.raises(ValueError, match="does not resolve"):
        resolve_ref(root, "#/$defs/missing")
