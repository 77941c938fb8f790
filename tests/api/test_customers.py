"""Customer data through the API: the simplest onboarding call, contacts, usage, intelligence."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx

from renewflow.db import Database
from tests.api.conftest import bearer


def onboard(client: httpx.Client, key: str, **extra: object) -> dict[str, Any]:
    body = {
        "name": "Acme Corp",
        "arr": 100000,
        "renewalDate": (date.today() + timedelta(days=130)).isoformat(),
        "csmEmail": "sarah.csm@vendor.example",
        **extra,
    }
    response = client.post("/api/customers", json=body, headers=bearer(key))
    assert response.status_code in (200, 201), response.text
    created: dict[str, Any] = response.json()
    return created


def test_simplest_onboarding_creates_customer_contract_and_csm(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant, "manager")
    customer = onboard(client, key)
    assert customer["name"] == "Acme Corp"
    assert float(customer["arr"]) == 100000
    assert customer["csmEmail"] == "sarah.csm@vendor.example"
    with database.tenant_transaction(tenant) as conn:
        csm = conn.execute(
            "SELECT role FROM users WHERE email = 'sarah.csm@vendor.example'"
        ).fetchone()
        contracts = conn.execute(
            "SELECT status, arr FROM contracts WHERE customer_id = %s", (customer["id"],)
        ).fetchall()
    assert csm == {"role": "csm"}
    assert [(c["status"], float(c["arr"])) for c in contracts] == [("active", 100000.0)]
    # the same CSM again: reused, not duplicated
    onboard(client, key, name="Beta Inc")
    with database.tenant_transaction(tenant) as conn:
        count = conn.execute(
            "SELECT count(*) AS n FROM users WHERE lower(email) = 'sarah.csm@vendor.example'"
        ).fetchone()
    assert count == {"n": 1}


def test_external_id_makes_onboarding_repeatable(
    client: httpx.Client, tenant_factory, make_key
) -> None:
    _, key = make_key(tenant_factory())
    first = onboard(client, key, externalId="crm-1")
    again = client.post(
        "/api/customers",
        json={
            "name": "Acme Renamed",
            "arr": 120000,
            "renewalDate": "2027-06-30",
            "externalId": "crm-1",
        },
        headers=bearer(key),
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["name"] == "Acme Renamed"
    assert again.json()["renewalDate"] == "2027-06-30"


def test_bad_customer_input_names_the_field_and_stores_nothing(
    client: httpx.Client, database: Database, tenant_factory, make_key
) -> None:
    tenant = tenant_factory()
    _, key = make_key(tenant)
    cases = [
        ({"name": "X", "arr": -1, "renewalDate": "2027-01-01"}, "body.arr"),
        ({"name": "X", "arr": 10, "renewalDate": "someday"}, "body.renewalDate"),
        ({"name": "", "arr": 10, "renewalDate": "2027-01-01"}, "body.name"),
        (
            {"name": "X", "arr": 10, "renewalDate": "2027-01-01", "csmEmail": "nope"},
            "body.csmEmail",
        ),
        (
            {"name": "X", "arr": 10, "renewalDate": "2027-01-01", "cardTitle": "ui"},
            "body.cardTitle",
        ),
        ({"arr": 10, "renewalDate": "2027-01-01"}, "body.name"),
    ]
    for body, field in cases:
        response = client.post("/api/customers", json=body, headers=bearer(key))
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    response = client.post(
        "/api/customers",
        json={
            "name": "X",
            "arr": 10,
            "renewalDate": "2027-01-01",
            "contractStartDate": "2028-01-01",
        },
        headers=bearer(key),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contractStartDate"
    with database.tenant_transaction(tenant) as conn:
        assert conn.execute("SELECT count(*) AS n FROM customers").fetchone() == {"n": 0}


def test_contacts_usage_intelligence_and_contract(
    client: httpx.Client, tenant_factory, make_key
) -> None:
    _, key = make_key(tenant_factory())
    customer = onboard(client, key)
    cid = customer["id"]
    contact = client.post(
        f"/api/customers/{cid}/contacts",
        json={
            "name": "Eric Estrada",
            "role": "CFO",
            "email": "eric@acme.example",
            "isPrimary": True,
        },
        headers=bearer(key),
    )
    assert contact.status_code == 201
    assert contact.json()["isPrimary"] is True
    # a second primary contact demotes the first
    client.post(
        f"/api/customers/{cid}/contacts",
        json={"name": "Li", "role": "Admin", "isPrimary": True},
        headers=bearer(key),
    )
    usage = client.post(
        f"/api/customers/{cid}/usage",
        json=[{"metricName": "active_users", "metricDate": "2026-11-01", "value": 50}],
        headers=bearer(key),
    )
    assert usage.json() == {"written": 1}
    intel = client.put(
        f"/api/customers/{cid}/intelligence",
        json={"riskScore": 72, "aiSummary": "CFO changed"},
        headers=bearer(key),
    )
    assert intel.status_code == 204
    contract = client.put(
        f"/api/customers/{cid}/contract",
        json={"renewalDate": "2027-01-15", "arr": 150000},
        headers=bearer(key),
    )
    assert contract.json()["renewalDate"] == "2027-01-15"
    ctx = client.get(f"/api/workflows/context/{cid}", headers=bearer(key)).json()
    assert ctx["success"] is True
    assert ctx["context"]["intelligence"]["riskScore"] == 72
    assert ctx["context"]["workflow"]["renewalARR"] == 150000
    primaries = [c["name"] for c in ctx["context"]["data"]["crm"]["contacts"] if c["isPrimary"]]
    assert primaries == ["Li"]


def test_other_tenants_customer_is_404_everywhere(
    client: httpx.Client, tenant_factory, make_key
) -> None:
    _, key_a = make_key(tenant_factory())
    _, key_b = make_key(tenant_factory())
    theirs = onboard(client, key_b, name="Secret Customer")["id"]
    for method, path, body in [
        ("GET", f"/api/customers/{theirs}", None),
        ("GET", f"/api/workflows/context/{theirs}", None),
        ("POST", f"/api/customers/{theirs}/contacts", {"name": "Spy"}),
        (
            "POST",
            f"/api/customers/{theirs}/usage",
            [{"metricName": "x", "metricDate": "2026-01-01", "value": 1}],
        ),
        ("PUT", f"/api/customers/{theirs}/intelligence", {"riskScore": 1}),
        ("PUT", f"/api/customers/{theirs}/contract", {"renewalDate": "2027-01-01", "arr": 1}),
    ]:
        response = client.request(method, path, json=body, headers=bearer(key_a))
        assert response.status_code == 404, (method, path, response.text)
        assert "Secret Customer" not in response.text
    listed = client.get("/api/customers", headers=bearer(key_a)).json()
    assert all(c["id"] != theirs for c in listed)
    assert client.get(f"/api/customers/{uuid.uuid4()}", headers=bearer(key_a)).status_code == 404
    assert client.get("/api/customers").status_code == 401
