"""A tenant with a user, a customer and a workflow execution to hang tasks on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from renewflow import accounts, tasks
from renewflow.db import Connection, Database
from renewflow.tasks import Task, TaskCreate
from tests.db.rows import base_values, insert


@dataclass(frozen=True)
class World:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    customer_id: uuid.UUID
    workflow_id: uuid.UUID
    execution_id: uuid.UUID


def make_world(database: Database, name: str = "Tasks") -> World:
    with database.service_transaction() as conn:
        tenant_id = accounts.create_tenant(conn, f"{name} {uuid.uuid4().hex[:6]}")["id"]
    with database.tenant_transaction(tenant_id) as conn:
        ids: dict[str, uuid.UUID] = {}
        for table in ("users", "customers", "workflows", "workflow_executions"):
            ids[table] = insert(conn, table, base_values(ids, table))
    return World(
        tenant_id, ids["users"], ids["customers"], ids["workflows"], ids["workflow_executions"]
    )


def next_execution(database: Database, world: World) -> uuid.UUID:
    """Closes the customer's active execution and starts the next one (one active per customer)."""
    with database.tenant_transaction(world.tenant_id) as conn:
        conn.execute(
            "UPDATE workflow_executions SET status = 'completed', completed_at = now() "
            "WHERE customer_id = %s AND status = 'active'",
            (world.customer_id,),
        )
        return insert(
            conn,
            "workflow_executions",
            {
                "customer_id": world.customer_id,
                "workflow_id": world.workflow_id,
                "workflow_version": 1,
            },
        )


def task_data(world: World, **overrides: Any) -> TaskCreate:
    values: dict[str, Any] = {
        "workflow_execution_id": world.execution_id,
        "customer_id": world.customer_id,
        "task_type": "CSM_TASK",
        "owner": "CSM",
        "action": f"Schedule CFO meeting {uuid.uuid4().hex[:6]}",
        "description": "Set up a 30-minute intro call with the new CFO",
        "priority": 2,
    }
    values.update(overrides)
    return TaskCreate.model_validate(values)


def ai_data(world: World, processor: str = "noop", **overrides: Any) -> TaskCreate:
    values: dict[str, Any] = {
        "task_type": "AI_TASK",
        "owner": "AI",
        "auto_execute": True,
        "processor": processor,
    }
    return task_data(world, **(values | overrides))


def new_task(conn: Connection, world: World, **overrides: Any) -> Task:
    return tasks.create_task(conn, task_data(world, **overrides))


def enqueue(
    database: Database,
    world: World,
    count: int,
    processor: str = "noop",
    metadata: dict[str, Any] | None = None,
    priority: int = 3,
) -> None:
    """`count` queued AI tasks in one statement (the engine's bulk path is a loop of inserts)."""
    from psycopg.types.json import Jsonb

    with database.tenant_transaction(world.tenant_id) as conn:
        conn.execute(
            """INSERT INTO workflow_tasks (tenant_id, workflow_execution_id, customer_id,
                 task_type, owner, action, description, status, priority, auto_execute,
                 processor, execution_status, metadata)
               SELECT current_tenant_id(), %(execution)s, %(customer)s, 'AI_TASK', 'AI',
                 'Generated task ' || g, 'generated', 'pending', %(priority)s, true,
                 %(processor)s, 'queued', %(metadata)s
               FROM generate_series(1, %(count)s) AS g""",
            {
                "execution": world.execution_id,
                "customer": world.customer_id,
                "priority": priority,
                "processor": processor,
                "metadata": Jsonb(metadata or {}),
                "count": count,
            },
        )
