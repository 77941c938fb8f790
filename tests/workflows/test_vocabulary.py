"""The spec's key names (`conditional`, `conditionalLogic`) read as ours, with a warning each."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from renewflow.workflows import WorkflowConfig, validate_config
from renewflow.workflows.files import load_config
from renewflow.workflows.vocabulary import translate
from tests.workflows.factory import config, step

SPEC_EXAMPLE = Path(__file__).parent / "fixtures" / "spec_example.json"
SPEC_KEYS = {"conditional", "conditionalLogic"}


def spec_example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_EXAMPLE.read_text(encoding="utf-8"))
    return data


def messages(data: Any) -> list[str]:
    return [str(issue) for issue in validate_config(data)]


def keys_anywhere(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data).union(*(keys_anywhere(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(keys_anywhere(v) for v in data))
    return set()


def test_a_steps_conditional_is_its_condition() -> None:
    data = config(steps=[step("assess"), step("act", conditional="{{customer.hasAccountPlan}}")])
    translation = translate(data)
    assert translation.data["steps"][1]["condition"] == "{{customer.hasAccountPlan}}"
    assert "conditional" not in translation.data["steps"][1]
    assert [str(issue) for issue in translation.issues] == [
        'steps[1].conditional: warning: "conditional" is the spec\'s name for "condition": read '
        'as steps[1].condition; write "condition" instead'
    ]


def test_a_steps_conditional_logic_is_its_routing() -> None:
    logic = {
        "routes": [{"condition": "{{customer.hasAccountPlan}}", "nextStep": "act"}],
        "defaultRoute": "act",
    }
    translation = translate(config(steps=[step("assess", conditionalLogic=logic), step("act")]))
    assert translation.data["steps"][0]["routing"] == logic
    assert [issue.path for issue in translation.issues] == ["steps[0].conditionalLogic"]
    assert translation.issues[0].severity == "warning"


def test_a_notifications_conditional_is_its_condition() -> None:
    data = config()
    data["notifications"][0]["conditional"] = "{{gte workflow.renewalARR 250000}}"
    translation = translate(data)
    assert translation.data["notifications"][0]["condition"] == "{{gte workflow.renewalARR 250000}}"
    assert [str(issue) for issue in translation.issues] == [
        'notifications[0].conditional: warning: "conditional" is the spec\'s name for '
        '"condition": read as notifications[0].condition; write "condition" instead'
    ]


def test_conditional_logic_is_a_steps_key_only() -> None:
    data = config()
    data["notifications"][0]["conditionalLogic"] = {"defaultRoute": "act"}
    assert messages(data) == ["notifications[0].conditionalLogic: unknown key"]


def test_the_mapped_key_keeps_its_place_and_the_input_is_not_changed() -> None:
    data = config(steps=[step("assess", conditional="{{customer.hasAccountPlan}}"), step("act")])
    before = copy.deepcopy(data)
    translated = translate(data).data
    assert data == before
    assert list(translated["steps"][0]) == [
        "id",
        "name",
        "type",
        "description",
        "execution",
        "condition",
    ]


def test_a_config_in_our_vocabulary_is_returned_as_it_is() -> None:
    data = config()
    translation = translate(data)
    assert translation.data is data
    assert translation.issues == []
    for odd in ([1, 2], "x", None, {"steps": "many", "notifications": [3]}):
        assert translate(odd).data is odd


def test_both_names_on_one_object_are_an_error_and_both_are_kept() -> None:
    data = config(
        steps=[
            step("assess"),
            step("act", conditional="{{customer.a}}", condition="{{customer.b}}"),
        ]
    )
    translation = translate(data)
    assert translation.data["steps"][1]["conditional"] == "{{customer.a}}"
    assert translation.data["steps"][1]["condition"] == "{{customer.b}}"
    # Reported once, by the vocabulary: not a second time as an unknown key.
    assert messages(data) == [
        'steps[1].conditional: use one of "conditional" (the spec\'s name) or "condition", not both'
    ]
    routed = config(
        steps=[
            step(
                "assess", conditionalLogic={"defaultRoute": "act"}, routing={"defaultRoute": "act"}
            ),
            step("act"),
        ]
    )
    assert messages(routed) == [
        'steps[0].conditionalLogic: use one of "conditionalLogic" (the spec\'s name) or '
        '"routing", not both'
    ]


def test_a_mapped_config_is_valid_with_warnings_only() -> None:
    data = config(steps=[step("assess"), step("act", conditional="{{customer.hasAccountPlan}}")])
    issues = validate_config(data)
    assert [issue.severity for issue in issues] == ["warning"]


def test_errors_under_a_mapped_key_carry_the_spec_keys_path() -> None:
    logic = {
        "routes": [{"condition": "{{custmer.plan}}", "nextStep": "escalate"}],
        "defaultRoute": 7,
    }
    assert messages(config(steps=[step("assess", conditionalLogic=logic), step("act")])) == [
        'steps[0].conditionalLogic: warning: "conditionalLogic" is the spec\'s name for '
        '"routing": read as steps[0].routing; write "routing" instead',
        "steps[0].conditionalLogic.defaultRoute: input should be a valid string",
    ]
    logic["defaultRoute"] = "act"
    found = messages(config(steps=[step("assess", conditionalLogic=logic), step("act")]))
    assert found[1:] == [
        'steps[0].conditionalLogic.routes[0].nextStep: no step named "escalate"',
        'steps[0].conditionalLogic.routes[0].condition: unknown variable "custmer.plan": '
        "variables start with customer, csm, workflow, company, accountTeam, intelligence, data, "
        "outputs",
    ]
    own = config(steps=[step("assess"), step("act", conditional="{{outputs.act.risk}}")])
    assert messages(own)[1:] == [
        'steps[1].conditional: "outputs.act.risk" reads the outputs of step "act", which cannot '
        "have run before this point"
    ]


# --- the spec's example, written the spec's way -------------------------------------------------


def test_the_spec_example_validates_with_a_warning_per_spec_key() -> None:
    assert messages(spec_example()) == [
        'steps[1].conditional: warning: "conditional" is the spec\'s name for "condition": read '
        'as steps[1].condition; write "condition" instead',
        'steps[2].conditionalLogic: warning: "conditionalLogic" is the spec\'s name for '
        '"routing": read as steps[2].routing; write "routing" instead',
        'notifications[1].conditional: warning: "conditional" is the spec\'s name for '
        '"condition": read as notifications[1].condition; write "condition" instead',
    ]


def test_the_spec_example_maps_onto_our_keys() -> None:
    written = spec_example()
    loaded = load_config(SPEC_EXAMPLE.read_text(encoding="utf-8"), SPEC_EXAMPLE.name)
    stored = loaded.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert keys_anywhere(stored) & SPEC_KEYS == set()
    first, escalation, resolution, _ = loaded.steps
    assert (first.id, first.type) == ("critical-status-assessment", "conditional_routing")
    assert first.routing is not None
    assert [r.condition for r in first.routing.routes] == ["{{gte intelligence.riskScore 70}}"]
    assert escalation.condition == written["steps"][1]["conditional"]
    assert resolution.routing is not None
    assert (
        resolution.routing.model_dump(by_alias=True, exclude_none=True)
        == (written["steps"][2]["conditionalLogic"])
    )
    assert loaded.notifications[1].condition == written["notifications"][1]["conditional"]
    # Everything else is exactly as written.
    for i, key in ((1, "conditional"), (2, "conditionalLogic")):
        del written["steps"][i][key]
        del stored["steps"][i]["condition" if key == "conditional" else "routing"]
    del written["notifications"][1]["conditional"]
    del stored["notifications"][1]["condition"]
    assert WorkflowConfig.model_validate(written) == WorkflowConfig.model_validate(stored)
