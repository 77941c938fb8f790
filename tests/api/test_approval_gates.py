"""An approval step holds: only an approver (a manager or an admin) may answer it, skip it, go
back from it or end the execution on it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from renewflow.db import Database
from tests.api.conftest import bearer
from tests.engine.world import make_world

pytestmark = pytest.mark.usefixtures("core_library_seeded")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("steps/team-escalation/skip", {"reason": "no time for approvals"}),
        ("steps/team-escalation/execute", {"outputs": {"approved": True}}),
        ("back", {}),
        ("complete", {"status": "completed"}),
        ("complete", {"status": "cancelled"}),
    ],
)
def test_a_csm_cannot_get_past_an_approval(
    client: httpx.Client, database: Database, make_key: Any, path: str, body: dict[str, Any]
) -> None:
    world = make_world(database, workflow="emergency", days=3)
    _, csm = make_key(world.tenant, "csm")
    _, manager = make_key(world.tenant, "manager")
    execution = f"/api/workflows/executions/{world.executions[0]}"
    first = client.post(f"{execution}/steps/emergency-status-check/execute", headers=bearer(csm))
    assert first.status_code == 200, first.text
    refused = client.post(f"{execution}/{path}", json=body, headers=bearer(csm))
    assert refused.status_code == 403, refused.text
    assert "approval" in refused.json()["detail"]
    state = client.get(execution, headers=bearer(csm)).json()
    assert state["status"] == "active"
    assert state["currentStepId"] == "team-escalation"
    allowed = client.post(f"{execution}/{path}", json=body, headers=bearer(manager))
    assert allowed.status_code == 200, allowed.text


def test_steps_that_are_not_approvals_stay_open_to_csms(
    client: httpx.Client, database: Database, make_key: Any
) -> None:
    world = make_world(database, workflow="emergency", days=3)
    _, csm = make_key(world.tenant, "csm")
    execution = f"/api/workflows/executions/{world.executions[0]}"
    skipped = client.post(
        f"{execution}/steps/emergency-status-check/skip",
        json={"reason": "already known"},
        headers=bearer(csm),
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["currentStepId"] == "team-escalation"
