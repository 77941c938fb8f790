"""The JSON Schema subset validator: what it accepts and, as importantly, what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from renewflow.llm import validate

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
    with pytest.raises(ValueError, match="does not resolve"):
        validate(1, {"$ref": "#/$defs/missing"})
