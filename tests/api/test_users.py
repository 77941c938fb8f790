"""`/api/users`: creating people and changing their role, manager and time zone (admins only,
all of a change or none of it), managers without cycles, another tenant's user answered exactly
like a missing one, deactivation stopping the user's key at once, and reassigning their work."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renewflow import accounts
from renewflow.db import Database
from tests.api.conftest import bearer
from tests.api.test_auth_and_errors import assert_problem
from tests.tasks.helpers import make_world, new_task

KeyFactory = Callable[..., tuple[uuid.UUID, str]]


@pytest.fixture
def admin(
    client: httpx.Client, tenant_factory: Callable[..., uuid.UUID], make_key: KeyFactory
) -> tuple[uuid.UUID, httpx.Client]:
    """A tenant and a client with its admin's key."""
    tenant = tenant_factory("Users")
    _, key = make_key(tenant, "admin")
    client.headers.update(bearer(key))
    return tenant, client


def _create(http: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("email", f"p-{uuid.uuid4().hex[:8]}@vendor.example")
    body.setdefault("role", "csm")
    answer = http.post("/api/users", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == f"/api/users/{answer.json()['id']}"
    created: dict[str, Any] = answer.json()
    return created


def _errors(answer: httpx.Response) -> list[str]:
    return [error["field"] for error in answer.json().get("errors", [])]


def test_create_a_person_with_a_manager_and_a_time_zone(
    admin: tuple[uuid.UUID, httpx.Client],
) -> None:
    _, http = admin
    lead = _create(http, role="manager", name="Lee Lead")
    csm = _create(
        http, email="casey@vendor.example", manager_id=lead["id"], time_zone="europe/berlin"
    )
    assert csm["manager_id"] == lead["id"]
    assert csm["manager_email"] == lead["email"]
    assert csm["time_zone"] == "Europe/Berlin"
    assert csm["active"] is True
    assert http.get(f"/api/users/{csm['id']}").json() == csm
    listed = http.get("/api/users", params={"role": "csm"}).json()
    assert [u["email"] for u in listed] == ["casey@vendor.example"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "role": "csm"}, "body.email"),
        ({"email": "a@vendor.example", "role": "boss"}, "body.role"),
        ({"email": "a@vendor.example", "role": "csm", "time_zone": "Mars/Base"}, "body.time_zone"),
        ({"email": "a@vendor.example", "role": "csm", "name": "n" * 256}, "body.name"),
        ({"email": "a@vendor.example", "role": "csm", "boss": "x"}, "body.boss"),
    ],
)
def test_bad_input_for_a_new_person_names_the_field(
    admin: tuple[uuid.UUID, httpx.Client], body: dict[str, Any], field: str
) -> None:
    _, http = admin
    answer = http.post("/api/users", json=body)
    assert_problem(answer, 422)
    assert _errors(answer) == [field]
    assert len(http.get("/api/users").json()) == 1  # only the admin


def test_a_duplicate_email_is_a_conflict(admin: tuple[uuid.UUID, httpx.Client]) -> None:
    _, http = admin
    _create(http, email="dana@vendor.example")
    assert_problem(
        http.post("/api/users", json={"email": "DANA@vendor.example", "role": "csm"}), 409
    )


def test_patch_changes_what_is_sent_and_null_clears(
    admin: tuple[uuid.UUID, httpx.Client],
) -> None:
    _, http = admin
    lead = _create(http, role="manager")
    csm = _create(http, name="Casey", time_zone="Asia/Tokyo")
    changed = http.patch(
        f"/api/users/{csm['id']}", json={"manager_id": lead["id"], "role": "manager"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["manager_id"], body["role"], body["name"], body["time_zone"]) == (
        lead["id"],
        "manager",
        "Casey",
        "Asia/Tokyo",
    )
    cleared = http.patch(
        f"/api/users/{csm['id']}", json={"manager_id": None, "time_zone": None, "name": None}
    ).json()
    assert (cleared["manager_id"], cleared["time_zone"], cleared["name"]) == (None, None, None)
    assert cleared["role"] == "manager"


def test_a_cycle_is_422_at_the_manager_field(admin: tuple[uuid.UUID, httpx.Client]) -> None:
    _, http = admin
    a, b, c = (_create(http, role="manager") for _ in range(3))
    assert http.patch(f"/api/users/{a['id']}", json={"manager_id": b["id"]}).status_code == 200
    assert http.patch(f"/api/users/{b['id']}", json={"manager_id": c["id"]}).status_code == 200
    for user, manager in ((b, a), (c, a), (a, a)):
        answer = http.patch(f"/api/users/{user['id']}", json={"manager_id": manager["id"]})
        assert_problem(answer, 422)
        assert _errors(answer) == ["body.manager_id"]
    assert http.get(f"/api/users/{c['id']}").json()["manager_id"] is None


def test_another_tenants_user_as_manager_is_answered_like_a_missing_one(
    admin: tuple[uuid.UUID, httpx.Client],
    tenant_factory: Callable[..., uuid.UUID],
    make_key: KeyFactory,
) -> None:
    _, http = admin
    csm = _create(http)
    stranger, _ = make_key(tenant_factory("Other"), "manager")
    answers = []
    for manager in (stranger, uuid.uuid4()):
        patched = http.patch(f"/api/users/{csm['id']}", json={"manager_id": str(manager)})
        created = http.post(
            "/api/users",
            json={"email": "new@vendor.example", "role": "csm", "manager_id": str(manager)},
        )
        for answer in (patched, created):
            assert_problem(answer, 422)
            answers.append(answer.json())
    assert answers[0] == answers[2]
    assert answers[1] == answers[3]
    assert answers[0]["errors"] == [{"field": "body.manager_id", "message": "no such user"}]
    # and another tenant's user by id, as a path: 404 like any unknown id
    assert_problem(http.patch(f"/api/users/{stranger}", json={"name": "x"}), 404)
    assert_problem(http.get(f"/api/users/{stranger}"), 404)


def test_a_bad_field_changes_nothing(admin: tuple[uuid.UUID, httpx.Client]) -> None:
    _, http = admin
    lead = _create(http, role="manager")
    csm = _create(http, name="Casey")
    for body, field in (
        ({"name": "Renamed", "manager_id": lead["id"], "time_zone": "Not/AZone"}, "body.time_zone"),
        ({"name": "Renamed", "role": None}, "body.role"),
        ({"name": "Renamed", "active": None}, "body.active"),
        ({"name": "Renamed", "role": "owner"}, "body.role"),
    ):
        answer = http.patch(f"/api/users/{csm['id']}", json=body)
        assert_problem(answer, 422)
        assert _errors(answer) == [field]
    after = http.get(f"/api/users/{csm['id']}").json()
    assert (after["name"], after["manager_id"], after["time_zone"]) == ("Casey", None, None)


@pytest.mark.parametrize("role", ["manager", "csm", "service"])
def test_only_admins_write_people(
    client: httpx.Client,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: KeyFactory,
    role: str,
) -> None:
    tenant = tenant_factory()
    target, _ = make_key(tenant, "csm")
    other, _ = make_key(tenant, "manager")
    _, key = make_key(tenant, role)
    headers = bearer(key)
    for method, path, body in (
        ("POST", "/api/users", {"email": "x@vendor.example", "role": "admin"}),
        ("PATCH", f"/api/users/{target}", {"role": "admin"}),
        ("PATCH", f"/api/users/{target}", {"active": False}),
        ("POST", f"/api/users/{target}/reassign", {"to": str(other)}),
    ):
        answer = client.request(method, path, json=body, headers=headers)
        assert "admin" in assert_problem(answer, 403)["detail"]
    _, admin_key = make_key(tenant, "admin")
    user = client.get(f"/api/users/{target}", headers=bearer(admin_key)).json()
    assert (user["role"], user["active"]) == ("csm", True)


def test_deactivation_stops_the_key_at_once_and_the_work_can_be_reassigned(
    client: httpx.Client, database: Database, make_key: KeyFactory
) -> None:
    world = make_world(database, "Leaver")
    leaver = world.user_id
    with database.tenant_transaction(world.tenant_id) as conn:
        key = accounts.issue_key(
            conn, user_id=leaver, tenant_id=world.tenant_id, role=accounts.Role.CSM
        ).secret
        task_ids = [str(new_task(conn, world, assigned_to=leaver).id) for _ in range(3)]
    heir, _ = make_key(world.tenant_id, "csm")
    _, admin_key = make_key(world.tenant_id, "admin")
    admin = bearer(admin_key)
    assert client.get("/api/me", headers=bearer(key)).status_code == 200  # remembered now

    off = client.patch(f"/api/users/{leaver}", json={"active": False}, headers=admin)
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    assert_problem(client.get("/api/me", headers=bearer(key)), 401)
    assert_problem(client.get("/api/workflows/tasks", headers=bearer(key)), 401)

    mine = client.get(
        "/api/workflows/tasks", params={"assigned_to": str(leaver)}, headers=admin
    ).json()
    assert sorted(t["id"] for t in mine["items"]) == sorted(task_ids)  # their tasks stay
    moved = client.post(f"/api/users/{leaver}/reassign", json={"to": str(heir)}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"tasks": 3, "customers": 1, "escalations": 0}
    theirs = client.get(
        "/api/workflows/tasks", params={"assigned_to": str(heir)}, headers=admin
    ).json()
    assert sorted(t["id"] for t in theirs["items"]) == sorted(task_ids)
    customer = client.get(f"/api/customers/{world.customer_id}", headers=admin).json()
    assert customer["csmEmail"] == client.get(f"/api/users/{heir}", headers=admin).json()["email"]

    back = client.patch(f"/api/users/{leaver}", json={"active": True}, headers=admin)
    assert back.json()["active"] is True
    assert client.get("/api/me", headers=bearer(key)).status_code == 200


def test_reassigning_refuses_a_missing_or_foreign_target_alike(
    admin: tuple[uuid.UUID, httpx.Client],
    tenant_factory: Callable[..., uuid.UUID],
    make_key: KeyFactory,
) -> None:
    _, http = admin
    csm = _create(http)
    stranger, _ = make_key(tenant_factory("Other"), "csm")
    answers = [
        http.post(f"/api/users/{csm['id']}/reassign", json={"to": str(target)})
        for target in (stranger, uuid.uuid4())
    ]
    for answer in answers:
        assert_problem(answer, 422)
    assert answers[0].json() == answers[1].json()
    assert _errors(answers[0]) == ["body.to"]
    same = http.post(f"/api/users/{csm['id']}/reassign", json={"to": csm["id"]})
    assert_problem(same, 422)
    assert _errors(same) == ["body.to"]
    assert_problem(http.post(f"/api/users/{uuid.uuid4()}/reassign", json={"to": csm["id"]}), 404)


def test_an_admin_cannot_lock_themselves_out(
    client: httpx.Client, tenant_factory: Callable[..., uuid.UUID], make_key: KeyFactory
) -> None:
    tenant = tenant_factory()
    me, key = make_key(tenant, "admin")
    for body, field in (({"active": False}, "body.active"), ({"role": "csm"}, "body.role")):
        answer = client.patch(f"/api/users/{me}", json=body, headers=bearer(key))
        assert_problem(answer, 422)
        assert _errors(answer) == [field]
    assert client.get("/api/me", headers=bearer(key)).json()["role"] == "admin"


def test_a_demoted_admins_key_is_demoted_with_them(
    client: httpx.Client, tenant_factory: Callable[..., uuid.UUID], make_key: KeyFactory
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant, "admin")
    other, other_key = make_key(tenant, "admin")
    demoted = client.patch(f"/api/users/{other}", json={"role": "csm"}, headers=bearer(key))
    assert demoted.json()["role"] == "csm"
    assert client.get("/api/me", headers=bearer(other_key)).json()["role"] == "csm"
    answer = client.post(
        "/api/users", json={"email": "x@vendor.example", "role": "csm"}, headers=bearer(other_key)
    )
    assert_problem(answer, 403)


def test_openapi_documents_the_people_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/users"])
    assert {"get", "patch"} <= set(paths["/api/users/{user_id}"])
    assert "post" in paths["/api/users/{user_id}/reassign"]
