"""Console clients: a signed-in browser-like HTTP client per role, against the real server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from renewflow import accounts
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Database
from tests.api.conftest import api_url, client, make_key

__all__ = ["api_url", "client", "make_key"]  # the API's server fixtures, shared with the console

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass
class SignedIn:
    client: httpx.Client
    tenant: uuid.UUID
    user: uuid.UUID
    email: str

    def csrf(self, path: str = "/today") -> str:
        found = CSRF.search(self.client.get(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf(), **(data or {})})


def sign_in_by_link(client: httpx.Client, database: Database, email: str) -> httpx.Response:
    with database.service_transaction() as conn:
        token = issue_login_link(conn, email)
    confirm = client.get(f"/sign-in/link/{token}")
    assert confirm.status_code == 200, confirm.text
    form_token = FORM_TOKEN.search(confirm.text)
    assert form_token
    return client.post(f"/sign-in/link/{token}", data={"form_token": form_token.group(1)})


@pytest.fixture
def console_as(
    api_url: str, database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> Iterator[Callable[..., SignedIn]]:
    """`console_as(role, tenant=None)`: a client signed in by a one-time link."""
    clients: list[httpx.Client] = []

    def sign_in(role: str = "csm", tenant: uuid.UUID | None = None) -> SignedIn:
        tenant = tenant or tenant_factory()
        email = f"{role}-{uuid.uuid4().hex[:8]}@vendor.example"
        with database.tenant_transaction(tenant) as conn:
            user = accounts.create_user(
                conn, email=email, role=accounts.parse_role(role), name=f"{role.title()} Person"
            )
        client = httpx.Client(base_url=api_url, timeout=20, follow_redirects=False)
        clients.append(client)
        answer = sign_in_by_link(client, database, email)
        assert answer.status_code == 303, answer.text
        return SignedIn(client, tenant, user["id"], email)

    yield sign_in
    for browser in clients:
        browser.close()
