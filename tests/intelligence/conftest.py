"""Tenants with customer data, an agent on a slot of its own per test, and a live server."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from renewflow.api import create_app
from renewflow.api.routes import intelligence
from renewflow.config import load_settings
from renewflow.db import Database, Migrator
from renewflow.intelligence import ContinuousIntelligence
from renewflow.llm import LLMClients
from tests.api.conftest import free_port


@pytest.fixture(scope="package")
def database(make_database: Callable[[], str]) -> Iterator[Database]:
    """A database of this package's own: a pass spans every tenant, and the session database
    holds other tests' tenants (some with providers pointed at fakes long gone)."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=8) as db:
        yield db


CURRENT = "current-secret-" + "a" * 32
PREVIOUS = "previous-secret-" + "b" * 32


def a_slot_of_our_own() -> datetime:
    """A slot no other test uses (runs are one per slot, across the whole session database)."""
    return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(minutes=30 * random.randrange(10**7))


@pytest.fixture
def clients() -> Iterator[LLMClients]:
    llm = LLMClients()
    yield llm
    llm.close()


@pytest.fixture
def agent(database: Database, clients: LLMClients) -> ContinuousIntelligence:
    slot = a_slot_of_our_own()
    return ContinuousIntelligence(database, clients, clock=lambda: slot)


def add_customer(
    database: Database,
    tenant_id: uuid.UUID,
    name: str,
    *,
    usage_drop: float = 0.3,
    renewal_in_days: int = 40,
    arr: int = 120_000,
    support: bool = False,
) -> uuid.UUID:
    """A customer with an active contract, a primary champion, 56 days of declining (or growing,
    with a negative drop) usage, an overdue task, and optionally support metrics."""
    with database.tenant_transaction(tenant_id) as conn:
        row = conn.execute(
            "INSERT INTO customers (tenant_id, name) VALUES (current_tenant_id(), %s) RETURNING id",
            (name,),
        ).fetchone()
        assert row is not None
        customer_id: uuid.UUID = row["id"]
        conn.execute(
            """INSERT INTO contracts (tenant_id, customer_id, renewal_date, arr)
               VALUES (current_tenant_id(), %s, current_date + %s, %s)""",
            (customer_id, renewal_in_days, arr),
        )
        conn.execute(
            """INSERT INTO contacts (tenant_id, customer_id, name, role, is_primary)
               VALUES (current_tenant_id(), %s, 'Dana Champion', 'champion', true)""",
            (customer_id,),
        )
        conn.execute(
            """INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
               SELECT current_tenant_id(), %(c)s, current_date - d, 'active_users',
                      CASE WHEN d < 28 THEN 100 * (1 - %(drop)s) ELSE 100 END
               FROM generate_series(0, 55) d""",
            {"c": customer_id, "drop": usage_drop},
        )
        if support:
            conn.execute(
                """INSERT INTO usage_metrics (tenant_id, customer_id, metric_date, metric_name, value)
                   VALUES (current_tenant_id(), %(c)s, current_date - 3, 'support_tickets', 4),
                          (current_tenant_id(), %(c)s, current_date - 2, 'support_escalations', 1)""",
                {"c": customer_id},
            )
        add_task(database, tenant_id, customer_id, conn=conn)
    return customer_id


def add_task(
    database: Database,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    *,
    conn: Any = None,
    due_in_days: int = -3,
) -> uuid.UUID:
    def insert(c: Any) -> uuid.UUID:
        execution = c.execute(
            "SELECT id FROM workflow_executions WHERE customer_id = %s AND status = 'active'",
            (customer_id,),
        ).fetchone()
        if execution is None:
            slug = f"wf-{uuid.uuid4().hex[:8]}"
            workflow = c.execute(
                """INSERT INTO workflows (tenant_id, workflow_id, name, config)
                   VALUES (current_tenant_id(), %s, 'Renewal', %s) RETURNING id""",
                (slug, Jsonb({"id": slug, "steps": []})),
            ).fetchone()
            execution = c.execute(
                """INSERT INTO workflow_executions (tenant_id, customer_id, workflow_id,
                                                    workflow_version)
                   VALUES (current_tenant_id(), %s, %s, 1) RETURNING id""",
                (customer_id, workflow["id"]),
            ).fetchone()
        task = c.execute(
            """INSERT INTO workflow_tasks (tenant_id, workflow_execution_id, customer_id, task_type,
                                           owner, action, description, status, priority, due_date)
               VALUES (current_tenant_id(), %s, %s, 'CSM_TASK', 'CSM', 'call', 'Call the champion',
                       'pending', 2, current_date + %s) RETURNING id""",
            (execution["id"], customer_id, due_in_days),
        ).fetchone()
        task_id: uuid.UUID = task["id"]
        return task_id

    if conn is not None:
        return insert(conn)
    with database.tenant_transaction(tenant_id) as own:
        return insert(own)


@pytest.fixture
def live_app(database: Database) -> Iterator[Callable[..., str]]:
    """Starts a server with the cron router, the given secrets and an agent on its own slot."""
    import threading
    import time

    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread, LLMClients]] = []

    def start(current: str | None = CURRENT, previous: str | None = PREVIOUS) -> str:
        settings = load_settings().model_copy(
            update={
                "cron_secret": SecretStr(current) if current else None,
                "cron_secret_previous": SecretStr(previous) if previous else None,
                "cron_wait_seconds": 60.0,
            }
        )
        app = create_app(database, manage_database=False, settings=settings)
        app.include_router(intelligence.router)
        app.state.settings = settings
        llm = LLMClients()
        slot = a_slot_of_our_own()
        app.state.intelligence = ContinuousIntelligence(database, llm, clock=lambda: slot)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        servers.append((server, thread, llm))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread, llm in servers:
        server.should_exit = True
        thread.join(timeout=10)
        llm.close()
