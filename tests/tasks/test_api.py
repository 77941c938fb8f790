"""The tasks API over real HTTP: status codes, validation naming the field, tenancy."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from renewflow.db import Database
from tests.api.conftest import bearer, serve_in_thread
from tests.tasks.helpers import World, make_world

BASE = "/api/workflows/tasks"


@pytest.fixture(scope="module")
def tasks_url(database: Database) -> Iterator[str]:
    yield from serve_in_thread(database)


@pytest.fixture
def api(tasks_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tasks_url, timeout=10) as http:
        yield http


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


@pytest.fixture
def key(world: World, make_key: Callable[..., tuple[uuid.UUID, str]]) -> dict[str, str]:
    return bearer(make_key(world.tenant_id, "manager")[1])


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow_execution_id": str(world.execution_id),
        "customer_id": str(world.customer_id),
        "task_type": "CSM_TASK",
        "owner": "CSM",
        "action": "Schedule CFO meeting",
        "description": "Set up a 30-minute intro call",
        "priority": 2,
    }
    body.update(overrides)
    return body


def _create(
    api: httpx.Client, key: dict[str, str], world: World, **overrides: Any
) -> dict[str, Any]:
    response = api.post(BASE, json=_body(world, **overrides), headers=key)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_no_key_is_401(api: httpx.Client) -> None:
    assert api.get(BASE).status_code == 401


def test_create_and_read(api: httpx.Client, key: dict[str, str], world: World) -> None:
    ai = _create(
        api,
        key,
        world,
        task_type="AI_TASK",
        owner="AI",
        auto_execute=True,
        processor="salesforce-contact-updater.js",
        estimated_completion_time="Within 15 minutes",
        metadata={"newContact": {"name": "Eric Estrada"}},
    )
    assert ai["execution_status"] == "queued"
    assert ai["status"] == "pending"
    assert ai["surfaced_in_workflow_ids"] == [str(world.execution_id)]
    got = api.get(f"{BASE}/{ai['id']}", headers=key)
    assert got.status_code == 200
    assert got.json()["metadata"] == {"newContact": {"name": "Eric Estrada"}}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"task_type": "ROBOT_TASK"}, "body.task_type"),
        ({"owner": "Bob"}, "body.owner"),
        ({"priority": 9}, "body.priority"),
        ({"status": "done"}, "body.status"),
        ({"status": "completed"}, "body.status"),
        ({"complexity": "epic"}, "body.complexity"),
        ({"customer_id": "acme"}, "body.customer_id"),
        ({"auto_execute": True}, "body.auto_execute"),
        ({"customer_id": str(uuid.uuid4())}, "body.customer_id"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api: httpx.Client, key: dict[str, str], world: World, overrides: dict[str, Any], field: str
) -> None:
    response = api.post(BASE, json=_body(world, **overrides), headers=key)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def _task_count(database: Database, world: World) -> int:
    with database.tenant_transaction(world.tenant_id) as conn:
        row = conn.execute("SELECT count(*) AS n FROM workflow_tasks").fetchone()
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize("auto_execute", [True, False])
def test_an_unknown_processor_is_422_listing_the_known_ones(
    api: httpx.Client, key: dict[str, str], world: World, database: Database, auto_execute: bool
) -> None:
    before = _task_count(database, world)
    body = _body(
        world, task_type="AI_TASK", owner="AI", auto_execute=auto_execute, processor="crm-magic"
    )
    response = api.post(BASE, json=body, headers=key)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "body.processor"
    assert "unknown processor 'crm-magic'" in error["message"]
    for known in ("draft-email", "noop", "post-webhook", "update-contact"):
        assert known in error["message"]
    assert _task_count(database, world) == before  # nothing written


def test_patching_in_an_unknown_processor_is_422(
    api: httpx.Client, key: dict[str, str], world: World
) -> None:
    task = _create(api, key, world, task_type="AI_TASK", owner="AI", processor="noop")
    response = api.patch(f"{BASE}/{task['id']}", json={"processor": "crm-magic"}, headers=key)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.processor"]
    assert api.get(f"{BASE}/{task['id']}", headers=key).json()["processor"] == "noop"
    response = api.patch(f"{BASE}/{task['id']}", json={"processor": "draft-email"}, headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["processor"] == "draft-email"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "query.status"),
        ("owner=robot", "query.owner"),
        ("priority=0", "query.priority"),
        ("execution_status=paused", "query.execution_status"),
        ("sort=colour", "query.sort"),
        ("due_before=tomorrow", "query.due_before"),
    ],
)
def test_bad_filters_are_422(
    api: httpx.Client, key: dict[str, str], query: str, field: str
) -> None:
    response = api.get(f"{BASE}?{query}", headers=key)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_other_tenants_tasks_are_404(
    api: httpx.Client,
    key: dict[str, str],
    world: World,
    database: Database,
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> None:
    other = make_world(database, "Other")
    other_key = bearer(make_key(other.tenant_id, "admin")[1])
    foreign = _create(api, other_key, other)
    assert api.get(f"{BASE}/{foreign['id']}", headers=key).status_code == 404
    assert api.post(f"{BASE}/{foreign['id']}/complete", headers=key).status_code == 404
    response = api.post(BASE, json=_body(world, parent_task_id=foreign["id"]), headers=key)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_filters_sorting_and_pagination(
    api: httpx.Client,
    key: dict[str, str],
    world: World,
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> None:
    csm_id, _ = make_key(world.tenant_id, "csm")
    for priority, due in ((3, "2026-12-20"), (1, "2026-12-10"), (5, None)):
        _create(api, key, world, priority=priority, due_date=due, assigned_to=str(csm_id))
    ai = _create(
        api, key, world, task_type="AI_TASK", owner="AI", auto_execute=True, processor="noop"
    )

    def ids(query: str) -> list[int]:
        response = api.get(f"{BASE}?customer_id={world.customer_id}&{query}", headers=key)
        assert response.status_code == 200, response.text
        return [t["priority"] for t in response.json()["items"]]

    assert ids("owner=CSM") == [1, 3, 5]
    assert ids("owner=CSM&order=desc") == [5, 3, 1]
    assert ids("owner=CSM&sort=due_date&order=desc") == [3, 1, 5]
    assert ids("due_before=2026-12-15") == [1]
    assert ids("due_after=2026-12-15") == [3]
    assert ids(f"assigned_to={csm_id}&priority=3") == [3]
    assert ids("auto_execute=true&execution_status=queued") == [ai["priority"]]
    assert ids("task_type=AI_TASK&status=pending") == [ai["priority"]]
    page = api.get(f"{BASE}?customer_id={world.customer_id}&limit=2&offset=2", headers=key).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 2, 2, 2)
    past_end = api.get(f"{BASE}?customer_id={world.customer_id}&offset=10", headers=key).json()
    assert (past_end["total"], past_end["items"]) == (4, [])


def test_patch(api: httpx.Client, key: dict[str, str], world: World) -> None:
    task = _create(api, key, world)
    url = f"{BASE}/{task['id']}"
    changed = api.patch(
        url, json={"priority": 1, "status": "in_progress", "due_date": "2027-01-05"}, headers=key
    )
    assert changed.status_code == 200
    assert (changed.json()["priority"], changed.json()["status"]) == (1, "in_progress")
    assert changed.json()["due_date"] == "2027-01-05"
    assert api.patch(url, json={"due_date": None}, headers=key).json()["due_date"] is None
    bad = api.patch(url, json={"status": "completed"}, headers=key)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.status"
    assert api.patch(url, json={"priority": 0}, headers=key).status_code == 422
    stranger = api.patch(url, json={"assigned_to": str(uuid.uuid4())}, headers=key)
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["field"] == "body.assigned_to"


def test_tree_and_the_moves(api: httpx.Client, key: dict[str, str], world: World) -> None:
    parent = _create(api, key, world, complexity="complex")
    subs = [_create(api, key, world, parent_task_id=parent["id"]) for _ in range(2)]
    tree = api.get(f"{BASE}/{parent['id']}/tree", headers=key)
    assert tree.status_code == 200
    assert {c["id"] for c in tree.json()["children"]} == {s["id"] for s in subs}

    done = api.post(f"{BASE}/{subs[0]['id']}/complete", headers=key)
    assert (done.status_code, done.json()["status"]) == (200, "completed")
    assert api.post(f"{BASE}/{subs[0]['id']}/complete", headers=key).status_code == 409
    no_reason = api.post(f"{BASE}/{subs[1]['id']}/skip", json={"reason": " "}, headers=key)
    assert (no_reason.status_code, no_reason.json()["errors"][0]["field"]) == (422, "body.reason")
    missing = api.post(f"{BASE}/{subs[1]['id']}/skip", json={}, headers=key)
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (422, "body.reason")
    skipped = api.post(f"{BASE}/{subs[1]['id']}/skip", json={"reason": "done by AE"}, headers=key)
    assert skipped.status_code == 200
    assert api.get(f"{BASE}/{parent['id']}", headers=key).json()["status"] == "completed"
    assert api.post(f"{BASE}/{subs[1]['id']}/reopen", headers=key).status_code == 200
    assert api.get(f"{BASE}/{parent['id']}", headers=key).json()["status"] == "pending"
    assert api.post(f"{BASE}/{parent['id']}/reopen", headers=key).status_code == 409
    cancelled = api.post(f"{BASE}/{subs[1]['id']}/cancel", headers=key)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


def test_snooze_and_the_decision(
    api: httpx.Client, key: dict[str, str], world: World, database: Database
) -> None:
    task = _create(api, key, world)
    url = f"{BASE}/{task['id']}/snooze"
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    snoozed = api.post(url, json={"until": until}, headers=key)
    assert snoozed.status_code == 200
    assert (snoozed.json()["status"], snoozed.json()["snooze_count"]) == ("snoozed", 1)
    assert api.post(url, json={"until": "soon"}, headers=key).status_code == 422
    too_far = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    far = api.post(url, json={"until": too_far}, headers=key)
    assert (far.status_code, far.json()["errors"][0]["field"]) == (422, "body.until")
    with database.tenant_transaction(world.tenant_id) as conn:
        conn.execute(
            "UPDATE workflow_tasks SET snooze_deadline = now() - interval '1 second' WHERE id = %s",
            (task["id"],),
        )
    refused = api.post(url, json={"until": until}, headers=key)
    assert refused.status_code == 409
    assert "decision is required" in refused.json()["detail"]
    assert api.get(f"{BASE}/{task['id']}", headers=key).json()["requires_decision"] is True


def test_execute(
    api: httpx.Client,
    key: dict[str, str],
    world: World,
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> None:
    csm_task = _create(api, key, world)
    refused = api.post(f"{BASE}/{csm_task['id']}/execute", headers=key)
    assert refused.status_code == 409
    assert "only AI tasks execute" in refused.json()["detail"]
    ai = _create(api, key, world, task_type="AI_TASK", owner="AI", processor="noop")
    assert ai["execution_status"] is None
    csm_key = bearer(make_key(world.tenant_id, "csm")[1])
    assert api.post(f"{BASE}/{ai['id']}/execute", headers=csm_key).status_code == 403
    queued = api.post(f"{BASE}/{ai['id']}/execute", headers=key)
    assert queued.status_code == 202
    assert (queued.json()["execution_status"], queued.json()["auto_execute"]) == ("queued", True)
    assert api.post(f"{BASE}/{uuid.uuid4()}/execute", headers=key).status_code == 404
