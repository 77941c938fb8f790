"""Every branch type through the API on a real execution: fixed, saved actions, free text."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from renewflow.db import Database
from tests.chat.conftest import World, build_world


def execution_state(client: httpx.Client, world: World) -> dict[str, Any]:
    answer = client.get(f"/api/workflows/executions/{world.execution}", headers=world.headers)
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


def test_the_current_steps_branches_are_listed(client: httpx.Client, world: World) -> None:
    answer = client.get(f"{world.base}/branches", headers=world.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stepId"] == "assess"
    assert [b["id"] for b in body["branches"]] == ["go", "snooze", "skip", "escalate", "ask", "kb"]
    assert body["branches"][0]["source"] == "config"


def test_a_fixed_branch_answers_and_moves_to_its_next_step(
    client: httpx.Client, world: World
) -> None:
    ran = client.post(f"{world.base}/branches/go/run", json={}, headers=world.headers)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["responseText"].startswith("Great! Let's renew Initech")
    assert body["nextStep"] == "close"
    state = execution_state(client, world)
    assert state["currentStepId"] == "close"
    [entry] = state["history"]
    assert (entry["stepId"], entry["status"]) == ("assess", "completed")
    assert entry["outputs"]["chatBranch"] == "go"
    again = client.post(
        f"{world.base}/branches/go/run", json={"stepId": "assess"}, headers=world.headers
    )
    assert again.status_code == 409, again.text


def test_snooze_snoozes_the_open_tasks_and_returns(
    client: httpx.Client, world: World, database: Database
) -> None:
    headers = {**world.headers, "Idempotency-Key": f"snooze-{uuid.uuid4()}"}
    ran = client.post(f"{world.base}/branches/snooze/run", json={}, headers=headers)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["action"] == {"id": "snooze-7-days", "type": "snooze"}
    assert [t["taskId"] for t in body["result"]["tasks"]] == [str(world.task)]
    assert body["returnedToStep"] == "assess"
    replay = client.post(f"{world.base}/branches/snooze/run", json={}, headers=headers)
    assert replay.json() == body
    with database.tenant_transaction(world.tenant) as conn:
        task = conn.execute(
            "SELECT status, snooze_count, snooze_deadline, snoozed_until FROM workflow_tasks"
            " WHERE id = %s",
            (world.task,),
        ).fetchone()
    assert task is not None
    assert (task["status"], task["snooze_count"]) == ("snoozed", 1)  # once, under the key
    assert task["snoozed_until"] <= task["snooze_deadline"]


def test_skip_needs_a_reason_and_moves_on(client: httpx.Client, world: World) -> None:
    refused = client.post(f"{world.base}/branches/skip/run", json={}, headers=world.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "body.reason"
    assert execution_state(client, world)["currentStepId"] == "assess"  # nothing half-done
    ran = client.post(
        f"{world.base}/branches/skip/run", json={"reason": "done by phone"}, headers=world.headers
    )
    assert ran.status_code == 200, ran.text
    state = execution_state(client, world)
    assert state["currentStepId"] == "act"
    assert state["history"][0]["skipReason"] == "done by phone"


def test_escalation_notifies_the_manager_once_per_request(
    client: httpx.Client, world: World, database: Database
) -> None:
    headers = {**world.headers, "Idempotency-Key": "esc-1"}
    for _ in range(2):
        ran = client.post(f"{world.base}/branches/escalate/run", json={}, headers=headers)
        assert ran.status_code == 200, ran.text
    assert ran.json()["result"]["to"] == "manager"
    with database.tenant_transaction(world.tenant) as conn:
        rows = conn.execute(
            "SELECT notification_type, status FROM notifications WHERE workflow_execution_id = %s",
            (world.execution,),
        ).fetchall()
    # the customer's CSM has no manager: recorded as undeliverable, once, never dropped
    assert len(rows) == 1
    assert rows[0]["notification_type"] == "chat-escalation"


def test_free_text_matches_a_prompt_whatever_its_case_and_punctuation(
    client: httpx.Client, world: World
) -> None:
    ran = client.post(
        f"{world.base}/messages", json={"text": "  LET'S do it!!! "}, headers=world.headers
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["branch"]["id"] == "go"
    assert execution_state(client, world)["currentStepId"] == "close"


def test_off_script_text_goes_to_the_llm_branch(client: httpx.Client, world: World) -> None:
    ran = client.post(
        f"{world.base}/messages", json={"text": "What is their ARR?"}, headers=world.headers
    )
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["branch"]["id"] == "ask"
    assert body["message"]["role"] == "assistant"
    assert "What is their ARR?" in body["message"]["content"]


def test_bad_input_and_other_tenants(
    client: httpx.Client, world: World, database: Database, make_key: Any
) -> None:
    for text in ("", "   ", "x" * 8001):
        bad = client.post(f"{world.base}/messages", json={"text": text}, headers=world.headers)
        assert bad.status_code == 422, bad.text
        assert bad.json()["errors"][0]["field"] == "body.text"
    missing = client.post(f"{world.base}/branches/nope/run", json={}, headers=world.headers)
    assert missing.status_code == 404
    other = build_world(database, make_key)
    theirs = client.get(f"{world.base}/branches", headers=other.headers)
    assert theirs.status_code == 404
    run = client.post(f"{world.base}/branches/go/run", json={}, headers=other.headers)
    assert run.status_code == 404
    assert execution_state(client, world)["currentStepId"] == "assess"


def test_a_tenant_action_names_a_registered_handler_never_a_file(
    client: httpx.Client, world: World, database: Database, make_key: Any
) -> None:
    def create(headers: dict[str, str], handler: str) -> httpx.Response:
        body = {
            "action_id": "snooze-2-weeks",
            "action_name": "Snooze two weeks",
            "action_type": "snooze",
            "handler": handler,
            "config": {"days": 14},
        }
        return client.post("/api/saved-actions", json=body, headers=headers)

    for refused in ("file:../../etc/passwd", "file:/tmp/handler.py", "code:Nobody.nothing"):
        answer = create(world.headers, refused)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"].endswith("handler")
    ids = {a["actionId"] for a in client.get("/api/saved-actions", headers=world.headers).json()}
    assert "snooze-2-weeks" not in ids  # nothing written
    assert create(world.headers, "code:GlobalActions.snooze").status_code == 201
    # the id is the tenant's own: another tenant may use it too
    other = build_world(database, make_key)
    assert create(other.headers, "code:GlobalActions.snooze").status_code == 201
