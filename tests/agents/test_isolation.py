"""Owner-only agent tasks: through the API (another user's task is 404, an admin reads but does
not write) and in SQL as the app role (two users of one tenant, and another tenant)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from renewflow.db import Database
from tests.api.conftest import bearer

BODY = {
    "name": "Brief",
    "steps": [
        {"step_name": "One", "instructions": "First."},
        {"step_name": "Two", "instructions": "Second.", "include_previous_context": True},
    ],
}


@pytest.fixture
def world(
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
    client: httpx.Client,
) -> dict[str, object]:
    tenant = tenant_factory("Owners")
    other_tenant = tenant_factory("Others")
    alice, alice_key = make_key(tenant, "csm")
    bob, bob_key = make_key(tenant, "csm")
    admin, admin_key = make_key(tenant, "admin")
    _, stranger_key = make_key(other_tenant, "admin")
    created = client.post("/api/agents/tasks", json=BODY, headers=bearer(alice_key))
    assert created.status_code == 201, created.text
    return {
        "tenant": tenant,
        "other_tenant": other_tenant,
        "alice": alice,
        "bob": bob,
        "admin": admin,
        "alice_key": alice_key,
        "bob_key": bob_key,
        "admin_key": admin_key,
        "stranger_key": stranger_key,
        "task": created.json(),
    }


def _calls(task: dict[str, object]) -> list[tuple[str, str, dict[str, object] | None]]:
    task_id = task["id"]
    steps = task["steps"]
    assert isinstance(steps, list)
    first = steps[0]["id"]
    ids = [s["id"] for s in steps]
    return [
        ("GET", f"/api/agents/tasks/{task_id}", None),
        ("PATCH", f"/api/agents/tasks/{task_id}", {"name": "Mine now"}),
        ("DELETE", f"/api/agents/tasks/{task_id}", None),
        ("POST", f"/api/agents/tasks/{task_id}/steps", {"step_name": "X", "instructions": "Y"}),
        ("PATCH", f"/api/agents/tasks/{task_id}/steps/{first}", {"step_name": "Z"}),
        ("DELETE", f"/api/agents/tasks/{task_id}/steps/{first}", None),
        ("PUT", f"/api/agents/tasks/{task_id}/steps/order", {"step_ids": ids[::-1]}),
        ("POST", f"/api/agents/tasks/{task_id}/run", None),
        ("POST", f"/api/agents/tasks/{task_id}/resume", None),
        ("POST", f"/api/agents/tasks/{task_id}/cancel", None),
        ("POST", f"/api/agents/tasks/{task_id}/steps/{first}/approve", None),
        ("POST", f"/api/agents/tasks/{task_id}/steps/{first}/skip", None),
    ]


@pytest.mark.parametrize("who", ["bob_key", "stranger_key"])
def test_another_users_task_is_not_found_for_every_route(
    world: dict[str, object], client: httpx.Client, who: str
) -> None:
    task = world["task"]
    assert isinstance(task, dict)
    for method, url, body in _calls(task):
        answer = client.request(method, url, json=body, headers=bearer(str(world[who])))
        assert answer.status_code == 404, (method, url, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/api/agents/tasks?everyone=true", headers=bearer(str(world[who])))
    assert task["id"] not in [t["id"] for t in listed.json()["items"]]
    # and nothing changed
    mine = client.get(f"/api/agents/tasks/{task['id']}", headers=bearer(str(world["alice_key"])))
    assert mine.json()["name"] == "Brief"
    assert len(mine.json()["steps"]) == 2


def test_an_admin_reads_the_tenants_agent_tasks_but_cannot_change_them(
    world: dict[str, object], client: httpx.Client
) -> None:
    task = world["task"]
    assert isinstance(task, dict)
    key = bearer(str(world["admin_key"]))
    read = client.get(f"/api/agents/tasks/{task['id']}", headers=key)
    assert read.status_code == 200
    assert read.json()["user_id"] == str(world["alice"])
    everyone = client.get("/api/agents/tasks?everyone=true", headers=key).json()
    assert task["id"] in [t["id"] for t in everyone["items"]]
    own = client.get("/api/agents/tasks", headers=key).json()
    assert task["id"] not in [t["id"] for t in own["items"]]
    for method, url, body in _calls(task)[1:]:
        answer = client.request(method, url, json=body, headers=key)
        assert answer.status_code == 404, (method, url, answer.text)


def test_in_sql_each_user_sees_and_changes_only_their_own(
    world: dict[str, object], database: Database
) -> None:
    task = world["task"]
    assert isinstance(task, dict)
    tenant, other = world["tenant"], world["other_tenant"]
    assert isinstance(tenant, uuid.UUID)
    assert isinstance(other, uuid.UUID)
    task_id = task["id"]
    count = "SELECT (SELECT count(*) FROM agent_tasks WHERE id = %(id)s) AS tasks, (SELECT count(*) FROM task_steps WHERE task_id = %(id)s) AS steps"
    with database.tenant_transaction(tenant, world["alice"]) as conn:  # type: ignore[arg-type]
        assert conn.execute(count, {"id": task_id}).fetchone() == {"tasks": 1, "steps": 2}
    with database.tenant_transaction(tenant, world["bob"]) as conn:  # type: ignore[arg-type]
        assert conn.execute(count, {"id": task_id}).fetchone() == {"tasks": 0, "steps": 0}
        changed = conn.execute(
            "UPDATE task_steps SET instructions = 'pwned' WHERE task_id = %s", (task_id,)
        ).rowcount
        deleted = conn.execute("DELETE FROM agent_tasks WHERE id = %s", (task_id,)).rowcount
        assert (changed, deleted) == (0, 0)
    with database.tenant_transaction(tenant, world["admin"]) as conn:  # type: ignore[arg-type]
        assert conn.execute(count, {"id": task_id}).fetchone() == {"tasks": 1, "steps": 2}
        changed = conn.execute(
            "UPDATE task_steps SET instructions = 'pwned' WHERE task_id = %s", (task_id,)
        ).rowcount
        assert changed == 0
    with database.tenant_transaction(other) as conn:
        assert conn.execute(count, {"id": task_id}).fetchone() == {"tasks": 0, "steps": 0}


def test_in_sql_a_user_cannot_create_a_task_or_step_for_someone_else(
    world: dict[str, object], database: Database
) -> None:
    import psycopg

    task = world["task"]
    assert isinstance(task, dict)
    tenant = world["tenant"]
    assert isinstance(tenant, uuid.UUID)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with database.tenant_transaction(tenant, world["bob"]) as conn:  # type: ignore[arg-type]
            conn.execute(
                "INSERT INTO agent_tasks (tenant_id, user_id, name) VALUES (%s, %s, 'x')",
                (tenant, world["alice"]),
            )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with database.tenant_transaction(tenant, world["bob"]) as conn:  # type: ignore[arg-type]
            conn.execute(
                "INSERT INTO task_steps (tenant_id, task_id, step_order, step_name, instructions)"
                " VALUES (%s, %s, 3, 'x', 'y')",
                (tenant, task["id"]),
            )
