"""Account teams reach the templates: a manager set through the API gives `csm.manager`, the
account team's manager override wins over it, `accountTeam.ae` comes through the API and the
CSV import, and a manager that is not an active user of the tenant is refused naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from renewflow import context, templates
from renewflow.context.imports import import_customers, read_rows
from renewflow.db import Database
from tests.api.conftest import api_url, bearer, client, make_key

__all__ = ["api_url", "client", "make_key"]  # the API's server fixtures

ESCALATION = "To {{csm.manager}}, cc {{accountTeam.ae}} and {{accountTeam.sa}}"
RENEWAL = (date.today() + timedelta(days=90)).isoformat()


@pytest.fixture
def api(
    client: httpx.Client,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> tuple[uuid.UUID, httpx.Client]:
    tenant = tenant_factory("Teams")
    _, key = make_key(tenant, "admin")
    client.headers.update(bearer(key))
    return tenant, client


def _user(http: httpx.Client, email: str, role: str = "manager", **extra: Any) -> dict[str, Any]:
    answer = http.post("/api/users", json={"email": email, "role": role, **extra})
    assert answer.status_code == 201, answer.text
    user: dict[str, Any] = answer.json()
    return user


def _customer(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post(
        "/api/customers",
        json={"name": f"Acme {uuid.uuid4().hex[:6]}", "arr": 50000, "renewalDate": RENEWAL, **body},
    )


def _rendered(http: httpx.Client, customer_id: str) -> str:
    answer = http.get(f"/api/workflows/context/{customer_id}")
    assert answer.status_code == 200, answer.text
    return templates.compile(ESCALATION).render(answer.json()["context"])


def test_the_csms_manager_set_through_the_api_reaches_the_templates(
    api: tuple[uuid.UUID, httpx.Client],
) -> None:
    _, http = api
    mia = _user(http, "mia@vendor.example")
    csm = _user(http, "sarah@vendor.example", "csm", manager_id=mia["id"])
    created = _customer(
        http,
        csmEmail=csm["email"],
        accountTeam={"ae": "ae@vendor.example", "sa": "sa@vendor.example"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["accountTeam"] == {"ae": "ae@vendor.example", "sa": "sa@vendor.example"}
    assert _rendered(http, customer["id"]) == (
        "To mia@vendor.example, cc ae@vendor.example and sa@vendor.example"
    )
    ctx = http.get(f"/api/workflows/context/{customer['id']}").json()["context"]
    assert ctx["accountTeam"]["manager"] == "mia@vendor.example"

    # the CSM's manager changes: the next context follows
    max_ = _user(http, "max@vendor.example")
    http.patch(f"/api/users/{csm['id']}", json={"manager_id": max_["id"]})
    assert _rendered(http, customer["id"]).startswith("To max@vendor.example,")


def test_the_manager_override_wins_and_a_deactivated_one_is_passed_over(
    api: tuple[uuid.UUID, httpx.Client],
) -> None:
    _, http = api
    mia = _user(http, "mia@vendor.example")
    vp = _user(http, "vp.sales@vendor.example")
    _user(http, "sarah@vendor.example", "csm", manager_id=mia["id"])
    created = _customer(
        http,
        externalId="crm-9",
        csmEmail="sarah@vendor.example",
        accountTeam={"ae": "ae@vendor.example", "manager": "VP.Sales@vendor.example"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["accountTeam"] == {"ae": "ae@vendor.example", "manager": vp["email"]}
    assert _rendered(http, customer["id"]).startswith("To vp.sales@vendor.example, cc ae@")

    http.patch(f"/api/users/{vp['id']}", json={"active": False})
    assert _rendered(http, customer["id"]).startswith("To mia@vendor.example,")

    # re-sending the customer without the override clears it, as it does the rest of the team
    again = _customer(http, externalId="crm-9", csmEmail="sarah@vendor.example")
    assert again.status_code == 200, again.text
    assert again.json()["accountTeam"] == {}


def test_a_manager_override_must_be_an_active_person_of_the_tenant(
    api: tuple[uuid.UUID, httpx.Client],
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> None:
    _, http = api
    make_key(tenant_factory("Other"), "manager", email="theirs@vendor.example")
    gone = _user(http, "gone@vendor.example")
    http.patch(f"/api/users/{gone['id']}", json={"active": False})
    answers = {}
    for email in ("theirs@vendor.example", "nobody@vendor.example", "gone@vendor.example"):
        answer = _customer(http, accountTeam={"manager": email})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "accountTeam.manager"
        answers[email] = answer.json()["errors"][0]["message"]
    assert answers["theirs@vendor.example"] == "no such user: theirs@vendor.example"
    assert answers["nobody@vendor.example"] == "no such user: nobody@vendor.example"
    assert answers["gone@vendor.example"] == "gone@vendor.example is deactivated"
    assert http.get("/api/customers").json() == []


def test_the_csv_import_carries_the_account_team_to_the_templates(
    database: Database, tenant_factory: Callable[..., uuid.UUID], tmp_path: Path
) -> None:
    from renewflow import accounts

    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        lead = accounts.create_user(conn, email="lead@vendor.example", role=accounts.Role.MANAGER)
        accounts.create_user(
            conn, email="sarah@vendor.example", role=accounts.Role.CSM, manager_id=lead["id"]
        )
        accounts.create_user(conn, email="deal.desk@vendor.example", role=accounts.Role.MANAGER)
    path = tmp_path / "customers.csv"
    path.write_text(
        "name,arr,renewal_date,csm_email,external_id,accountTeam.ae,accountTeam.sa,"
        "accountTeam.manager\n"
        f"Acme,1000,{RENEWAL},sarah@vendor.example,c-1,ae@vendor.example,sa@vendor.example,\n"
        f"Beta,2000,{RENEWAL},sarah@vendor.example,c-2,ae2@vendor.example,,"
        "deal.desk@vendor.example\n"
    )
    with database.tenant_transaction(tenant) as conn:
        result = import_customers(conn, read_rows(path), source=str(path))
        assert result.created == 2
        ids = context.customer_ids_by_external_id(conn, ["c-1", "c-2"])
        acme = context.build_context(conn, ids["c-1"])
        beta = context.build_context(conn, ids["c-2"])
    assert templates.compile(ESCALATION).render(acme) == (
        "To lead@vendor.example, cc ae@vendor.example and sa@vendor.example"
    )
    assert templates.compile(ESCALATION).render(beta) == (
        "To deal.desk@vendor.example, cc ae2@vendor.example and "
    )


def test_an_import_naming_unknown_managers_reports_every_row_and_writes_nothing(
    database: Database, tenant_factory: Callable[..., uuid.UUID], tmp_path: Path
) -> None:
    tenant = tenant_factory()
    path = tmp_path / "customers.csv"
    path.write_text(
        "name,arr,renewal_date,external_id,accountTeam.manager\n"
        f"Acme,1000,{RENEWAL},c-1,ghost@vendor.example\n"
        f"Beta,2000,{RENEWAL},c-2,\n"
        f"Gamma,3000,{RENEWAL},c-3,GHOST@vendor.example\n"
    )
    with (
        database.tenant_transaction(tenant) as conn,
        pytest.raises(context.ImportFailed) as failed,
    ):
        import_customers(conn, read_rows(path), source=str(path))
    assert [str(p) for p in failed.value.problems] == [
        "row 1: accountTeam.manager: no such user: ghost@vendor.example",
        "row 3: accountTeam.manager: no such user: ghost@vendor.example",
    ]
    with database.tenant_transaction(tenant) as conn:
        assert context.list_customers(conn) == []
