"""Bad input is a 4xx naming the field, never a 500 (docs/api.md, "Input limits")."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from renewflow import accounts, tasks
from renewflow.db import Database
from renewflow.limits import JSON_MAX_DEPTH, MAX_BODY_BYTES, OFFSET_MAX
from renewflow.tasks import Task
from renewflow.workflows.files import core_library
from renewflow.workflows.seed import seed_core
from tests.api.conftest import bearer, serve_in_thread
from tests.api.test_auth_and_errors import assert_problem
from tests.db.dirty import dirty_database
from tests.tasks.helpers import World, make_world, task_data

CUSTOMER = {"name": "Limits Co", "arr": 1000, "renewalDate": "2027-06-30"}
LISTS = ["/api/customers", "/api/users", "/api/workflows/tasks", "/api/notifications"]


def fields(response: httpx.Response, status: int = 422) -> list[str]:
    return [error["field"] for error in assert_problem(response, status).get("errors", [])]


@pytest.fixture
def key(tenant_factory: Callable[..., uuid.UUID], make_key: Any) -> str:
    secret: str = make_key(tenant_factory("Limits"))[1]
    return secret


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"offset": 2**63}, "query.offset"),
        ({"offset": 2**64 + 7}, "query.offset"),
        ({"offset": OFFSET_MAX + 1}, "query.offset"),
        ({"offset": -1}, "query.offset"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"limit": 2**63}, "query.limit"),
    ],
)
def test_pagination_out_of_range_is_422(
    client: httpx.Client, key: str, path: str, query: dict[str, int], field: str
) -> None:
    assert fields(client.get(path, params=query, headers=bearer(key))) == [field]


@pytest.mark.parametrize("path", LISTS)
def test_the_largest_offset_is_served(client: httpx.Client, key: str, path: str) -> None:
    response = client.get(path, params={"offset": OFFSET_MAX, "limit": 500}, headers=bearer(key))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tier": "t" * 51}, "body.tier"),
        ({"segment": "s" * 51}, "body.segment"),
        ({"domain": "d" * 256}, "body.domain"),
        ({"industry": "i" * 256}, "body.industry"),
        ({"externalId": "e" * 256}, "body.externalId"),
        ({"name": "n" * 256}, "body.name"),
        ({"csmEmail": "a" * 64 + "@" + "b" * 300 + ".example"}, "body.csmEmail"),
        ({"currency": "EURO"}, "body.currency"),
        ({"arr": "1e400"}, "body.arr"),
        ({"arr": 1e12}, "body.arr"),
        ({"arr": -1}, "body.arr"),
        ({"healthScore": 101}, "body.healthScore"),
        ({"healthScore": 2**63}, "body.healthScore"),
        ({"renewalDate": "0001-01-01"}, "body.renewalDate"),
        ({"renewalDate": "9999-12-31"}, "body.renewalDate"),
        ({"engagement": {"logins": [1, 10**400]}}, "body.engagement"),
    ],
)
def test_customer_fields_out_of_limits_are_named(
    client: httpx.Client, key: str, extra: dict[str, Any], field: str
) -> None:
    response = client.post("/api/customers", json={**CUSTOMER, **extra}, headers=bearer(key))
    assert fields(response) == [field]


def test_strings_at_their_column_length_are_stored(client: httpx.Client, key: str) -> None:
    body = {
        **CUSTOMER,
        "tier": "t" * 50,
        "segment": "s" * 50,
        "domain": "d" * 255,
        "industry": "i" * 255,
        "externalId": "e" * 255,
    }
    created = client.post("/api/customers", json=body, headers=bearer(key))
    assert created.status_code == 201, created.text
    contact = {"name": "Pat", "title": "t" * 255, "externalId": "x" * 255, "role": "r" * 100}
    added = client.post(
        f"/api/customers/{created.json()['id']}/contacts", json=contact, headers=bearer(key)
    )
    assert added.status_code == 201, added.text


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"title": "t" * 256}, "body.title"),
        ({"externalId": "x" * 256}, "body.externalId"),
        ({"role": "r" * 101}, "body.role"),
        ({"name": "n" * 256}, "body.name"),
    ],
)
def test_contact_fields_out_of_limits_are_named(
    client: httpx.Client, key: str, extra: dict[str, Any], field: str
) -> None:
    customer = client.post("/api/customers", json=CUSTOMER, headers=bearer(key)).json()
    response = client.post(
        f"/api/customers/{customer['id']}/contacts",
        json={"name": "Pat", **extra},
        headers=bearer(key),
    )
    assert fields(response) == [field]


@pytest.mark.parametrize("value", ["1e400", "-1e400", '"1e400"', '"-1e400"', '"NaN"', "1e16"])
def test_usage_values_out_of_range_are_refused_and_nothing_poisons_the_context(
    client: httpx.Client, key: str, value: str
) -> None:
    customer = client.post("/api/customers", json=CUSTOMER, headers=bearer(key)).json()
    raw = (
        '[{"metricName": "logins", "metricDate": "2026-01-01", "value": 10},'
        f' {{"metricName": "logins", "metricDate": "2026-02-01", "value": {value}}}]'
    )
    response = client.post(
        f"/api/customers/{customer['id']}/usage",
        content=raw.encode(),
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert fields(response) == ["body[1].value"]
    context = client.get(f"/api/workflows/context/{customer['id']}", headers=bearer(key))
    assert context.status_code == 200, context.text


def test_usage_values_are_rounded_to_ten_places(
    client: httpx.Client, database: Database, key: str
) -> None:
    customer = client.post("/api/customers", json=CUSTOMER, headers=bearer(key)).json()
    response = client.post(
        f"/api/customers/{customer['id']}/usage",
        json=[{"metricName": "ratio", "metricDate": "2026-01-01", "value": 0.1 + 0.2}],
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    context = client.get(f"/api/workflows/context/{customer['id']}", headers=bearer(key)).json()
    assert context["context"]["data"]["usage"]["metrics"] == {"ratio": 0.3}


def test_a_customer_with_values_stored_before_the_limits_is_served(
    make_database: Callable[[], str],
) -> None:
    """NaN, ±1e400 and 1e16 usage values, a NaN ARR, a 400-digit JSON number: the context, the
    sweep and the customer's reads answer 200, the values read as missing."""
    dirty = dirty_database(make_database)
    with Database(dirty.url, max_size=4) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        with database.tenant_transaction(dirty.tenant_id) as conn:
            # the fixture's execution runs a placeholder workflow: out of the way
            conn.execute(
                "UPDATE workflow_executions SET status = 'cancelled', completed_at = now()"
            )
            user = accounts.create_user(conn, email="admin@dirty.example", role=accounts.Role.ADMIN)
            key = accounts.issue_key(
                conn, user_id=user["id"], tenant_id=dirty.tenant_id, role=accounts.Role.ADMIN
            ).secret
        for url in serve_in_thread(database):
            with httpx.Client(base_url=url, headers=bearer(key), timeout=30) as http:
                context = http.get(f"/api/workflows/context/{dirty.customer_id}")
                assert context.status_code == 200, context.text
                data = context.json()["context"]["data"]
                assert data["usage"]["metrics"] == {"fine": 7, "future": 1}
                assert data["engagement"] == {"logins": None, "tickets": 3}
                customer = http.get(f"/api/customers/{dirty.customer_id}")
                assert customer.status_code == 200, customer.text
                swept = http.post("/api/workflows/sweep")
                assert swept.status_code == 200, swept.text
                started = http.post(
                    "/api/workflows/from-template",
                    json={"customerId": str(dirty.customer_id), "workflowId": "prepare"},
                )
                assert started.status_code in (201, 409), started.text  # 409: the sweep did
                execution = http.get(
                    "/api/workflows/executions",
                    params={"customerId": str(dirty.customer_id), "status": "active"},
                ).json()["items"][0]
                step = http.post(
                    f"/api/workflows/executions/{execution['id']}/steps/"
                    f"{execution['currentStepId']}/execute",
                    json={},
                )
                # the NaN ARR is missing, as a step needing it says
                assert fields(step) == ["context.customer.arr"]


@pytest.fixture
def world_key(database: Database) -> tuple[World, Task, str]:
    """A tenant with an execution and one task on it, and an admin key of the tenant."""
    world = make_world(database, "Limits")
    with database.tenant_transaction(world.tenant_id) as conn:
        task = tasks.create_task(conn, task_data(world))
        issued = accounts.issue_key(
            conn, user_id=world.user_id, tenant_id=world.tenant_id, role=accounts.Role.ADMIN
        )
    return world, task, issued.secret


def test_intelligence_and_task_limits(
    client: httpx.Client, world_key: tuple[World, Task, str]
) -> None:
    world, task, key = world_key
    auth = bearer(key)
    intel = client.put(
        f"/api/customers/{world.customer_id}/intelligence",
        json={"riskScore": 101, "aiSummary": "s" * 100_001},
        headers=auth,
    )
    assert fields(intel) == ["body.riskScore", "body.aiSummary"]
    body = task_data(world).model_dump(mode="json")
    too_long = {**body, "action": "a" * 256, "estimated_completion_time": "e" * 51}
    assert fields(client.post("/api/workflows/tasks", json=too_long, headers=auth)) == [
        "body.action",
        "body.estimated_completion_time",
    ]
    big = {**body, "priority": 2**63, "max_attempts": 101, "due_date": "9999-12-31"}
    assert fields(client.post("/api/workflows/tasks", json=big, headers=auth)) == [
        "body.priority",
        "body.due_date",
        "body.max_attempts",
    ]
    deep = {**body, "metadata": {"n": 10**400}}
    assert fields(client.post("/api/workflows/tasks", json=deep, headers=auth)) == ["body.metadata"]
    skip = client.post(
        f"/api/workflows/tasks/{task.id}/skip", json={"reason": "r" * 2001}, headers=auth
    )
    assert fields(skip) == ["body.reason"]


@pytest.mark.parametrize(
    "until",
    [
        "2030-01-01T09:00:00",  # no zone: refused, not guessed
        "2030-01-01",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59",
        "0001-01-01T00:00:00+01:00",  # with a zone, but before now or after the deadline
        "9999-12-31T23:59:59-01:00",
        "2000-01-01T00:00:00Z",
    ],
)
def test_a_snooze_until_is_422_naming_it(
    client: httpx.Client, world_key: tuple[World, Task, str], until: str
) -> None:
    _, task, key = world_key
    response = client.post(
        f"/api/workflows/tasks/{task.id}/snooze", json={"until": until}, headers=bearer(key)
    )
    assert fields(response) == ["body.until"]
    tomorrow = f"{date.today() + timedelta(days=1)}T09:00:00+02:00"
    ok = client.post(
        f"/api/workflows/tasks/{task.id}/snooze", json={"until": tomorrow}, headers=bearer(key)
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded", None]
)
def test_bodies_over_the_cap_are_413_whatever_their_type(
    client: httpx.Client, key: str, content_type: str | None
) -> None:
    headers = bearer(key) | ({"Content-Type": content_type} if content_type else {})
    huge = b"x" * (MAX_BODY_BYTES + 1)
    response = client.post("/api/customers", content=huge, headers=headers)
    assert "larger than 8 MiB" in assert_problem(response, 413)["detail"]

    def chunks() -> Any:  # no Content-Length: counted while read
        for _ in range(9):
            yield b"y" * (1024 * 1024)

    streamed = client.post("/api/customers", content=chunks(), headers=headers)
    assert_problem(streamed, 413)


def test_json_nested_too_deep_is_422_naming_the_body_and_the_limit(
    client: httpx.Client, key: str
) -> None:
    json_headers = {**bearer(key), "Content-Type": "application/json"}
    for depth in (JSON_MAX_DEPTH + 1, 1_000, 100_000):
        nested = {**CUSTOMER, "engagement": "ENGAGEMENT"}
        raw = _dumps(nested).replace(
            b'"ENGAGEMENT"', b'{"a": ' * (depth - 1) + b"1" + b"}" * (depth - 1)
        )
        response = client.post("/api/customers", content=raw, headers=json_headers)
        body = assert_problem(response, 422)
        assert body["errors"] == [
            {"field": "body", "message": f"JSON nested deeper than {JSON_MAX_DEPTH} levels"}
        ]
    # at the limit: the body itself is one level, the engagement object the rest
    at_limit = _dumps({**CUSTOMER, "engagement": "E"}).replace(
        b'"E"', b'{"a": ' * (JSON_MAX_DEPTH - 1) + b"1" + b"}" * (JSON_MAX_DEPTH - 1)
    )
    created = client.post("/api/customers", content=at_limit, headers=json_headers)
    assert created.status_code == 201, created.text


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_the_openapi_document_describes_problems(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "application/problem+json" in responses["default"]["content"], (method, path)
            if "422" in responses:
                assert list(responses["422"]["content"]) == ["application/problem+json"]
