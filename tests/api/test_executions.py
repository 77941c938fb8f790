"""The spec's success criteria, end to end through HTTP with the mock LLM: start Prepare for a
customer 130 days out, run its steps, chain outputs, render artifacts, route, skip, complete."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb

from renewflow.db import Database
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core
from tests.api.conftest import bearer

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", autouse=True)
def core_workflows(database: Database) -> None:
    with database.service_transaction() as conn:
        seed_core(conn, core_library())


def new_customer(client: httpx.Client, key: str, days: int, arr: int = 100000, **extra: Any) -> str:
    body = {
        "name": f"Acme {uuid.uuid4().hex[:4]}",
        "arr": arr,
        "renewalDate": (date.today() + timedelta(days=days)).isoformat(),
        "csmEmail": "sarah.chen@vendor.example",
        **extra,
    }
    response = client.post("/api/customers", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    client.put(
        f"/api/customers/{customer_id}/intelligence", json={"riskScore": 42}, headers=bearer(key)
    )
    client.post(
        f"/api/customers/{customer_id}/usage",
        json=[
            {
                "metricName": "active_users",
                "metricDate": (date.today() - timedelta(days=30)).isoformat(),
                "value": 100,
            },
            {"metricName": "active_users", "metricDate": date.today().isoformat(), "value": 112},
        ],
        headers=bearer(key),
    )
    return customer_id


def start(client: httpx.Client, key: str, customer_id: str, workflow_id: str) -> dict[str, Any]:
    response = client.post(
        "/api/workflows/from-template",
        json={"customerId": customer_id, "workflowId": workflow_id},
        headers=bearer(key),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def execute(
    client: httpx.Client, key: str, execution_id: str, step_id: str, **kwargs: Any
) -> httpx.Response:
    return client.post(
        f"/api/workflows/executions/{execution_id}/steps/{step_id}/execute",
        json=kwargs.pop("json", {}),
        headers={**bearer(key), **kwargs.pop("headers", {})},
    )


def test_prepare_end_to_end(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant, "csm")
    customer = new_customer(client, key, 130)
    templates = client.get("/api/workflows/from-template", headers=bearer(key)).json()
    assert {"prepare", "critical", "overdue"} <= {t["workflowId"] for t in templates}

    execution = start(client, key, customer, "prepare")
    assert execution["currentStepId"] == "data-snapshot"
    assert execution["triggerReason"]["rule"] == "manual"

    # no body at all: the common case
    first = client.post(
        f"/api/workflows/executions/{execution['id']}/steps/data-snapshot/execute",
        headers=bearer(key),
    )
    assert first.status_code == 200, first.text
    snapshot = first.json()
    assert snapshot["success"] is True
    assert snapshot["nextStep"] == {
        "stepId": "value-risk-analysis",
        "title": "Value and Risk Analysis",
    }
    assert set(snapshot["outputs"]) >= {"overallHealth", "riskScore", "usageTrend", "missingData"}

    second = execute(client, key, execution["id"], "value-risk-analysis").json()
    assert second["success"] is True
    # step 1's outputs were in step 2's prompt
    with database.tenant_transaction(tenant) as conn:
        prompt = conn.execute(
            "SELECT rendered_prompt FROM workflow_step_executions WHERE id = %s",
            (second["stepExecutionId"],),
        ).fetchone()
    assert prompt is not None
    rendered = " ".join(prompt["rendered_prompt"].split())
    assert (
        f"(health {snapshot['outputs']['overallHealth']}, risk {snapshot['outputs']['riskScore']},"
        in rendered
    )
    # its artifact is rendered from both steps' outputs
    brief = second["artifacts"][0]
    assert brief["title"].startswith("Renewal brief for Acme")
    assert f"Health {snapshot['outputs']['overallHealth']}" in brief["sections"][0]["content"]
    assert "{{" not in json.dumps(second["artifacts"])

    third = execute(client, key, execution["id"], "renewal-planning").json()
    assert third["success"] is True
    assert [t["created"] for t in third["tasks"]] == [True, True]
    assert third["notifications"] >= 1  # plan-ready fires on renewal-planning

    assert third["nextStep"] is None
    assert third["executionStatus"] == "completed"
    detail = client.get(f"/api/workflows/executions/{execution['id']}", headers=bearer(key)).json()
    assert detail["status"] == "completed"
    assert [s["status"] for s in detail["steps"]] == ["completed"] * len(detail["steps"])
    with database.tenant_transaction(tenant) as conn:
        calls = conn.execute(
            "SELECT count(*) AS n FROM llm_calls WHERE workflow_execution_id = %s",
            (execution["id"],),
        ).fetchone()
    assert calls == {"n": 3}


def test_routing_approval_and_notifications(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, csm = make_key(tenant, "csm")
    _, manager = make_key(tenant, "manager")
    customer = new_customer(
        client, csm, 3, arr=300000, crm={"opportunityStage": "Legal"}, hasAccountPlan=True
    )
    with database.tenant_transaction(tenant) as conn:
        conn.execute(
            "UPDATE users SET manager_id = (SELECT id FROM users WHERE role = 'manager' LIMIT 1) WHERE email = 'sarah.chen@vendor.example'"
        )
    # a CSM may not start the emergency workflow by hand (its manualTriggers: admin, manager)
    refused = client.post(
        "/api/workflows/from-template",
        json={"customerId": customer, "workflowId": "emergency"},
        headers=bearer(csm),
    )
    assert refused.status_code == 403
    assert "admin, manager" in refused.json()["detail"]
    execution = start(client, manager, customer, "emergency")["id"]
    assert execute(client, csm, execution, "emergency-status-check").json()["notifications"] == 1
    # the approval step is a manager's: a CSM cannot give it, and it needs its outputs
    assert (
        execute(
            client,
            csm,
            execution,
            "team-escalation",
            json={"outputs": {"approved": True, "approver": "x"}},
        ).status_code
        == 403
    )
    missing = execute(client, manager, execution, "team-escalation")
    assert missing.status_code == 422, missing.text
    assert missing.json()["errors"][0]["field"] == "outputs"
    wrong = execute(
        client, manager, execution, "team-escalation", json={"outputs": {"approved": "yes"}}
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"outputs.approved"}
    rejected = execute(
        client,
        manager,
        execution,
        "team-escalation",
        json={"outputs": {"approved": False, "approver": "Mia", "note": "too late"}},
    ).json()
    assert rejected["nextStep"]["stepId"] == "outcome-resolution"  # defaultRoute: not approved
    assert rejected["notifications"] == 1  # plan-rejected, conditioned on not approved
    with database.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            "SELECT notification_type, channel, recipient, message FROM notifications WHERE workflow_execution_id = %s ORDER BY created_at",
            (execution,),
        ).fetchall()
    assert [(r["notification_type"], r["channel"]) for r in rows] == [
        ("manager-acknowledgment", "email"),
        ("plan-rejected", "in_app"),
    ]
    assert rows[1]["message"] == "Mia did not approve the plan: too late"
    assert rows[1]["recipient"] == "sarah.chen@vendor.example"


def test_go_back_and_conflicts(client: httpx.Client, tenant_factory, make_key) -> None:
    _, key = make_key(tenant_factory(), "csm")
    customer = new_customer(client, key, 130)
    execution = start(client, key, customer, "prepare")["id"]
    again = client.post(
        "/api/workflows/from-template",
        json={"customerId": customer, "workflowId": "engage"},
        headers=bearer(key),
    )
    assert again.status_code == 409
    assert execution in again.json()["detail"]
    assert (
        execute(client, key, execution, "renewal-planning").status_code == 409
    )  # not the current step
    assert (
        client.post(f"/api/workflows/executions/{execution}/back", headers=bearer(key)).status_code
        == 409
    )
    no_reason = client.post(
        f"/api/workflows/executions/{execution}/steps/data-snapshot/skip",
        json={"reason": ""},
        headers=bearer(key),
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "body.reason"
    skipped = client.post(
        f"/api/workflows/executions/{execution}/steps/data-snapshot/skip",
        json={"reason": "snapshot done in the CRM"},
        headers=bearer(key),
    ).json()
    assert skipped["currentStepId"] == "value-risk-analysis"
    assert skipped["history"][-1]["skipReason"] == "snapshot done in the CRM"
    assert {s["id"]: s["status"] for s in skipped["steps"]}["data-snapshot"] == "skipped"
    back = client.post(f"/api/workflows/executions/{execution}/back", headers=bearer(key)).json()
    assert back["currentStepId"] == "data-snapshot"
    done = client.post(
        f"/api/workflows/executions/{execution}/complete",
        json={"status": "cancelled"},
        headers=bearer(key),
    )
    assert done.json()["status"] == "cancelled"
    assert execute(client, key, execution, "data-snapshot").status_code == 409


def test_missing_data_is_422_naming_each_path_and_stores_nothing(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant)
    created = client.post(
        "/api/customers",
        json={
            "name": "Bare",
            "arr": 1000,
            "renewalDate": (date.today() + timedelta(days=130)).isoformat(),
        },
        headers=bearer(key),
    ).json()
    execution = start(client, key, created["id"], "prepare")["id"]
    response = execute(client, key, execution, "data-snapshot")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in response.json()["errors"]] == ["context.intelligence.riskScore"]
    with database.tenant_transaction(tenant) as conn:
        assert conn.execute("SELECT count(*) AS n FROM workflow_step_executions").fetchone() == {
            "n": 0
        }


def test_unknowns_and_other_tenants_are_404(client: httpx.Client, tenant_factory, make_key) -> None:
    _, key_a = make_key(tenant_factory())
    _, key_b = make_key(tenant_factory())
    theirs = start(client, key_b, new_customer(client, key_b, 130), "prepare")["id"]
    mine = start(client, key_a, new_customer(client, key_a, 130), "prepare")["id"]
    assert (
        client.get(f"/api/workflows/executions/{theirs}", headers=bearer(key_a)).status_code == 404
    )
    assert execute(client, key_a, theirs, "data-snapshot").status_code == 404
    assert execute(client, key_a, mine, "no-such-step").status_code == 404
    assert execute(client, key_a, str(uuid.uuid4()), "data-snapshot").status_code == 404
    assert (
        client.post(
            "/api/workflows/from-template",
            json={"customerId": str(uuid.uuid4()), "workflowId": "prepare"},
            headers=bearer(key_a),
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/workflows/from-template",
            json={"customerId": str(uuid.uuid4()), "workflowId": "nope"},
            headers=bearer(key_a),
        ).status_code
        == 404
    )
    listed = client.get("/api/workflows/executions", headers=bearer(key_a)).json()
    assert [e["id"] for e in listed["items"]] == [mine]
    assert (
        client.get("/api/workflows/executions?status=paused", headers=bearer(key_a)).status_code
        == 422
    )


def test_idempotency_key_returns_the_first_result(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant)
    execution = start(client, key, new_customer(client, key, 130), "prepare")["id"]
    headers = {"Idempotency-Key": "run-snapshot-1"}
    first = execute(client, key, execution, "data-snapshot", headers=headers)
    second = execute(client, key, execution, "data-snapshot", headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    with database.tenant_transaction(tenant) as conn:
        assert conn.execute("SELECT count(*) AS n FROM workflow_step_executions").fetchone() == {
            "n": 1
        }
    reused = execute(client, key, execution, "value-risk-analysis", headers=headers)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"


class _BadLLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible server whose model never answers in JSON."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        body = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "local",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": "Sure! The customer looks healthy.",
                        },
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bad_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BadLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_invalid_llm_answer_fails_the_step_and_keeps_it(
    client: httpx.Client, database: Database, tenant_factory, make_key, bad_llm: str
) -> None:
    tenant = tenant_factory()
    with database.service_transaction() as conn:
        conn.execute(
            "UPDATE tenants SET settings = %s WHERE id = %s",
            (
                Jsonb(
                    {
                        "llm": {
                            "provider": "openai-compatible",
                            "base_url": bad_llm,
                            "model": "local",
                            "max_retries": 0,
                        }
                    }
                ),
                tenant,
            ),
        )
    _, key = make_key(tenant)
    execution = start(client, key, new_customer(client, key, 130), "prepare")["id"]
    response = execute(client, key, execution, "data-snapshot")
    assert response.status_code == 502, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "after a repair retry" in response.json()["detail"]
    with database.tenant_transaction(tenant) as conn:
        step = conn.execute(
            "SELECT status, raw_response, error_message FROM workflow_step_executions"
        ).fetchone()
        current = conn.execute(
            "SELECT status, current_step_id FROM workflow_executions WHERE id = %s", (execution,)
        ).fetchone()
        calls = conn.execute("SELECT count(*) AS n FROM llm_calls").fetchone()
    assert step is not None
    assert step["status"] == "failed"
    assert step["raw_response"] == "Sure! The customer looks healthy."
    assert current == {"status": "active", "current_step_id": "data-snapshot"}  # resumable
    assert calls == {"n": 2}  # the answer and its repair retry
