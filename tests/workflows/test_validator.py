"""One test per validator rule: a failing example and its exact message."""

from __future__ import annotations

from typing import Any

import pytest

from renewflow.workflows import validate_config
from tests.workflows.factory import config, step


def messages(data: Any) -> list[str]:
    return [str(issue) for issue in validate_config(data)]


def test_the_factory_config_is_valid() -> None:
    assert messages(config()) == []


def test_model_errors_carry_their_path() -> None:
    bad = config()
    del bad["steps"][1]["name"]
    bad["steps"][0]["type"] = "dance"
    bad["trigger"]["daysUntilRenewal"]["min"] = "soon"
    assert messages(bad) == [
        "trigger.daysUntilRenewal.min: input should be a valid integer, unable to parse string as an integer",
        "steps[0].type: input should be 'analysis', 'planning', 'action', 'approval', 'communication', 'decision' or 'conditional_routing'",
        "steps[1].name: required",
    ]


def test_ui_only_and_unknown_keys() -> None:
    bad = config(steps=[step("assess", cardTitle="x", colour="red")], ui={"actions": []})
    assert messages(bad) == [
        "steps[0].cardTitle: UI-only key: rendering belongs to the UI, not the config",
        "steps[0].colour: unknown key",
        "ui: UI-only key: rendering belongs to the UI, not the config",
    ]


def test_not_an_object() -> None:
    assert messages([1, 2]) == ["input should be a valid dictionary or instance of WorkflowConfig"]


def test_notifications_present_and_well_formed() -> None:
    assert messages(config(notifications=[])) == [
        "notifications: list should have at least 1 item after validation, not 0"
    ]
    bad = config()
    bad["notifications"][0]["recipients"] = []
    assert messages(bad) == [
        "notifications[0].recipients: list should have at least 1 item after validation, not 0"
    ]


def test_step_ids_are_unique() -> None:
    assert messages(config(steps=[step("assess"), step("act"), step("assess")])) == [
        'steps[2].id: duplicate step id "assess" (first at steps[0])'
    ]


def test_route_targets_exist() -> None:
    routed = step(
        "assess",
        routing={
            "routes": [{"condition": "{{customer.atRisk}}", "nextStep": "escalate"}],
            "defaultRoute": "act",
        },
    )
    assert messages(config(steps=[routed, step("act")])) == [
        'steps[0].routing.routes[0].nextStep: no step named "escalate"'
    ]


def test_default_route_and_chat_branch_targets_exist() -> None:
    branching = step(
        "assess",
        routing={"defaultRoute": "nowhere"},
        chatBranches=[
            {"id": "go", "label": "Let's do it", "type": "fixed", "nextStep": "act"},
            {"id": "back", "label": "Back", "type": "llm", "returnToStep": "gone"},
        ],
    )
    assert messages(config(steps=[branching, step("act")])) == [
        'steps[0].routing.defaultRoute: no step named "nowhere"',
        'steps[0].chatBranches[1].returnToStep: no step named "gone"',
    ]


def test_action_triggered_names_a_step() -> None:
    bad = config()
    bad["notifications"][0]["actionTriggered"] = "launch"
    assert messages(bad) == ['notifications[0].actionTriggered: no step named "launch"']


def test_no_unreachable_step() -> None:
    # assess routes straight to close, so act can never run.
    assess = step("assess", routing={"defaultRoute": "close"})
    assert messages(config(steps=[assess, step("act"), step("close")])) == [
        'steps[1]: step "act" cannot be reached from the first step ("assess")'
    ]


def test_steps_without_routing_fall_through_in_order() -> None:
    assert messages(config(steps=[step("a"), step("b"), step("c")])) == []


def test_trigger_range_is_well_formed() -> None:
    assert messages(config(trigger={"daysUntilRenewal": {"min": 30, "max": 10}})) == [
        "trigger.daysUntilRenewal: min (30) is greater than max (10)"
    ]


def test_schedule_is_inside_the_trigger_range() -> None:
    bad = config()
    bad["notifications"][0]["schedule"] = {"daysUntilRenewal": 5}
    assert messages(bad) == [
        "notifications[0].schedule.daysUntilRenewal: day 5 is outside the trigger range 10..20"
    ]


def test_every_template_parses() -> None:
    bad = config(steps=[step("assess", execution={"llmPrompt": "{{#if customer.atRisk}}x"})])
    bad["notifications"][0]["title"] = "{{customer.name"
    found = messages(bad)
    assert found[0] == (
        "steps[0].execution.llmPrompt: template error: expected '{{/if}}' (line 1, column 25)"
    )
    # The engine words its own messages; the path and the one-line position are ours.
    assert found[1].startswith("notifications[0].title: template error: ")
    assert found[1].endswith("(line 1, column 12)")
    assert len(found) == 2


def test_artifact_and_route_templates_are_checked() -> None:
    assess = step(
        "assess",
        routing={"routes": [{"condition": "{{gte custmer.arr 10}}", "nextStep": "act"}]},
        artifacts=[
            {
                "id": "brief",
                "type": "report",
                "title": "Brief for {{customer.name}}",
                "sections": [{"title": "Risk", "content": "{{#each}}"}],
            }
        ],
    )
    found = messages(config(steps=[assess, step("act")]))
    assert found[0] == (
        'steps[0].routing.routes[0].condition: unknown variable "custmer.arr": variables start '
        "with customer, csm, workflow, company, accountTeam, intelligence, data, outputs"
    )
    assert found[1].startswith("steps[0].artifacts[0].sections[0].content: template error: ")
    assert len(found) == 2


def test_variables_are_rooted_in_the_documented_context() -> None:
    bad = config(context={"systemPrompt": "Hello {{user.name}} at {{company.name}}"})
    assert messages(bad) == [
        'context.systemPrompt: unknown variable "user.name": variables start with customer, '
        "csm, workflow, company, accountTeam, intelligence, data, outputs"
    ]


def test_outputs_must_name_an_existing_step() -> None:
    bad = config(
        steps=[step("assess"), step("act", execution={"llmPrompt": "{{outputs.asess.risk}}"})]
    )
    assert messages(bad) == [
        'steps[1].execution.llmPrompt: "outputs.asess.risk" reads the outputs of no step named "asess"'
    ]
    bad = config(steps=[step("assess"), step("act", execution={"llmPrompt": "{{outputs}}"})])
    assert messages(bad) == [
        'steps[1].execution.llmPrompt: "outputs" must name a step: outputs.<step id>.<field>'
    ]


def test_outputs_are_read_only_after_their_step() -> None:
    early = step("assess", execution={"llmPrompt": "Last time: {{outputs.act.risk}}"})
    assert messages(config(steps=[early, step("act")])) == [
        'steps[0].execution.llmPrompt: "outputs.act.risk" reads the outputs of step "act", '
        "which cannot have run before this point"
    ]


def test_a_step_prompt_cannot_read_its_own_outputs_but_its_routing_can() -> None:
    own = step("assess", execution={"llmPrompt": "{{outputs.assess.risk}}"})
    assert messages(config(steps=[own, step("act")])) == [
        'steps[0].execution.llmPrompt: "outputs.assess.risk" reads the outputs of step "assess", '
        "which cannot have run before this point"
    ]
    routed = step(
        "assess",
        routing={"routes": [{"condition": "{{eq outputs.assess.risk 'high'}}", "nextStep": "act"}]},
    )
    assert (
        messages(
            config(steps=[routed, step("act", execution={"llmPrompt": "{{outputs.assess.score}}"})])
        )
        == []
    )


def test_parallel_branches_cannot_read_each_others_outputs() -> None:
    assess = step(
        "assess",
        routing={
            "routes": [{"condition": "{{customer.atRisk}}", "nextStep": "rescue"}],
            "defaultRoute": "expand",
        },
    )
    rescue = step("rescue", routing={"defaultRoute": "close"})
    expand = step("expand", execution={"llmPrompt": "{{outputs.rescue.risk}}"})
    close = step(
        "close", execution={"llmPrompt": "{{outputs.rescue.risk}} {{outputs.expand.risk}}"}
    )
    assert messages(config(steps=[assess, rescue, expand, close])) == [
        'steps[2].execution.llmPrompt: "outputs.rescue.risk" reads the outputs of step "rescue", '
        "which cannot have run before this point"
    ]


def test_output_fields_exist_in_the_step_schema() -> None:
    bad = config(
        steps=[step("assess"), step("act", execution={"llmPrompt": "{{outputs.assess.health}}"})]
    )
    assert messages(bad) == [
        'steps[1].execution.llmPrompt: "outputs.assess.health": step "assess" has no output '
        '"health" in its outputs schema'
    ]


def test_notifications_read_outputs_only_of_the_step_that_triggers_them() -> None:
    bad = config()
    bad["notifications"][0]["message"] = "Risk: {{outputs.assess.risk}}"
    assert messages(bad) == [
        'notifications[0].message: "outputs.assess.risk" reads the outputs of step "assess", '
        "which cannot have run before this point"
    ]
    bad["notifications"][0]["actionTriggered"] = "assess"
    assert messages(bad) == []


def test_outputs_schema_is_an_object_schema() -> None:
    bad = config(steps=[step("assess", execution={"outputs": {"type": "string"}}), step("act")])
    assert messages(bad) == [
        'steps[0].execution.outputs: must be a JSON Schema with type "object" and properties'
    ]


def test_data_required_paths_are_context_paths() -> None:
    bad = config(
        steps=[
            step("assess", execution={"dataRequired": ["customer.arr", "usage.trend"]}),
            step("act"),
        ]
    )
    assert messages(bad) == [
        'steps[0].execution.dataRequired[1]: "usage.trend" is not a context path: it starts with '
        "one of customer, csm, workflow, company, accountTeam, intelligence, data"
    ]


def test_nested_ids_are_unique() -> None:
    task = {"id": "call", "title": "Call {{customer.name}}", "owner": "csm", "dueInDays": 1}
    bad = config(steps=[step("assess", tasks=[task, task]), step("act")])
    assert messages(bad) == [
        'steps[0].tasks[1].id: duplicate task id "call" (first at steps[0].tasks[0])'
    ]


def test_ids_of_sibling_api_routes_are_reserved() -> None:
    assert messages(config(id="from-template")) == [
        'id: "from-template" is reserved (the API route /api/workflows/from-template); '
        "choose another id"
    ]


# --- conditional_routing steps ------------------------------------------------------------------


def router(**extra: Any) -> dict[str, Any]:
    """A routing-only first step: high risk goes to escalate, everything else to act."""
    data: dict[str, Any] = {
        "id": "route",
        "name": "Route",
        "type": "conditional_routing",
        "description": "Route on the risk score.",
        "routing": {
            "routes": [{"condition": "{{gte intelligence.riskScore 70}}", "nextStep": "escalate"}],
            "defaultRoute": "act",
        },
    }
    data.update(extra)
    return data


def routed(first: dict[str, Any]) -> dict[str, Any]:
    return config(steps=[first, step("escalate", routing={"defaultRoute": "act"}), step("act")])


def test_a_conditional_routing_step_needs_no_execution() -> None:
    assert messages(routed(router())) == []
    assert messages(routed(router(execution={}))) == []


def test_a_conditional_routing_step_must_route() -> None:
    unrouted = router()
    del unrouted["routing"]
    assert messages(config(steps=[unrouted, step("act")])) == [
        "steps[0].routing: required: a conditional_routing step only routes (give it routes or "
        "a defaultRoute)"
    ]
    assert messages(config(steps=[router(routing={}), step("act")])) == [
        "steps[0].routing: a conditional_routing step needs at least one route or a defaultRoute",
        'steps[1]: step "act" cannot be reached from the first step ("route")',
    ]


def test_a_conditional_routing_step_runs_nothing_and_produces_nothing() -> None:
    task = {"id": "call", "title": "Call {{customer.name}}", "owner": "csm", "dueInDays": 1}
    artifact = {
        "id": "brief",
        "type": "report",
        "title": "Brief",
        "sections": [{"title": "Risk", "content": "{{intelligence.riskScore}}"}],
    }
    busy = router(
        execution={
            "llmPrompt": "Route {{customer.name}}.",
            "processor": "health.snapshot",
            "outputs": {"type": "object", "properties": {"go": {"type": "boolean"}}},
        },
        artifacts=[artifact],
        tasks=[task],
    )
    assert messages(routed(busy)) == [
        "steps[0].execution.llmPrompt: not allowed on a conditional_routing step: the engine "
        "evaluates its routes without an LLM call",
        "steps[0].execution.processor: not allowed on a conditional_routing step: nothing runs "
        "on it, the engine only evaluates its routes",
        "steps[0].execution.outputs: not allowed on a conditional_routing step: it produces no "
        "outputs (its routes read the context and earlier steps' outputs)",
        "steps[0].artifacts: not allowed on a conditional_routing step: it only routes; give the "
        "artifacts to a step of another type",
        "steps[0].tasks: not allowed on a conditional_routing step: it only routes; give the "
        "tasks to a step of another type",
    ]


def test_nothing_reads_the_outputs_of_a_conditional_routing_step() -> None:
    own = router(
        routing={"routes": [{"condition": "{{outputs.route.go}}", "nextStep": "escalate"}]}
    )
    later = step("act", execution={"llmPrompt": "{{outputs.route.go}}"})
    assert messages(config(steps=[own, step("escalate"), later])) == [
        'steps[0].routing.routes[0].condition: "outputs.route.go": step "route" is a '
        "conditional_routing step, it has no outputs",
        'steps[2].execution.llmPrompt: "outputs.route.go": step "route" is a '
        "conditional_routing step, it has no outputs",
    ]


def test_a_conditional_routing_step_reads_earlier_outputs() -> None:
    late = router(
        id="route",
        routing={
            "routes": [{"condition": "{{eq outputs.assess.risk 'high'}}", "nextStep": "escalate"}],
            "defaultRoute": "act",
        },
    )
    steps = [step("assess"), late, step("escalate", routing={"defaultRoute": "act"}), step("act")]
    assert messages(config(steps=steps)) == []


# --- step conditions ----------------------------------------------------------------------------


def test_a_step_condition_is_a_checked_template() -> None:
    assert (
        messages(config(steps=[step("assess"), step("act", condition="{{gt customer.arr 0}}")]))
        == []
    )
    broken = config(steps=[step("assess"), step("act", condition="{{#if customer.arr}}")])
    found = messages(broken)
    assert len(found) == 1
    assert found[0].startswith("steps[1].condition: template error: ")
    unknown = config(steps=[step("assess"), step("act", condition="{{account.arr}}")])
    assert messages(unknown) == [
        'steps[1].condition: unknown variable "account.arr": variables start with customer, csm, '
        "workflow, company, accountTeam, intelligence, data, outputs"
    ]


def test_a_step_condition_reads_only_the_outputs_of_earlier_steps() -> None:
    earlier = step("act", condition="{{eq outputs.assess.risk 'high'}}")
    assert messages(config(steps=[step("assess"), earlier])) == []
    own = step("act", condition="{{outputs.act.risk}}")
    assert messages(config(steps=[step("assess"), own])) == [
        'steps[1].condition: "outputs.act.risk" reads the outputs of step "act", which cannot '
        "have run before this point"
    ]


def test_a_step_with_a_condition_may_be_skipped_to_the_next_step() -> None:
    # Routed straight to close, act is reachable only because assess can be skipped.
    assess = step(
        "assess", condition="{{customer.hasAccountPlan}}", routing={"defaultRoute": "close"}
    )
    assert messages(config(steps=[assess, step("act"), step("close")])) == []


# --- step processors ----------------------------------------------------------------------------


def processing(name: str) -> dict[str, Any]:
    return config(steps=[step("assess", execution={"processor": name}), step("act")])


def test_built_in_processors_are_known() -> None:
    for name in (
        "approval.manager",
        "renewal.record-terms",
        "renewal.confirm-signature",
        "renewal.record-outcome",
        "health.snapshot",
    ):
        assert messages(processing(name)) == [], name


def test_an_unknown_processor_is_refused_with_the_known_names() -> None:
    found = validate_config(processing("renewal.teleport"), processors={"b.two", "a.one"})
    assert [str(issue) for issue in found] == [
        'steps[0].execution.processor: unknown step processor "renewal.teleport": known '
        "processors are a.one, b.two"
    ]
    assert [str(i) for i in validate_config(processing("a.one"), processors={"a.one"})] == []
    assert [str(i) for i in validate_config(processing("a.one"), processors=set())] == [
        'steps[0].execution.processor: unknown step processor "a.one": no step processors are '
        "registered"
    ]


@pytest.mark.parametrize(
    ("field", "bad", "said"),
    [
        ("score", {"type": "number", "minimun": 0}, "'minimun' is not supported"),  # a typo
        ("owner", {"$ref": "https://schemas.example/owner.json"}, "only local"),
        ("code", {"type": "string", "pattern": "(?=a)b"}, "linear time"),  # lookaround
    ],
)
def test_an_outputs_schema_that_cannot_work_is_refused_when_saved(
    field: str, bad: dict[str, Any], said: str
) -> None:
    outputs = {"type": "object", "properties": {field: bad}}
    [found] = messages(config(steps=[step("assess", execution={"outputs": outputs})]))
    assert found.startswith(f"steps[0].execution.outputs: #/properties/{field}"), found
    assert said in found
