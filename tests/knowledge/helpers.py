"""Small helpers of the knowledge tests: a tenant with a key, uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.conftest import bearer

MARKDOWN = b"""# Renewal playbook

## Churn risk

A customer whose weekly active users fall by a third in a quarter is at churn risk. Book an
executive business review within two weeks and bring the usage trend.

## Pricing

Multi-year renewals get a five percent discount; a price increase above seven percent needs the
VP of Customer Success to approve it.
"""


def tenant_key(
    tenant_factory: Callable[..., uuid.UUID], make_key: Callable[..., tuple[uuid.UUID, str]]
) -> tuple[uuid.UUID, dict[str, str]]:
    tenant_id = tenant_factory("KB")
    _, key = make_key(tenant_id, "admin")
    return tenant_id, bearer(key)


def create_base(client: httpx.Client, headers: dict[str, str], name: str | None = None) -> str:
    answer = client.post(
        "/api/knowledge/bases",
        json={"name": name or f"Playbooks {uuid.uuid4().hex[:6]}"},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    base_id: str = answer.json()["id"]
    return base_id


def upload(
    client: httpx.Client,
    headers: dict[str, str],
    base_id: str,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    **form: Any,
) -> httpx.Response:
    return client.post(
        f"/api/knowledge/bases/{base_id}/documents",
        files={"file": (filename, data, content_type)},
        data=form,
        headers=headers,
    )
