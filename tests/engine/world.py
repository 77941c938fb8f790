"""A tenant with customers 130 days from renewal and their Prepare executions, for step runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from renewflow import accounts, context
from renewflow.db import Database
from renewflow.engine import start_execution
from renewflow.workflows import service as workflows


@dataclass(frozen=True)
class World:
    tenant: uuid.UUID
    user: uuid.UUID  # a manager: may answer approvals
    executions: list[uuid.UUID]
    customers: list[uuid.UUID]


def fake_llm_settings(url: str) -> dict[str, Any]:
    """A tenant's `settings.llm` for the local fake OpenAI-compatible server."""
    return {
        "provider": "openai-compatible",
        "base_url": url,
        "model": "fake-model",
        "max_retries": 3,
    }


def make_world(
    database: Database,
    *,
    llm: dict[str, Any] | None = None,
    customers: int = 1,
    workflow: str = "prepare",
    days: int = 130,
) -> World:
    with database.service_transaction() as conn:
        tenant: uuid.UUID = accounts.create_tenant(conn, f"Runs {uuid.uuid4().hex[:6]}")["id"]
        if llm is not None:
            conn.execute(
                "UPDATE tenants SET settings = settings || %s WHERE id = %s",
                (Jsonb({"llm": llm}), tenant),
            )
    customer_ids, execution_ids = [], []
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(
            conn, email=f"mia-{uuid.uuid4().hex[:6]}@vendor.example", role=accounts.Role.MANAGER
        )["id"]
        definition = workflows.get_workflow(conn, tenant, workflow)
        for i in range(customers):
            customer_id, _ = context.upsert_customer(
                conn,
                context.CustomerIn.model_validate(
                    {
                        "name": f"Globex {i} {uuid.uuid4().hex[:4]}",
                        "arr": 120_000,
                        "renewalDate": (date.today() + timedelta(days=days)).isoformat(),
                        "csmEmail": "sarah@vendor.example",
                        "crm": {"opportunityStage": "Negotiation"},
                    }
                ),
            )
            context.set_intelligence(conn, customer_id, context.IntelligenceIn(riskScore=35))
            context.record_usage(
                conn,
                customer_id,
                [
                    context.UsageIn(
                        metricName="active_users",
                        metricDate=date.today() - timedelta(days=30),
                        value=Decimal(100),
                    ),
                    context.UsageIn(
                        metricName="active_users", metricDate=date.today(), value=Decimal(112)
                    ),
                ],
            )
            execution_ids.append(
                start_execution(
                    conn,
                    customer_id=customer_id,
                    workflow=definition,
                    started_by=user,
                    reason={"rule": "manual"},
                )
            )
            customer_ids.append(customer_id)
    return World(tenant, user, execution_ids, customer_ids)
