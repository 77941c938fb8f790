"""The mock provider: the same request gets the same answer, valid against the requested schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from renewflow.llm import LLMBadResponse, LLMRequest, MockProvider, generate, validate

LIBRARY = Path(__file__).parents[2] / "src" / "renewflow" / "workflows" / "library"

names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12
)


@st.composite
def bounded_number(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    low = draw(st.none() | st.integers(-1000, 1000))
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) and kind == "number" else "minimum"] = low
    width = draw(st.none() | st.integers(1, 1000))
    if width is not None:
        schema["maximum"] = (low or 0) + width
    return schema


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    low = draw(st.none() | st.integers(0, 40))
    if low is not None:
        schema["minLength"] = low
    if draw(st.booleans()):
        schema["maxLength"] = (low or 0) + draw(st.integers(0, 20))
    if draw(st.booleans()):
        schema["format"] = draw(st.sampled_from(["date", "date-time", "email", "uri", "uuid"]))
        schema.pop("maxLength", None)
        schema.pop("minLength", None)
    return schema


leaves = st.one_of(
    strings(),
    bounded_number("integer"),
    bounded_number("number"),
    st.just({"type": "boolean"}),
    st.lists(st.text(max_size=8), min_size=1, max_size=5, unique=True).map(lambda e: {"enum": e}),
    st.just({"type": ["string", "null"]}),
)


def _object(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(names, children, min_size=1, max_size=5))
        required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    return build()


def _array(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": draw(children)}
        low = draw(st.integers(0, 3))
        if draw(st.booleans()):
            schema["minItems"] = low
        if draw(st.booleans()):
            schema["maxItems"] = low + draw(st.integers(0, 2))
        return schema

    return build()


workflow_schemas = st.recursive(
    leaves, lambda children: _object(children) | _array(children), max_leaves=12
).map(
    lambda s: (
        s
        if s.get("type") == "object"
        else {"type": "object", "properties": {"v": s}, "required": ["v"]}
    )
)


@settings(max_examples=300, deadline=None)
@given(schema=workflow_schemas, prompt=st.text(max_size=50))
def test_mock_output_is_valid_and_deterministic(schema: dict[str, Any], prompt: str) -> None:
    provider = MockProvider()
    request = LLMRequest(prompt=prompt, system="You are a renewal analyst.", json_schema=schema)
    first = provider.complete(request)
    assert validate(first.parsed, schema) == [], (schema, first.parsed)
    assert json.loads(first.text) == first.parsed
    assert provider.complete(request) == first
    for name in schema.get("required", ()):
        assert name in first.parsed


def _library_schemas() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(LIBRARY.glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        for step in config.get("steps", []):
            outputs = step.get("execution", {}).get("outputs")
            if outputs:
                found.append((f"{path.stem}/{step['id']}", outputs))
    return found


@pytest.mark.parametrize(("step", "schema"), _library_schemas())
def test_every_core_workflow_step_gets_a_valid_answer(step: str, schema: dict[str, Any]) -> None:
    response = MockProvider().complete(LLMRequest(prompt=f"Run {step}", json_schema=schema))
    assert validate(response.parsed, schema) == []


def test_core_library_has_step_schemas() -> None:
    assert len(_library_schemas()) >= 10


def test_different_prompts_give_different_answers_same_prompt_the_same() -> None:
    schema = {
        "type": "object",
        "required": ["summary"],
        "properties": {"summary": {"type": "string"}},
    }
    provider = MockProvider()
    answers = {
        provider.complete(LLMRequest(prompt=f"Customer {i}", json_schema=schema)).text
        for i in range(50)
    }
    assert len(answers) == 50
    again = MockProvider().complete(LLMRequest(prompt="Customer 7", json_schema=schema))
    assert again.text in answers


def test_enum_picks_a_stable_member_and_bounds_hold() -> None:
    schema = {
        "type": "object",
        "required": ["health", "risk", "items"],
        "properties": {
            "health": {"enum": ["Good", "Fair", "Poor"]},
            "risk": {"type": "integer", "minimum": 90, "maximum": 92},
            "items": {"type": "array", "items": {"type": "integer"}},
        },
    }
    seen = set()
    for i in range(40):
        out = generate(schema, f"seed-{i}")
        assert out["health"] in {"Good", "Fair", "Poor"}
        assert 90 <= out["risk"] <= 92
        assert 1 <= len(out["items"]) <= 2
        seen.add(out["health"])
        assert generate(schema, f"seed-{i}") == out
    assert seen == {"Good", "Fair", "Poor"}


def test_plain_text_answer_and_token_estimate() -> None:
    response = MockProvider().complete(LLMRequest(prompt="x" * 400, system="y" * 40))
    assert response.parsed is None
    assert response.text.startswith("Mock answer ")
    assert (response.input_tokens, response.model, response.provider) == (110, "mock", "mock")


def test_impossible_schema_is_a_bad_response() -> None:
    with pytest.raises(LLMBadResponse, match="no integer within the bounds"):
        MockProvider().complete(
            LLMRequest(prompt="p", json_schema={"type": "integer", "minimum": 3, "maximum": 2})
        )
