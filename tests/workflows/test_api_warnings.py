"""The Workflow API's `warnings`: the spec's key names in a config sent to it, stored under ours.

A real server on loopback, like tests/api/test_workflows.py (where these tests would also fit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from renewflow import accounts
from renewflow.db import Database
from tests.api.conftest import bearer, serve_in_thread
from tests.workflows.factory import config as sample_config
from tests.workflows.test_vocabulary import SPEC_KEYS, keys_anywhere, spec_example

WARNING = (
    '"conditional" is the spec\'s name for "condition": read as steps[1].condition; '
    'write "condition" instead'
)


@pytest.fixture(scope="module")
def http(database: Database) -> Iterator[httpx.Client]:
    for url in serve_in_thread(database):
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client


@pytest.fixture
def admin(database: Database, tenant_factory: Callable[..., uuid.UUID]) -> dict[str, str]:
    tenant = tenant_factory("Warnings")
    with database.tenant_transaction(tenant) as conn:
        user = accounts.create_user(
            conn, email=f"admin-{uuid.uuid4().hex[:8]}@example.com", role=accounts.Role.ADMIN
        )
        key = accounts.issue_key(
            conn, user_id=user["id"], tenant_id=tenant, role=accounts.Role.ADMIN
        )
    return bearer(key.secret)


def spec_keyed() -> dict[str, Any]:
    data = sample_config()
    data["steps"][1]["conditional"] = "{{customer.hasAccountPlan}}"
    return data


def test_create_answers_the_warnings_and_stores_our_keys(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    response = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "sample", "config": spec_keyed()}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["warnings"] == [{"path": "steps[1].conditional", "message": WARNING}]
    assert body["workflow"]["currentVersion"] == 1
    assert body["workflow"]["config"]["steps"][1]["condition"] == "{{customer.hasAccountPlan}}"
    assert keys_anywhere(body["workflow"]["config"]) & SPEC_KEYS == set()
    read = http.get("/api/workflows/sample", headers=admin).json()
    assert read["warnings"] == []
    assert read["workflow"]["config"] == body["workflow"]["config"]


def test_a_config_in_our_keys_has_no_warnings(http: httpx.Client, admin: dict[str, str]) -> None:
    response = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "sample", "config": sample_config()}
    )
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == []


def test_a_draft_answers_its_warnings(http: httpx.Client, admin: dict[str, str]) -> None:
    created = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "sample", "config": sample_config()}
    )
    saved = http.put(
        "/api/workflows/sample",
        headers={**admin, "If-Match": created.headers["ETag"]},
        json={"config": spec_keyed()},
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["warnings"] == [{"path": "steps[1].conditional", "message": WARNING}]
    draft = body["workflow"]["draft"]
    assert draft["valid"] is True
    assert draft["errors"] == []
    assert draft["config"]["steps"][1]["condition"] == "{{customer.hasAccountPlan}}"
    assert "conditional" not in draft["config"]["steps"][1]


def test_both_names_on_one_object_is_a_422(http: httpx.Client, admin: dict[str, str]) -> None:
    both = spec_keyed()
    both["steps"][1]["condition"] = "{{customer.tier}}"
    response = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "sample", "config": both}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "field": "body.config.steps[1].conditional",
            "message": 'use one of "conditional" (the spec\'s name) or "condition", not both',
        }
    ]


def test_the_spec_example_is_created_with_a_warning_per_spec_key(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    response = http.post(
        "/api/workflows", headers=admin, json={"workflowId": "critical", "config": spec_example()}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [w["path"] for w in body["warnings"]] == [
        "steps[1].conditional",
        "steps[2].conditionalLogic",
        "notifications[1].conditional",
    ]
    assert body["workflow"]["config"]["steps"][0]["type"] == "conditional_routing"
