"""The mock provider: the same request gets the same answer, valid against the requested schema."""

from __future__ import annotations

import json
from datetime import date, timedelta
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


# -- answers from the workflow context ---------------------------------------------------------


def _context(
    name: str,
    *,
    risk: int | None,
    trend: str,
    change: float | None,
    days: int,
    arr: float = 120_000,
    contacts: list[dict[str, Any]] | None = None,
    last_meeting: str | None = "2026-03-02",
) -> dict[str, Any]:
    """A context shaped as `renewflow.context.build_context` makes it."""
    renewal = (date(2026, 4, 1) + timedelta(days=days)).isoformat()
    crm: dict[str, Any] = {
        "opportunityStage": "Negotiation",
        "contacts": contacts if contacts is not None else [],
    }
    return {
        "customer": {
            "id": "c1",
            "name": name,
            "arr": arr,
            "currency": "USD",
            "tier": "Gold",
            "renewalDate": renewal,
        },
        "csm": {
            "name": "Sarah Chen",
            "email": "sarah.chen@vendor.example",
            "manager": "priya.raman@vendor.example",
        },
        "workflow": {"daysUntilRenewal": days, "renewalARR": arr, "daysOverdue": max(0, -days)},
        "company": {"vpCustomerSuccess": "vp@vendor.example", "ceo": None, "warRoom": None},
        "accountTeam": {"ae": "lena.fischer@vendor.example", "csm": "sarah.chen@vendor.example"},
        "intelligence": {
            "riskScore": risk,
            "sentiment": None,
            "aiSummary": "A summary",
            "insights": [],
        },
        "data": {
            "usage": {
                "metrics": {"active_users": 80, "logins": 400, "seats_used": 95},
                "lastActivity": "2026-03-31",
                "changePercent": change,
                "trend": trend,
            },
            "engagement": {"lastMeeting": last_meeting} if last_meeting else {},
            "crm": crm,
            "salesforce": crm,
        },
        "outputs": {},
    }


CONTACTS = [
    {"name": "Dana Smith", "title": "VP Operations", "role": "economic buyer", "isPrimary": False},
    {"name": "Ravi Patel", "title": "Ops Manager", "role": "champion", "isPrimary": True},
]
AT_RISK = _context(
    "Northwind Analytics",
    risk=86,
    trend="-14.2% decline",
    change=-14.2,
    days=5,
    contacts=CONTACTS,
)
HEALTHY = _context(
    "Bluepeak Logistics",
    risk=18,
    trend="+9.5% growth",
    change=9.5,
    days=200,
    arr=40_000,
    contacts=CONTACTS,
)
OVERDUE = _context(
    "Crescent Health",
    risk=77,
    trend="-6% decline",
    change=-6.0,
    days=-12,
    arr=310_000,
    contacts=[],
    last_meeting=None,
)
NO_DATA = _context("Ironwood Works", risk=None, trend="unknown", change=None, days=45)
CONTEXTS = {"at-risk": AT_RISK, "healthy": HEALTHY, "overdue": OVERDUE, "no-data": NO_DATA}
# tenant data of the wrong shapes: the mock must still answer, and validly
ODD_CONTEXTS = [
    {},
    {"customer": "x", "intelligence": {"riskScore": "high"}, "data": []},
    {
        "customer": {"name": 7, "arr": float("inf")},
        "workflow": {"daysUntilRenewal": "soon"},
        "data": {"usage": {"trend": 3, "metrics": [1]}, "crm": {"contacts": [1, {"name": None}]}},
    },
]


def _ask(schema: dict[str, Any], context: dict[str, Any], prompt: str = "Analyse") -> Any:
    return (
        MockProvider()
        .complete(LLMRequest(prompt=prompt, json_schema=schema, context=context))
        .parsed
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("which", sorted(CONTEXTS))
@pytest.mark.parametrize(("step", "schema"), _library_schemas())
def test_answers_from_a_context_are_valid_for_every_core_step(
    step: str, schema: dict[str, Any], which: str
) -> None:
    first = _ask(schema, CONTEXTS[which], prompt=f"Run {step}")
    assert validate(first, schema) == [], first
    assert _ask(schema, CONTEXTS[which], prompt=f"Run {step}") == first


@pytest.mark.parametrize("context", ODD_CONTEXTS)
@pytest.mark.parametrize(("step", "schema"), _library_schemas())
def test_contexts_of_odd_shapes_still_get_valid_answers(
    step: str, schema: dict[str, Any], context: dict[str, Any]
) -> None:
    assert validate(_ask(schema, context), schema) == []


HEURISTIC_NAMES = [
    "riskScore",
    "churnRisk",
    "overallHealth",
    "healthScore",
    "usageTrend",
    "missingData",
    "summary",
    "rationale",
    "recommendation",
    "nextSteps",
    "plan",
    "rescuePlan",
    "message",
    "subject",
    "body",
    "reason",
    "escalate",
    "approved",
    "needsAttention",
    "signProbability",
    "proposedARR",
    "maxDiscountPercent",
    "expansionPotential",
    "owner",
    "dueDate",
    "candidates",
    "gaps",
    "risks",
    "likelihood",
    "impact",
    "strategy",
    "signals",
    "decisionMaker",
    "note",
]


@st.composite
def named_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """Objects whose properties have names the heuristics act on, and random leaf schemas."""
    leaf = leaves | st.lists(leaves, max_size=1).map(
        lambda found: {
            "type": "array",
            "items": found[0] if found else {"type": "string"},
            "minItems": 0,
            "maxItems": 4,
        }
    )
    names_drawn = draw(
        st.lists(st.sampled_from(HEURISTIC_NAMES), min_size=1, max_size=6, unique=True)
    )
    properties = {name: draw(leaf) for name in names_drawn}
    return {"type": "object", "properties": properties, "required": names_drawn}


@settings(max_examples=400, deadline=None)
@given(schema=named_schemas() | workflow_schemas, which=st.sampled_from(sorted(CONTEXTS)))
def test_heuristics_never_break_the_schema(schema: dict[str, Any], which: str) -> None:
    answer = _ask(schema, CONTEXTS[which])
    assert validate(answer, schema) == [], (schema, answer)
    assert _ask(schema, CONTEXTS[which]) == answer


def test_without_a_context_answers_stay_as_they_were() -> None:
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    }
    assert generate(schema, "s") == generate(schema, "s", context=None)
    assert generate(schema, "s")["summary"].startswith("summary ")


def test_scores_health_and_trend_come_from_the_context() -> None:
    health = dict(_library_schemas())["monitor/health-check"]
    snapshot = dict(_library_schemas())["prepare/data-snapshot"]
    at_risk, healthy = _ask(health, AT_RISK), _ask(health, HEALTHY)
    assert (at_risk["riskScore"], at_risk["overallHealth"], at_risk["needsAttention"]) == (
        86,
        "at-risk",
        True,
    )
    assert (healthy["riskScore"], healthy["overallHealth"], healthy["needsAttention"]) == (
        18,
        "healthy",
        False,
    )
    assert _ask(snapshot, AT_RISK)["usageTrend"] == "declining"
    assert _ask(snapshot, HEALTHY)["usageTrend"] == "growing"
    assert _ask(snapshot, HEALTHY)["overallHealth"] == "good"


def test_missing_data_lists_the_paths_the_context_lacks() -> None:
    snapshot = dict(_library_schemas())["prepare/data-snapshot"]
    assert _ask(snapshot, AT_RISK)["missingData"] == []
    missing = _ask(snapshot, NO_DATA)["missingData"]
    assert {"intelligence.riskScore", "data.usage.trend", "data.salesforce.contacts"} <= set(
        missing
    )
    assert "customer.arr" not in missing
    assert "data.engagement.lastMeeting" in _ask(snapshot, OVERDUE)["missingData"]


def test_booleans_and_numbers_follow_the_risk() -> None:
    assessment = dict(_library_schemas())["critical/critical-status-assessment"]
    high, low = _ask(assessment, AT_RISK), _ask(assessment, HEALTHY)
    assert high["escalate"] is True
    assert low["escalate"] is False
    assert high["signProbability"] < 0.5 < low["signProbability"]
    proposal = dict(_library_schemas())["negotiate/proposal"]
    assert _ask(proposal, HEALTHY)["proposedARR"] > 40_000  # growing usage: an uplift
    assert (
        _ask(proposal, AT_RISK)["maxDiscountPercent"]
        > _ask(proposal, HEALTHY)["maxDiscountPercent"]
    )
    stakeholders = dict(_library_schemas())["engage/stakeholder-map"]
    assert _ask(stakeholders, AT_RISK)["championConfirmed"] is True
    assert _ask(stakeholders, OVERDUE)["championConfirmed"] is False
    assert _ask(stakeholders, AT_RISK)["decisionMaker"].startswith("Dana Smith")


def test_text_mentions_the_customer_its_risk_and_its_trend() -> None:
    overdue = _ask(dict(_library_schemas())["overdue/overdue-status-check"], OVERDUE)
    assert "Crescent Health" in overdue["reason"]
    assert "77" in overdue["reason"]
    assert "usage down 6%" in overdue["reason"]
    assert "12 days past its renewal date" in overdue["reason"]
    assert overdue["churnRisk"] is True
    email = _ask(dict(_library_schemas())["engage/renewal-conversation"], AT_RISK)
    assert "Northwind Analytics" in email["subject"]
    assert email["body"].startswith("Hi Ravi,")
    assert email["body"].endswith("Sarah Chen")
    assert "14.2%" in email["body"]
    for step, schema in _library_schemas():
        texts = [s for s in _strings(_ask(schema, AT_RISK)) if " " in s and "@" not in s]
        if texts and step not in {"engage/stakeholder-map", "engage/find-champion"}:
            assert any("Northwind Analytics" in text or "Dana Smith" in text for text in texts), (
                step,
                texts,
            )


def test_arrays_of_sentences_have_two_or_three_distinct_items() -> None:
    for schema_name in ("emergency/final-push", "negotiate/objection-handling"):
        schema = dict(_library_schemas())[schema_name]
        for context in CONTEXTS.values():
            answer = _ask(schema, context)
            items = next(v for v in answer.values() if isinstance(v, list))
            assert 2 <= len(items) <= 3
            assert len(set(items)) == len(items)


def test_different_customers_get_different_answers() -> None:
    for step, schema in _library_schemas():
        if step == "monitor/log-health":  # a timestamp only: today's, the same for everyone
            continue
        answers = {
            json.dumps(_ask(schema, context), sort_keys=True) for context in CONTEXTS.values()
        }
        assert len(answers) > 1, step


def test_bounds_hold_for_values_from_the_context() -> None:
    schema = {
        "type": "object",
        "required": ["riskScore", "summary", "nextSteps", "overallHealth"],
        "properties": {
            "riskScore": {"type": "integer", "minimum": 90, "maximum": 95},
            "summary": {"type": "string", "maxLength": 40, "minLength": 10},
            "nextSteps": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            "overallHealth": {"enum": ["green", "red"]},
        },
    }
    answer = _ask(schema, HEALTHY)
    assert validate(answer, schema) == []
    assert answer["riskScore"] == 90  # 18, raised to the minimum
    assert answer["summary"].startswith("Bluepeak Logistics")
    assert answer["overallHealth"] == "green"
    assert _ask(schema, AT_RISK)["overallHealth"] == "red"


def test_plain_text_answer_from_a_context_is_an_analysis() -> None:
    response = MockProvider().complete(LLMRequest(prompt="How is it going?", context=AT_RISK))
    assert response.parsed is None
    assert "Northwind Analytics" in response.text
    assert "86/100" in response.text
