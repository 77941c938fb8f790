from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from renewflow.workflows import WorkflowConfig, json_schema
from renewflow.workflows.schema import schema_text
from tests.workflows.factory import config, step

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "workflow.schema.json"


def test_published_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/workflow.schema.json is stale: run `renewflow workflows schema > docs/workflow.schema.json`"
    )


def test_schema_forbids_unknown_keys_everywhere() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert all(
        d.get("additionalProperties") is False
        for d in schema["$defs"].values()
        if d.get("type") == "object"
    )


def test_valid_config_round_trips_in_camel_case() -> None:
    parsed = WorkflowConfig.model_validate(config())
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["trigger"]["daysUntilRenewal"] == {"min": 10, "max": 20}
    assert dumped["steps"][0]["execution"]["llmPrompt"] == "Review {{customer.name}}."
    assert WorkflowConfig.model_validate(dumped) == parsed


@pytest.mark.parametrize(
    "bad",
    [
        config(ui={"artifacts": []}),
        config(steps=[step("assess", cardTitle="Assess")]),
        config(steps=[step("assess", styling={"color": "red"})]),
        config(steps=[step("assess", ui={"actions": []})]),
    ],
)
def test_ui_only_keys_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        WorkflowConfig.model_validate(bad)


def test_snake_case_keys_are_not_accepted_for_camel_case_ones() -> None:
    bad = config()
    bad["trigger"] = {"days_until_renewal": {"min": 1, "max": 2}}
    with pytest.raises(ValidationError):
        WorkflowConfig.model_validate(bad)


def test_schema_file_is_valid_json_with_the_top_level_keys() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert set(schema["required"]) == {
        "id",
        "name",
        "description",
        "version",
        "trigger",
        "context",
        "steps",
        "notifications",
    }
