"""A template that fails at run time (a tenant's loop past the engine's limits) is a 422 naming
the template's place, never a 500: before the call nothing is written; after it, the step fails
with the reason and stays current."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from renewflow.db import Database
from tests.api.conftest import bearer
from tests.engine.world import make_world

pytestmark = pytest.mark.usefixtures("core_library_seeded")

LOOP = "{{#each data.items}}{{#each ../data.items}}x{{/each}}{{/each}}"


def _workflow(workflow_id: str, prompt: str, artifact: str) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "name": "Loops",
        "description": "A step whose templates loop over data the caller sends.",
        "version": "1.0.0",
        "trigger": {"daysUntilRenewal": {"min": 300, "max": 301}},
        "context": {"systemPrompt": "You analyse {{customer.name}}."},
        "steps": [
            {
                "id": "loop",
                "name": "Loop",
                "type": "analysis",
                "description": "Loops.",
                "execution": {
                    "llmPrompt": prompt,
                    "outputs": {
                        "type": "object",
                        "required": ["ok"],
                        "properties": {"ok": {"type": "boolean"}},
                    },
                },
                "artifacts": [
                    {
                        "id": "brief",
                        "type": "report",
                        "title": "Brief",
                        "sections": [{"title": "Items", "content": artifact}],
                    }
                ],
            }
        ],
        "notifications": [
            {
                "id": "done",
                "type": "in_app",
                "title": "Done",
                "message": "Done",
                "recipients": ["{{csm.email}}"],
                "actionTriggered": "loop",
            }
        ],
    }


@pytest.mark.parametrize(
    ("prompt", "artifact", "place"),
    [
        (LOOP, "fine", "steps[loop].execution.llmPrompt"),
        ("Analyse {{customer.name}}.", LOOP, "steps[loop].artifacts[brief]"),
    ],
    ids=["prompt", "artifact"],
)
def test_a_template_past_its_limits_is_a_422_naming_its_place(
    client: httpx.Client, database: Database, make_key: Any, prompt: str, artifact: str, place: str
) -> None:
    world = make_world(database)
    _, admin = make_key(world.tenant, "admin")
    workflow_id = f"loops-{uuid.uuid4().hex[:6]}"
    created = client.post(
        "/api/workflows",
        json={"workflowId": workflow_id, "config": _workflow(workflow_id, prompt, artifact)},
        headers=bearer(admin),
    )
    assert created.status_code == 201, created.text
    client.post(
        f"/api/workflows/executions/{world.executions[0]}/complete",
        json={"status": "cancelled"},
        headers=bearer(admin),
    )
    started = client.post(
        "/api/workflows/from-template",
        json={"customerId": str(world.customers[0]), "workflowId": workflow_id},
        headers=bearer(admin),
    )
    assert started.status_code == 201, started.text
    execution = started.json()["id"]
    answer = client.post(
        f"/api/workflows/executions/{execution}/steps/loop/execute",
        json={"context": {"data": {"items": list(range(400))}}},
        headers=bearer(admin),
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert place in problem["detail"]
    assert "iterations" in problem["detail"]
    detail = client.get(f"/api/workflows/executions/{execution}", headers=bearer(admin)).json()
    assert detail["status"] == "active"
    assert detail["currentStepId"] == "loop"
    if place.endswith("llmPrompt"):
        assert detail["history"] == []  # refused before anything was claimed
    else:
        assert [h["status"] for h in detail["history"]] == ["failed"]
