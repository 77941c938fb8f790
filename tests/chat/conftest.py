"""A tenant with a workflow whose first step has every kind of chat branch, an execution of it
on a customer with a contract, usage and an open task, and keys to call the API with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from renewflow import accounts, context, engine, tasks
from renewflow.db import Database
from renewflow.workflows import service as workflows
from tests.api.conftest import api_url, client, make_key  # noqa: F401 - fixtures
from tests.workflows.factory import config, step


def chat_config() -> dict[str, Any]:
    branches = [
        {
            "id": "go",
            "label": "Let's do it",
            "type": "fixed",
            "userPrompts": ["Let's do it", "Proceed"],
            "responseText": "Great! Let's renew {{customer.name}}.",
            "nextStep": "close",
        },
        {
            "id": "snooze",
            "label": "Snooze 7 days",
            "type": "saved_action",
            "userPrompts": ["Snooze"],
            "savedActionId": "snooze-7-days",
            "returnToStep": "assess",
        },
        {"id": "skip", "label": "Skip", "type": "saved_action", "savedActionId": "skip-step"},
        {
            "id": "escalate",
            "label": "Escalate",
            "type": "saved_action",
            "savedActionId": "escalate-manager",
        },
        {
            "id": "ask",
            "label": "Ask a question",
            "type": "llm",
            "llmHandler": "renewal-qa",
            "allowOffScript": True,
            "returnToStep": "act",
        },
        {"id": "kb", "label": "Search the playbooks", "type": "rag"},
    ]
    return config(
        steps=[step("assess", chatBranches=branches), step("act"), step("close")],
    )


@dataclass
class World:
    tenant: uuid.UUID
    customer: uuid.UUID
    execution: uuid.UUID
    task: uuid.UUID
    key: str

    @property
    def base(self) -> str:
        return f"/api/workflows/executions/{self.execution}/chat"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def build_world(
    database: Database,
    make_key: Any,  # noqa: F811 - the fixture's value
    *,
    llm: dict[str, Any] | None = None,
    role: str = "manager",
) -> World:
    from psycopg.types.json import Jsonb

    with database.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Chat {uuid.uuid4().hex[:6]}")["id"]
        if llm is not None:
            conn.execute(
                "UPDATE tenants SET settings = settings || %s WHERE id = %s",
                (Jsonb({"llm": llm}), tenant),
            )
    _, key = make_key(tenant, role)
    with database.tenant_transaction(tenant) as conn:
        workflows.create_workflow(conn, tenant, None, workflow_id="sample", config=chat_config())
        customer, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {
                    "name": f"Initech {uuid.uuid4().hex[:4]}",
                    "arr": 90_000,
                    "renewalDate": (date.today() + timedelta(days=15)).isoformat(),
                    "csmEmail": "sam@vendor.example",
                }
            ),
        )
        context.record_usage(
            conn,
            customer,
            [
                context.UsageIn(
                    metricName="active_users", metricDate=date.today(), value=Decimal(42)
                ),
            ],
        )
        execution = engine.start_execution(
            conn,
            customer_id=customer,
            workflow=workflows.get_workflow(conn, tenant, "sample"),
            started_by=None,
            reason={"rule": "manual"},
        )
        task = tasks.create_task(
            conn,
            tasks.TaskCreate.model_validate(
                {
                    "workflow_execution_id": execution,
                    "customer_id": customer,
                    "task_type": "CSM_TASK",
                    "owner": "CSM",
                    "action": "call-champion",
                    "description": "Call the champion",
                    "priority": 2,
                }
            ),
        )
    return World(tenant, customer, execution, task.id, key)


@pytest.fixture
def world(database: Database, make_key: Any) -> World:  # noqa: F811
    return build_world(database, make_key)
