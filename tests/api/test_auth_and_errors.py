"""Authentication, roles, tenant isolation through the API, and problem+json errors."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renewflow import accounts
from renewflow.db import Database
from tests.api.conftest import bearer, serve_in_thread

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    return body


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "database": "ok"}


def test_openapi_documents_the_routes(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/api/me", "/api/users", "/api/users/{user_id}"} <= set(paths)


def test_key_identifies_user_and_tenant(client: httpx.Client, tenant_factory, make_key) -> None:
    tenant = tenant_factory("Me")
    user_id, key = make_key(tenant, "manager", "pat@example.com")
    body = client.get("/api/me", headers=bearer(key)).json()
    assert body["user_id"] == str(user_id)
    assert body["email"] == "pat@example.com"
    assert body["role"] == "manager"
    assert body["tenant"]["id"] == str(tenant)


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer scheme"),
        ({"Authorization": "Bearer rf_" + "x" * 43}, "unknown or revoked"),
        ({"Authorization": "Bearer not-even-our-format"}, "unknown or revoked"),
        ({"Authorization": "Bearer " + "rf_" + "y" * 5000}, "unknown or revoked"),
    ],
)
def test_missing_or_unknown_key_is_401(
    client: httpx.Client, headers: dict[str, str], detail: str
) -> None:
    body = assert_problem(client.get("/api/me", headers=headers), 401)
    assert detail in body["detail"]


def test_revoked_key_is_401(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant)
    assert client.get("/api/me", headers=bearer(key)).status_code == 200
    with database.tenant_transaction(tenant) as conn:
        key_id = conn.execute("SELECT id FROM api_keys ORDER BY created_at DESC LIMIT 1").fetchone()
        assert key_id is not None
        accounts.revoke_key(conn, key_id["id"])
    assert_problem(client.get("/api/me", headers=bearer(key)), 401)


def test_deactivated_user_is_401(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    user_id, key = make_key(tenant)
    with database.tenant_transaction(tenant) as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (user_id,))
    assert_problem(client.get("/api/me", headers=bearer(key)), 401)


def test_only_a_digest_of_the_key_is_stored(database: Database, tenant_factory, make_key) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant)
    with database.tenant_transaction(tenant) as conn:
        rows = conn.execute(
            "SELECT key_hash, key_prefix, to_jsonb(k)::text AS whole FROM api_keys k"
        ).fetchall()
    assert len(rows) == 1
    assert bytes(rows[0]["key_hash"]) == hashlib.sha256(key.encode()).digest()
    assert key.startswith(rows[0]["key_prefix"])
    assert len(rows[0]["key_prefix"]) <= 10
    assert key[10:] not in rows[0]["whole"]
    assert len(key) >= 40  # 256 random bits, url-safe base64


def test_other_tenants_row_is_404_and_reveals_nothing(
    client: httpx.Client, tenant_factory, make_key
) -> None:
    tenant_a, tenant_b = tenant_factory("A"), tenant_factory("B")
    _, key_a = make_key(tenant_a)
    b_user, _ = make_key(tenant_b, "csm", "secret-person@b.example")
    response = client.get(f"/api/users/{b_user}", headers=bearer(key_a))
    assert_problem(response, 404)
    assert "secret-person" not in response.text
    listed = client.get("/api/users", headers=bearer(key_a)).json()
    assert [u["email"] for u in listed] != []
    assert all("b.example" not in u["email"] for u in listed)


def test_role_is_enforced(client: httpx.Client, tenant_factory, make_key) -> None:
    tenant = tenant_factory()
    _, csm_key = make_key(tenant, "csm")
    body = assert_problem(client.get("/api/users", headers=bearer(csm_key)), 403)
    assert "admin" in body["detail"]
    _, admin_key = make_key(tenant, "admin")
    assert client.get("/api/users", headers=bearer(admin_key)).status_code == 200


def test_validation_errors_name_the_field(client: httpx.Client, tenant_factory, make_key) -> None:
    _, key = make_key(tenant_factory())
    body = assert_problem(client.get("/api/users/exec_123", headers=bearer(key)), 422)
    assert body["errors"][0]["field"] == "path.user_id"
    body = assert_problem(client.get("/api/users?limit=0", headers=bearer(key)), 422)
    assert body["errors"][0]["field"] == "query.limit"


def test_nul_characters_are_refused_naming_where_and_nothing_is_stored(
    client: httpx.Client, tenant_factory, make_key
) -> None:
    """PostgreSQL text cannot hold U+0000: a 422 naming the field, not a 500 from the database."""
    _, key = make_key(tenant_factory())
    auth = bearer(key)
    customer = {"name": "Nul Co", "arr": 1000, "renewalDate": "2027-06-30"}
    cases = [
        ({**customer, "name": "Nul\u0000Co"}, "body.name"),
        ({**customer, "metadata": {"tags": ["ok", "bad\u0000"]}}, "body.metadata.tags[1]"),
    ]
    for payload, field in cases:
        response = client.post("/api/customers", json=payload, headers=auth)
        body = assert_problem(response, 422)
        assert body["errors"] == [
            {"field": field, "message": "must not contain NUL characters (\\u0000)"}
        ]
    raw = b'{"name": "Raw\x00Co", "arr": 1000, "renewalDate": "2027-06-30"}'
    response = client.post("/api/customers", content=raw, headers=auth)
    assert assert_problem(response, 422)["errors"][0]["field"] == "body"  # not even JSON
    search = client.get("/api/customers?search=a%00b", headers=auth)
    assert assert_problem(search, 422)["errors"][0]["field"] == "query"
    deep = b'{"name": ' + b"[" * 5000 + b'"\\u0000"' + b"]" * 5000 + b"}"
    response = client.post("/api/customers", content=deep, headers=auth)
    assert assert_problem(response, 422)["errors"][0]["field"] == "body"  # not a RecursionError
    huge = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    assert (
        "larger than 8 MiB"
        in assert_problem(client.post("/api/customers", content=huge, headers=auth), 413)["detail"]
    )
    assert client.get("/api/customers", headers=auth).json() == []  # nothing stored
    # a backslash followed by "u0000" is ordinary text
    ok = client.post("/api/customers", json={**customer, "name": "C:\\u0000"}, headers=auth)
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "C:\\u0000"


def test_unknown_route_and_method_are_problems(client: httpx.Client) -> None:
    assert_problem(client.get("/api/no-such-thing"), 404)
    assert_problem(client.delete("/healthz"), 405)


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    unreachable = Database("host=127.0.0.1 port=1 dbname=nowhere user=nobody", connect_timeout=1)
    for url in serve_in_thread(unreachable):
        response = httpx.get(f"{url}/readyz", timeout=10)
        assert_problem(response, 503)
        assert "database not ready" in response.json()["detail"]


def test_a_key_of_one_tenant_never_returns_rows_of_another(
    client: httpx.Client, tenant_factory: Callable[..., uuid.UUID], make_key
) -> None:
    tenants = [tenant_factory() for _ in range(3)]
    keys = [make_key(t)[1] for t in tenants]
    for tenant, key in zip(tenants, keys, strict=True):
        assert client.get("/api/me", headers=bearer(key)).json()["tenant"]["id"] == str(tenant)
