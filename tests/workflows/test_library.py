"""The core library: valid, and exactly one core workflow for every day from -90 to 365."""

from __future__ import annotations

from pathlib import Path

from renewflow.workflows import WorkflowConfig
from renewflow.workflows.files import core_library, validate_files

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "renewflow" / "workflows" / "library"


def test_library_passes_the_validator() -> None:
    assert [str(issue) for issue in validate_files([LIBRARY])] == []


def test_library_loads_from_the_installed_package() -> None:
    ids = [config.id for config in core_library()]
    assert len(ids) == len(set(ids))
    assert {"prepare", "critical", "emergency", "overdue"} <= set(ids)


def test_exactly_one_core_workflow_per_day_from_minus_90_to_365() -> None:
    library = core_library()
    wrong = {}
    for day in range(-90, 366):
        matching = [
            c.id
            for c in library
            if c.trigger.days_until_renewal.min <= day <= c.trigger.days_until_renewal.max
        ]
        if len(matching) != 1:
            wrong[day] = matching
    assert wrong == {}


def _by_id(workflow_id: str) -> WorkflowConfig:
    return next(config for config in core_library() if config.id == workflow_id)


def test_the_spec_playbooks_have_their_day_ranges() -> None:
    ranges = {
        c.id: (c.trigger.days_until_renewal.min, c.trigger.days_until_renewal.max)
        for c in core_library()
    }
    assert ranges["prepare"] == (120, 149)
    assert ranges["critical"] == (7, 14)
    assert ranges["emergency"] == (0, 6)
    assert ranges["overdue"] == (-90, -1)


def test_emergency_has_the_spec_steps_and_notifications() -> None:
    emergency = _by_id("emergency")
    assert [step.id for step in emergency.steps] == [
        "emergency-status-check",
        "team-escalation",
        "final-push",
        "outcome-resolution",
    ]
    assert [n.id for n in emergency.notifications] == [
        "manager-acknowledgment",
        "high-value-alert",
        "strategic-account-notice",
        "team-escalation",
        "plan-rejected",
    ]


def test_emergency_requires_manager_approval_before_acting() -> None:
    emergency = _by_id("emergency")
    approval = [step for step in emergency.steps if step.type == "approval"]
    assert [step.id for step in approval] == ["team-escalation"]
    assert approval[0].execution.processor == "approval.manager"
    # The final push is reached only through an approved route.
    assert approval[0].routing is not None
    assert [r.next_step for r in approval[0].routing.routes] == ["final-push"]
    assert approval[0].routing.default_route == "outcome-resolution"
    assert emergency.steps[1].id == "team-escalation"
    alerts = [n for n in emergency.notifications if n.condition and "250000" in n.condition]
    assert alerts, "no high-value alert"


def test_emergency_escalates_to_the_account_team_and_the_vp_once_approved() -> None:
    emergency = _by_id("emergency")
    escalation = next(n for n in emergency.notifications if n.id == "team-escalation")
    assert escalation.action_triggered == "team-escalation"
    assert escalation.condition == "{{outputs.team-escalation.approved}}"
    assert escalation.recipients == ["{{accountTeam.allEmails}}", "{{company.vpCustomerSuccess}}"]


def test_overdue_escalates_at_7_8_15_22_and_30_days() -> None:
    overdue = _by_id("overdue")
    days = {
        -n.schedule.days_until_renewal: n.recipients
        for n in overdue.notifications
        if n.schedule is not None and n.schedule.repeat_every_days is None
    }
    assert {7, 8, 15, 22, 30} <= set(days)
    assert "{{csm.manager}}" in days[7]
    assert "{{company.vpCustomerSuccess}}" in days[8]
    assert "{{accountTeam.allEmails}}" in days[15]
    assert "{{company.ceo}}" in days[22]


def test_every_step_declares_a_typed_outputs_schema() -> None:
    for config in core_library():
        for step in config.steps:
            assert step.execution.outputs.get("type") == "object", (config.id, step.id)
            assert step.execution.outputs.get("properties"), (config.id, step.id)
