"""The ledger's tests: tenants, settings and LLM calls written directly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from renewflow import accounts
from renewflow.db import Database
from renewflow.llm import LLMCall, record_call
from tests.agents.conftest import make_user

__all__ = ["make_user"]


@pytest.fixture
def tenant(tenant_factory: Callable[..., uuid.UUID]) -> uuid.UUID:
    return tenant_factory("Ledger")


def set_settings(database: Database, tenant_id: uuid.UUID, settings: dict[str, Any]) -> None:
    with database.owner_connection() as conn:
        conn.execute(
            "UPDATE tenants SET settings = settings || %s::jsonb WHERE id = %s",
            (json.dumps(settings), tenant_id),
        )


def add_call(
    database: Database,
    tenant_id: uuid.UUID,
    cost: str,
    *,
    at: datetime | None = None,
    run_id: uuid.UUID | None = None,
) -> uuid.UUID:
    call = LLMCall(
        provider="mock",
        model="mock-1",
        prompt_sha256="0" * 64,
        latency_ms=1,
        status="success",
        cost_usd=Decimal(cost),
    )
    with database.tenant_transaction(tenant_id) as conn:
        if run_id is not None:
            from renewflow import ledger

            ledger.attach(conn, run_id)
        call_id = record_call(conn, call)
    if at is not None:
        with database.owner_connection() as conn:
            conn.execute("UPDATE llm_calls SET created_at = %s WHERE id = %s", (at, call_id))
    return call_id


def add_admin(database: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    with database.tenant_transaction(tenant_id) as conn:
        user = accounts.create_user(
            conn,
            email=f"admin-{uuid.uuid4().hex[:8]}@example.com",
            role=accounts.parse_role("admin"),
        )
    user_id: uuid.UUID = user["id"]
    return user_id


def ledger_rows(database: Database, tenant_id: uuid.UUID, task_type: str) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant_id) as conn:
        return conn.execute(
            "SELECT * FROM autonomous_tasks WHERE task_type = %s ORDER BY created_at",
            (task_type,),
        ).fetchall()


def notices(database: Database, tenant_id: uuid.UUID, kind: str) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant_id) as conn:
        return conn.execute(
            "SELECT * FROM notifications WHERE notification_type = %s ORDER BY created_at",
            (kind,),
        ).fetchall()
