"""Steps keep the order 1..n, unique and gapless, through inserts, deletes, moves and reorders,
also when many of them race on one task; a reorder that does not name every step once is 422
and changes nothing."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable

import httpx
import psycopg
import pytest

from renewflow import agents
from renewflow.db import Database
from renewflow.errors import InvalidInputError
from tests.api.conftest import bearer


def _orders(database: Database, tenant: uuid.UUID, task_id: uuid.UUID) -> list[int]:
    with database.service_transaction() as conn:
        rows = conn.execute(
            "SELECT step_order FROM task_steps WHERE task_id = %s ORDER BY step_order", (task_id,)
        ).fetchall()
    return [r["step_order"] for r in rows]


def _task(database: Database, tenant: uuid.UUID, user: uuid.UUID, n: int) -> agents.AgentTask:
    steps = [{"step_name": f"S{i}", "instructions": f"Do {i}."} for i in range(1, n + 1)]
    with database.tenant_transaction(tenant, user) as conn:
        return agents.create_task(
            conn, agents.TaskCreate.model_validate({"name": "Edits", "steps": steps})
        )


def test_insert_move_delete_and_reorder_keep_the_order_whole(
    database: Database, tenant: uuid.UUID, make_user: Callable[..., uuid.UUID]
) -> None:
    user = make_user(tenant)
    task = _task(database, tenant, user, 3)
    a, b, c = (s.id for s in task.steps)
    with database.tenant_transaction(tenant, user) as conn:
        after = agents.add_step(
            conn, task.id, agents.StepIn(step_name="New", instructions="Go.", position=1)
        )
        assert [s.step_name for s in after.steps] == ["New", "S1", "S2", "S3"]
        after = agents.update_step(conn, task.id, c, agents.StepUpdate(position=1))
        assert [s.step_name for s in after.steps] == ["S3", "New", "S1", "S2"]
        after = agents.delete_step(conn, task.id, after.steps[1].id)
        assert [s.step_name for s in after.steps] == ["S3", "S1", "S2"]
        after = agents.reorder_steps(conn, task.id, agents.Reorder(step_ids=[a, b, c]))
        assert [(s.step_order, s.step_name) for s in after.steps] == [
            (1, "S1"),
            (2, "S2"),
            (3, "S3"),
        ]


def test_a_swap_in_two_statements_works_inside_one_transaction(
    database: Database, tenant: uuid.UUID, make_user: Callable[..., uuid.UUID]
) -> None:
    """The uniqueness of (task, order) is deferrable: a client swapping two steps one UPDATE at
    a time defers it to the commit."""
    user = make_user(tenant)
    task = _task(database, tenant, user, 2)
    with database.tenant_transaction(tenant, user) as conn:
        conn.execute("SET CONSTRAINTS unique_task_step_order DEFERRED")
        conn.execute("UPDATE task_steps SET step_order = 2 WHERE id = %s", (task.steps[0].id,))
        conn.execute("UPDATE task_steps SET step_order = 1 WHERE id = %s", (task.steps[1].id,))
    with database.tenant_transaction(tenant, user) as conn:
        assert [s.step_name for s in agents.get_task(conn, task.id).steps] == ["S2", "S1"]
    # not deferred, the first UPDATE of the pair is refused on the spot (S2 is at 1, S1 at 2)
    with pytest.raises(psycopg.errors.UniqueViolation):
        with database.tenant_transaction(tenant, user) as conn:
            conn.execute("UPDATE task_steps SET step_order = 2 WHERE id = %s", (task.steps[1].id,))


def test_concurrent_edits_of_one_task_keep_it_gapless(
    database: Database, tenant: uuid.UUID, make_user: Callable[..., uuid.UUID]
) -> None:
    user = make_user(tenant)
    task = _task(database, tenant, user, 5)
    errors: list[BaseException] = []
    gaps: list[list[int]] = []

    def edit(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            try:
                with database.tenant_transaction(tenant, user) as conn:
                    current = agents.get_task(conn, task.id)
                    ids = [s.id for s in current.steps]
                    move = rng.choice(["insert", "delete", "move", "reorder"])
                    if move == "insert" and len(ids) < 12:
                        position = rng.randint(1, len(ids) + 1)
                        body = agents.StepIn(step_name="N", instructions="n", position=position)
                        after = agents.add_step(conn, task.id, body)
                    elif move == "delete" and len(ids) > 2:
                        after = agents.delete_step(conn, task.id, rng.choice(ids))
                    elif move == "move":
                        body2 = agents.StepUpdate(position=rng.randint(1, len(ids)))
                        after = agents.update_step(conn, task.id, rng.choice(ids), body2)
                    else:
                        rng.shuffle(ids)
                        after = agents.reorder_steps(conn, task.id, agents.Reorder(step_ids=ids))
                    orders = [s.step_order for s in after.steps]
                    if orders != list(range(1, len(orders) + 1)):
                        gaps.append(orders)
            except (agents.StepNotFound, InvalidInputError):
                # raced: the step read before the lock was deleted meanwhile, or the count moved
                continue
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=edit, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert gaps == []
    orders = _orders(database, tenant, task.id)
    assert orders == list(range(1, len(orders) + 1))


def test_a_reorder_that_does_not_name_every_step_once_is_422_and_changes_nothing(
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
    client: httpx.Client,
) -> None:
    tenant = tenant_factory("Reorders")
    _, key = make_key(tenant, "csm")
    body = {"name": "R", "steps": [{"step_name": f"S{i}", "instructions": "x"} for i in range(3)]}
    task = client.post("/api/agents/tasks", json=body, headers=bearer(key)).json()
    ids = [s["id"] for s in task["steps"]]
    url = f"/api/agents/tasks/{task['id']}/steps/order"
    for wrong in (
        ids[:2],  # one missing
        [*ids, ids[0]],  # one twice
        [ids[0], ids[1], str(uuid.uuid4())],  # a stranger
        [ids[0], ids[0], ids[1]],  # twice and one missing
        [],
    ):
        answer = client.put(url, json={"step_ids": wrong}, headers=bearer(key))
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    after = client.get(f"/api/agents/tasks/{task['id']}", headers=bearer(key)).json()
    assert [s["id"] for s in after["steps"]] == ids
    swapped = client.put(url, json={"step_ids": [ids[1], ids[0], ids[2]]}, headers=bearer(key))
    assert swapped.status_code == 200
    assert [s["id"] for s in swapped.json()["steps"]] == [ids[1], ids[0], ids[2]]
    assert [s["step_order"] for s in swapped.json()["steps"]] == [1, 2, 3]
