"""The Workflow API against a real server on a database of its own, seeded with the core library.

Every endpoint: success, 401, 403, 404, 409, 422 where they apply; overrides, drafts, publish,
diff and rollback round-trips; tenant isolation; two concurrent edits.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from renewflow import accounts
from renewflow.api.routes import workflows as workflow_routes
from renewflow.db import Database, Migrator
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core
from tests.api.conftest import bearer, serve_in_thread
from tests.workflows.factory import config as sample_config

PROBLEM = "application/problem+json"
Keys = Callable[..., str]


@pytest.fixture(scope="module")
def wf_database(make_database: Callable[[], str]) -> Iterator[Database]:
    """Core workflows are visible to every tenant: this module seeds them in its own database."""
    url = make_database()
    Migrator(url).migrate()
    with Database(url, max_size=8) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        yield database


@pytest.fixture(scope="module")
def wf_url(wf_database: Database) -> Iterator[str]:
    yield from serve_in_thread(wf_database)


@pytest.fixture
def http(wf_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=wf_url, timeout=10) as client:
        yield client


@pytest.fixture
def new_tenant(wf_database: Database) -> Callable[[], uuid.UUID]:
    def create() -> uuid.UUID:
        with wf_database.service_transaction() as conn:
            tenant_id: uuid.UUID = accounts.create_tenant(conn, f"WF {uuid.uuid4().hex[:6]}")["id"]
        return tenant_id

    return create


@pytest.fixture
def key_for(wf_database: Database) -> Keys:
    def create(tenant_id: uuid.UUID, role: str = "admin") -> str:
        parsed = accounts.parse_role(role)
        with wf_database.tenant_transaction(tenant_id) as conn:
            user = accounts.create_user(
                conn, email=f"{role}-{uuid.uuid4().hex[:8]}@example.com", role=parsed
            )
            key = accounts.issue_key(conn, user_id=user["id"], tenant_id=tenant_id, role=parsed)
        return key.secret

    return create


@pytest.fixture
def admin(new_tenant: Callable[[], uuid.UUID], key_for: Keys) -> dict[str, str]:
    return bearer(key_for(new_tenant(), "admin"))


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def sample(workflow_id: str = "sample", **extra: Any) -> dict[str, Any]:
    return sample_config(id=workflow_id, **extra)


def create(
    http: httpx.Client, headers: dict[str, str], workflow_id: str = "sample"
) -> httpx.Response:
    response = http.post(
        "/api/workflows",
        headers=headers,
        json={"workflowId": workflow_id, "config": sample(workflow_id)},
    )
    assert response.status_code == 201, response.text
    return response


def etag(http: httpx.Client, headers: dict[str, str], workflow_id: str) -> str:
    response = http.get(f"/api/workflows/{workflow_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


# --- GET /api/workflows and /api/workflows/{id} -------------------------------------------------


def test_list_shows_every_core_workflow(http: httpx.Client, admin: dict[str, str]) -> None:
    response = http.get("/api/workflows", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    core = {w["workflowId"]: w for w in body["workflows"] if w["isCore"]}
    assert set(core) == {c.id for c in core_library()}
    assert core["critical"]["currentVersion"] == 1
    assert core["critical"]["overridesCore"] is False
    assert "config" not in core["critical"]


def test_get_core_workflow_in_the_spec_shape(http: httpx.Client, admin: dict[str, str]) -> None:
    response = http.get("/api/workflows/critical", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    workflow = body["workflow"]
    assert {"id", "workflowId", "name", "description", "version", "isCore", "config"} <= set(
        workflow
    )
    assert workflow["workflowId"] == "critical"
    assert workflow["isCore"] is True
    assert workflow["version"] == "1.0.0"
    assert workflow["config"]["trigger"]["daysUntilRenewal"] == {"min": 7, "max": 14}
    assert workflow["draft"] is None
    assert response.headers["ETag"] == workflow["etag"]


@pytest.mark.parametrize("path", ["/api/workflows", "/api/workflows/critical"])
def test_reading_needs_a_key(http: httpx.Client, path: str) -> None:
    problem_of(http.get(path), 401)


def test_any_role_may_read(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    headers = bearer(key_for(new_tenant(), "csm"))
    assert http.get("/api/workflows", headers=headers).status_code == 200
    assert http.get("/api/workflows/overdue", headers=headers).status_code == 200


def test_unknown_workflow_is_404(http: httpx.Client, admin: dict[str, str]) -> None:
    body = problem_of(http.get("/api/workflows/no-such-thing", headers=admin), 404)
    assert body["detail"] == 'no workflow "no-such-thing"'


def test_tenant_id_query_must_be_the_callers_own(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    tenant = new_tenant()
    headers = bearer(key_for(tenant))
    ok = http.get("/api/workflows/critical", params={"tenantId": str(tenant)}, headers=headers)
    assert ok.status_code == 200
    other = http.get(
        "/api/workflows/critical", params={"tenantId": str(new_tenant())}, headers=headers
    )
    problem_of(other, 404)


# --- POST /api/workflows ------------------------------------------------------------------------


def test_create_publishes_version_1(http: httpx.Client, admin: dict[str, str]) -> None:
    response = create(http, admin)
    assert response.headers["Location"] == "/api/workflows/sample"
    workflow = response.json()["workflow"]
    assert workflow["isCore"] is False
    assert workflow["overridesCore"] is False
    assert workflow["currentVersion"] == 1
    assert workflow["config"]["id"] == "sample"
    # stored normalised: defaults filled in
    assert workflow["config"]["trigger"]["earlyTriggers"] == []
    listed = http.get("/api/workflows", headers=admin).json()["workflows"]
    assert [w["workflowId"] for w in listed if not w["isCore"]] == ["sample"]
    versions = http.get("/api/workflows/sample/versions", headers=admin).json()["versions"]
    assert [(v["version"], v["changeDescription"]) for v in versions] == [(1, "created")]


def test_create_needs_a_writer_role(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    tenant = new_tenant()
    body = {"workflowId": "sample", "config": sample()}
    problem_of(http.post("/api/workflows", json=body), 401)
    for role in ("csm", "service"):
        denied = http.post("/api/workflows", json=body, headers=bearer(key_for(tenant, role)))
        assert "admin, manager" in problem_of(denied, 403)["detail"]
    manager = http.post("/api/workflows", json=body, headers=bearer(key_for(tenant, "manager")))
    assert manager.status_code == 201


def test_invalid_config_is_422_listing_every_error_and_stores_nothing(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    config = sample()
    config["trigger"]["daysUntilRenewal"] = {"min": 9, "max": 1}
    config["steps"][0]["routing"] = {"routes": [], "defaultRoute": "escalate"}
    config["ui"] = {"artifacts": []}
    response = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "sample", "config": config}
    )
    body = problem_of(response, 422)
    assert body["errors"] == [
        {
            "field": "body.config.ui",
            "message": "UI-only key: rendering belongs to the UI, not the config",
        }
    ]
    del config["ui"]
    body = problem_of(
        http.post("/api/workflows", headers=admin, json={"workflowId": "sample", "config": config}),
        422,
    )
    assert body["errors"] == [
        {
            "field": "body.config.trigger.daysUntilRenewal",
            "message": "min (9) is greater than max (1)",
        },
        {
            "field": "body.config.steps[0].routing.defaultRoute",
            "message": 'no step named "escalate"',
        },
        {
            "field": "body.config.steps[1]",
            "message": 'step "act" cannot be reached from the first step ("assess")',
        },
    ]
    assert body["detail"].startswith("3 validation errors: body.config.trigger.daysUntilRenewal")
    problem_of(http.get("/api/workflows/sample", headers=admin), 404)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"workflowId": "other", "config": sample()},
            "body.config.id",
            'must be "other", the workflow\'s id (got "sample")',
        ),
        (
            {"workflowId": "sample", "name": "Not it", "config": sample()},
            "body.name",
            "must equal config.name (or be left out)",
        ),
        (
            {"workflowId": "tasks", "config": sample("tasks")},
            "body.config.id",
            '"tasks" is reserved (the API route /api/workflows/tasks); choose another id',
        ),
    ],
)
def test_create_rejects_inconsistent_bodies(
    http: httpx.Client, admin: dict[str, str], body: dict[str, Any], field: str, message: str
) -> None:
    errors = problem_of(http.post("/api/workflows", headers=admin, json=body), 422)["errors"]
    assert {"field": field, "message": message} in errors


def test_create_rejects_a_malformed_body(http: httpx.Client, admin: dict[str, str]) -> None:
    body = problem_of(
        http.post("/api/workflows", headers=admin, json={"workflowId": "x", "config": [1]}), 422
    )
    assert body["errors"][0]["field"] == "body.config"


def test_creating_the_same_id_twice_is_409(http: httpx.Client, admin: dict[str, str]) -> None:
    create(http, admin)
    again = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "sample", "config": sample()}
    )
    assert "already has a workflow" in problem_of(again, 409)["detail"]


# --- overrides and core read-only ---------------------------------------------------------------


def test_override_wins_for_its_tenant_only(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    a = bearer(key_for(new_tenant()))
    b = bearer(key_for(new_tenant()))
    core = http.get("/api/workflows/critical", headers=a).json()["workflow"]
    override = dict(core["config"], description="Our own critical playbook.")
    created = http.post(
        "/api/workflows", headers=a, json={"workflowId": "critical", "config": override}
    )
    assert created.status_code == 201, created.text
    mine = http.get("/api/workflows/critical", headers=a).json()["workflow"]
    assert mine["isCore"] is False
    assert mine["overridesCore"] is True
    assert mine["description"] == "Our own critical playbook."
    assert mine["id"] != core["id"]
    listed = [w for w in http.get("/api/workflows", headers=a).json()["workflows"]]
    assert [w["id"] for w in listed if w["workflowId"] == "critical"] == [mine["id"]]

    theirs = http.get("/api/workflows/critical", headers=b).json()["workflow"]
    assert theirs["id"] == core["id"]
    assert theirs["isCore"] is True

    assert http.delete("/api/workflows/critical", headers=a).status_code == 204
    assert http.get("/api/workflows/critical", headers=a).json()["workflow"]["id"] == core["id"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"config": {"id": "critical"}}),
        ("POST", "/publish", None),
        ("POST", "/rollback", {"version": 1}),
        ("DELETE", "", None),
    ],
)
def test_core_workflows_are_read_only(
    http: httpx.Client,
    admin: dict[str, str],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    tag = etag(http, admin, "critical")
    response = http.request(
        method,
        f"/api/workflows/critical{suffix}",
        headers={**admin, "If-Match": tag},
        json=body,
    )
    assert "core workflow and read-only" in problem_of(response, 403)["detail"]


# --- drafts, publish, versions, diff, rollback --------------------------------------------------


def test_draft_publish_diff_rollback_round_trip(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys, wf_database: Database
) -> None:
    tenant = new_tenant()
    headers = bearer(key_for(tenant))
    with wf_database.tenant_transaction(tenant) as conn:
        user = conn.execute("SELECT id FROM users").fetchone()
    assert user is not None
    created = create(http, headers).json()["workflow"]
    v1_config = created["config"]

    draft = sample(description="A revised sample workflow.")
    draft["steps"][1]["name"] = "Act Now"
    saved = http.put(
        "/api/workflows/sample",
        headers={**headers, "If-Match": created["etag"]},
        json={"config": draft},
    )
    assert saved.status_code == 200, saved.text
    workflow = saved.json()["workflow"]
    assert workflow["draft"]["config"] == draft
    assert workflow["draft"]["valid"] is True
    assert workflow["draft"]["updatedBy"] == str(user["id"])
    assert workflow["config"] == v1_config  # the published config is untouched
    assert workflow["currentVersion"] == 1
    assert saved.headers["ETag"] != created["etag"]

    published = http.post(
        "/api/workflows/sample/publish",
        headers=headers,
        json={"changeDescription": "Sharper step names"},
    )
    assert published.status_code == 200, published.text
    workflow = published.json()["workflow"]
    assert workflow["currentVersion"] == 2
    assert workflow["draft"] is None
    assert workflow["description"] == "A revised sample workflow."
    assert workflow["config"]["steps"][1]["name"] == "Act Now"

    versions = http.get("/api/workflows/sample/versions", headers=headers).json()["versions"]
    assert [(v["version"], v["changeDescription"], v["changedBy"]) for v in versions] == [
        (1, "created", str(user["id"])),
        (2, "Sharper step names", str(user["id"])),
    ]
    one = http.get("/api/workflows/sample/versions/1", headers=headers).json()["version"]
    assert one["config"] == v1_config

    patch = http.get("/api/workflows/sample/diff", params={"from": 1, "to": 2}, headers=headers)
    assert patch.status_code == 200
    assert patch.json() == {
        "success": True,
        "workflowId": "sample",
        "from": 1,
        "to": 2,
        "patch": [
            {"op": "replace", "path": "/description", "value": "A revised sample workflow."},
            {"op": "replace", "path": "/steps/1/name", "value": "Act Now"},
        ],
    }

    rolled = http.post("/api/workflows/sample/rollback", headers=headers, json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["workflow"]["currentVersion"] == 3
    assert rolled.json()["workflow"]["config"] == v1_config
    assert (
        http.get("/api/workflows/sample/diff", params={"from": 1, "to": 3}, headers=headers).json()[
            "patch"
        ]
        == []
    )
    versions = http.get("/api/workflows/sample/versions", headers=headers).json()["versions"]
    assert versions[-1]["changeDescription"] == "rolled back to version 1"

    again = http.post("/api/workflows/sample/rollback", headers=headers, json={"version": 1})
    assert "already the published config" in problem_of(again, 409)["detail"]


def test_put_needs_if_match(http: httpx.Client, admin: dict[str, str]) -> None:
    create(http, admin)
    missing = http.put("/api/workflows/sample", headers=admin, json={"config": sample()})
    assert "If-Match" in problem_of(missing, 428)["detail"]
    malformed = http.put(
        "/api/workflows/sample", headers={**admin, "If-Match": "7"}, json={"config": sample()}
    )
    assert problem_of(malformed, 422)["errors"][0]["field"] == "header.If-Match"


def test_stale_if_match_is_409(http: httpx.Client, admin: dict[str, str]) -> None:
    first = create(http, admin).json()["workflow"]["etag"]
    ok = http.put(
        "/api/workflows/sample", headers={**admin, "If-Match": first}, json={"config": sample()}
    )
    assert ok.status_code == 200
    stale = http.put(
        "/api/workflows/sample", headers={**admin, "If-Match": first}, json={"config": sample()}
    )
    assert "changed since you read it" in problem_of(stale, 409)["detail"]
    for method, suffix, body in (
        ("POST", "/publish", None),
        ("POST", "/rollback", {"version": 1}),
        ("DELETE", "", None),
    ):
        response = http.request(
            method,
            f"/api/workflows/sample{suffix}",
            headers={**admin, "If-Match": first},
            json=body,
        )
        problem_of(response, 409)


def test_two_concurrent_edits_one_wins_one_gets_409(
    http: httpx.Client, admin: dict[str, str], wf_url: str
) -> None:
    tag = create(http, admin).json()["workflow"]["etag"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def edit(description: str) -> None:
        with httpx.Client(base_url=wf_url, timeout=10) as own:
            barrier.wait()
            response = own.put(
                "/api/workflows/sample",
                headers={**admin, "If-Match": tag},
                json={"config": sample(description=description)},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=edit, args=(f"Edit {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]
    draft = http.get("/api/workflows/sample", headers=admin).json()["workflow"]["draft"]
    assert draft["config"]["description"] in {"Edit 0", "Edit 1"}


def test_put_errors(
    http: httpx.Client, admin: dict[str, str], new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    tag = create(http, admin).json()["workflow"]["etag"]
    headers = {**admin, "If-Match": tag}
    problem_of(http.put("/api/workflows/sample", json={"config": sample()}), 401)
    problem_of(http.put("/api/workflows/nope", headers=headers, json={"config": sample()}), 404)
    body = problem_of(http.put("/api/workflows/sample", headers=headers, json={"config": "x"}), 422)
    assert body["errors"][0]["field"] == "body.config"
    problem_of(
        http.put("/api/workflows/sample", headers=headers, json={"config": {}, "name": "x"}), 422
    )
    csm = bearer(key_for(new_tenant(), "csm"))
    problem_of(
        http.put("/api/workflows/sample", headers={**csm, "If-Match": tag}, json={"config": {}}),
        403,
    )


def test_an_invalid_draft_is_kept_but_cannot_be_published(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    tag = create(http, admin).json()["workflow"]["etag"]
    draft = sample(notifications=[])
    draft["steps"][0]["execution"]["llmPrompt"] = "{{#if customer.name}}unclosed"
    saved = http.put(
        "/api/workflows/sample", headers={**admin, "If-Match": tag}, json={"config": draft}
    )
    assert saved.status_code == 200
    assert saved.json()["workflow"]["draft"]["valid"] is False
    assert saved.json()["workflow"]["draft"]["errors"] == [
        {
            "field": "notifications",
            "message": "list should have at least 1 item after validation, not 0",
        }
    ]
    body = problem_of(http.post("/api/workflows/sample/publish", headers=admin), 422)
    assert body["errors"] == [
        {
            "field": "draft.config.notifications",
            "message": "list should have at least 1 item after validation, not 0",
        }
    ]
    draft = sample()
    draft["steps"][0]["execution"]["llmPrompt"] = "{{#if customer.name}}unclosed"
    draft["steps"][1]["execution"]["llmPrompt"] = "{{outputs.act.risk}}"
    tag = saved.headers["ETag"]
    http.put("/api/workflows/sample", headers={**admin, "If-Match": tag}, json={"config": draft})
    fields = [
        e["field"]
        for e in problem_of(http.post("/api/workflows/sample/publish", headers=admin), 422)[
            "errors"
        ]
    ]
    assert fields == [
        "draft.config.steps[0].execution.llmPrompt",
        "draft.config.steps[1].execution.llmPrompt",
    ]
    workflow = http.get("/api/workflows/sample", headers=admin).json()["workflow"]
    assert workflow["draft"] is not None
    assert workflow["currentVersion"] == 1


def test_publish_errors(
    http: httpx.Client, admin: dict[str, str], new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    create(http, admin)
    problem_of(http.post("/api/workflows/sample/publish"), 401)
    problem_of(http.post("/api/workflows/nope/publish", headers=admin), 404)
    nothing = http.post("/api/workflows/sample/publish", headers=admin)
    assert problem_of(nothing, 409)["detail"] == 'workflow "sample" has no draft to publish'
    csm = bearer(key_for(new_tenant(), "csm"))
    problem_of(http.post("/api/workflows/sample/publish", headers=csm), 403)
    problem_of(
        http.post("/api/workflows/sample/publish", headers=admin, json={"changeDescription": 5}),
        422,
    )


def test_publishing_an_unchanged_draft_writes_no_version(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    tag = create(http, admin).json()["workflow"]["etag"]
    http.put("/api/workflows/sample", headers={**admin, "If-Match": tag}, json={"config": sample()})
    published = http.post("/api/workflows/sample/publish", headers=admin)
    assert published.status_code == 200
    assert published.json()["workflow"]["currentVersion"] == 1
    assert published.json()["workflow"]["draft"] is None


def test_version_and_diff_errors(http: httpx.Client, admin: dict[str, str]) -> None:
    create(http, admin)
    problem_of(http.get("/api/workflows/sample/versions"), 401)
    problem_of(http.get("/api/workflows/sample/versions/1"), 401)
    problem_of(http.get("/api/workflows/sample/diff?from=1&to=1"), 401)
    problem_of(http.get("/api/workflows/nope/versions", headers=admin), 404)
    missing = http.get("/api/workflows/sample/versions/9", headers=admin)
    assert problem_of(missing, 404)["detail"] == 'workflow "sample" has no version 9'
    problem_of(http.get("/api/workflows/sample/versions/0", headers=admin), 422)
    problem_of(http.get("/api/workflows/sample/diff?from=1&to=9", headers=admin), 404)
    body = problem_of(http.get("/api/workflows/sample/diff?from=1", headers=admin), 422)
    assert body["errors"][0]["field"] == "query.to"
    same = http.get("/api/workflows/sample/diff?from=1&to=1", headers=admin)
    assert same.json()["patch"] == []
    core = http.get("/api/workflows/critical/versions", headers=admin).json()["versions"]
    assert [v["version"] for v in core] == [1]


def test_rollback_errors(
    http: httpx.Client, admin: dict[str, str], new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    create(http, admin)
    problem_of(http.post("/api/workflows/sample/rollback", json={"version": 1}), 401)
    problem_of(http.post("/api/workflows/nope/rollback", headers=admin, json={"version": 1}), 404)
    problem_of(http.post("/api/workflows/sample/rollback", headers=admin, json={"version": 4}), 404)
    problem_of(http.post("/api/workflows/sample/rollback", headers=admin, json={"version": 0}), 422)
    problem_of(http.post("/api/workflows/sample/rollback", headers=admin, json={}), 422)
    csm = bearer(key_for(new_tenant(), "csm"))
    problem_of(http.post("/api/workflows/sample/rollback", headers=csm, json={"version": 1}), 403)


def test_delete(
    http: httpx.Client, admin: dict[str, str], new_tenant: Callable[[], uuid.UUID], key_for: Keys
) -> None:
    create(http, admin)
    problem_of(http.delete("/api/workflows/sample"), 401)
    csm = bearer(key_for(new_tenant(), "csm"))
    problem_of(http.delete("/api/workflows/sample", headers=csm), 403)
    problem_of(http.delete("/api/workflows/nope", headers=admin), 404)
    tag = etag(http, admin, "sample")
    deleted = http.delete("/api/workflows/sample", headers={**admin, "If-Match": tag})
    assert deleted.status_code == 204
    assert deleted.content == b""
    problem_of(http.get("/api/workflows/sample", headers=admin), 404)
    problem_of(http.get("/api/workflows/sample/versions", headers=admin), 404)


def test_a_workflow_with_executions_cannot_be_deleted(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys, wf_database: Database
) -> None:
    tenant = new_tenant()
    headers = bearer(key_for(tenant))
    workflow = create(http, headers).json()["workflow"]
    with wf_database.tenant_transaction(tenant) as conn:
        customer = conn.execute(
            "INSERT INTO customers (tenant_id, name) VALUES (%s, 'Acme') RETURNING id", (tenant,)
        ).fetchone()
        assert customer is not None
        conn.execute(
            "INSERT INTO workflow_executions (tenant_id, customer_id, workflow_id, workflow_version)"
            " VALUES (%s, %s, %s, 1)",
            (tenant, customer["id"], workflow["id"]),
        )
    refused = http.delete("/api/workflows/sample", headers=headers)
    assert "executions were started" in problem_of(refused, 409)["detail"]


# --- tenant isolation ----------------------------------------------------------------------------


def test_tenant_b_never_sees_tenant_a_workflows_or_versions(
    http: httpx.Client, new_tenant: Callable[[], uuid.UUID], key_for: Keys, wf_database: Database
) -> None:
    tenant_a, tenant_b = new_tenant(), new_tenant()
    a, b = bearer(key_for(tenant_a)), bearer(key_for(tenant_b))
    workflow = create(http, a, "secret-playbook").json()["workflow"]
    listed = http.get("/api/workflows", headers=b).json()["workflows"]
    assert "secret-playbook" not in {w["workflowId"] for w in listed}
    for path in (
        "/api/workflows/secret-playbook",
        "/api/workflows/secret-playbook/versions",
        "/api/workflows/secret-playbook/versions/1",
        "/api/workflows/secret-playbook/diff?from=1&to=1",
    ):
        problem_of(http.get(path, headers=b), 404)
    problem_of(
        http.put(
            "/api/workflows/secret-playbook",
            headers={**b, "If-Match": workflow["etag"]},
            json={"config": {}},
        ),
        404,
    )
    problem_of(http.delete("/api/workflows/secret-playbook", headers=b), 404)
    problem_of(http.post("/api/workflows/secret-playbook/publish", headers=b), 404)

    # the same through SQL, as the app role in tenant B's transaction
    with wf_database.tenant_transaction(tenant_b) as conn:
        rows = conn.execute(
            "SELECT count(*) AS n FROM workflows WHERE id = %s", (workflow["id"],)
        ).fetchone()
        versions = conn.execute(
            "SELECT count(*) AS n FROM workflow_versions WHERE workflow_id = %s", (workflow["id"],)
        ).fetchone()
        through_helper = conn.execute(
            "SELECT workflow_id FROM get_tenant_workflows(%s) WHERE NOT is_core", (tenant_a,)
        ).fetchall()
        one = conn.execute(
            "SELECT * FROM get_workflow('secret-playbook', %s)", (tenant_a,)
        ).fetchall()
    assert rows is not None
    assert rows["n"] == 0
    assert versions is not None
    assert versions["n"] == 0
    assert through_helper == []
    assert one == []
    # B may even create its own workflow of the same id, independent of A's
    create(http, b, "secret-playbook")
    assert (
        http.get("/api/workflows/secret-playbook", headers=a).json()["workflow"]["id"]
        == workflow["id"]
    )


# --- routing next to the other /api/workflows routers -------------------------------------------


def test_reserved_segments_are_left_to_their_own_routers() -> None:
    other = APIRouter(prefix="/api/workflows")

    @other.get("/tasks")
    def tasks() -> dict[str, str]:
        return {"router": "tasks"}

    @other.get("/context/{customer_id}")
    def context(customer_id: str) -> dict[str, str]:
        return {"router": "context", "customer": customer_id}

    app = FastAPI()
    app.include_router(workflow_routes.router)  # ours first: the worst case
    app.include_router(other)
    with TestClient(app) as client:
        assert client.get("/api/workflows/tasks").json() == {"router": "tasks"}
        assert client.get("/api/workflows/context/c1").json() == {
            "router": "context",
            "customer": "c1",
        }
        assert client.get("/api/workflows/executions/versions").status_code == 404


def test_openapi_documents_the_workflow_routes(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert {
        "/api/workflows",
        "/api/workflows/{workflow_id}",
        "/api/workflows/{workflow_id}/publish",
        "/api/workflows/{workflow_id}/versions",
        "/api/workflows/{workflow_id}/versions/{version}",
        "/api/workflows/{workflow_id}/diff",
        "/api/workflows/{workflow_id}/rollback",
    } <= set(paths)
    assert set(paths["/api/workflows/{workflow_id}"]) == {"get", "put", "delete"}
