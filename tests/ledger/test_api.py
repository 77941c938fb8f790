"""The ledger through the API: list, summary, failures, costs, health, budget; tenants isolated;
bad input answered 422 naming the field."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn

from renewflow import ledger
from renewflow.api.app import ROUTERS, create_app
from renewflow.api.routes import ledger as ledger_routes
from renewflow.db import Database
from tests.api.conftest import bearer, free_port, make_key

__all__ = ["make_key"]


@pytest.fixture(scope="module")
def ledger_api(database: Database) -> Iterator[str]:
    app = create_app(database, manage_database=False)
    if ledger_routes.router not in ROUTERS:  # until api/app.py registers it
        app.include_router(ledger_routes.router)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def http(ledger_api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ledger_api, timeout=10) as client:
        yield client


def _runs(database: Database, tenant: uuid.UUID) -> None:
    with database.tenant_transaction(tenant) as conn:
        for status in ("completed", "completed", "failed"):
            run_id = ledger.start(conn, tenant_id=tenant, task_type="renewal_sweep")
            ledger.finish(conn, run_id, status=status, error="boom" if status == "failed" else None)


def test_the_ledger_reports_answer_for_the_tenant_only(
    database: Database,
    http: httpx.Client,
    tenant: uuid.UUID,
    tenant_factory: Callable[..., uuid.UUID],
    make_key: Callable[..., tuple[uuid.UUID, str]],
) -> None:
    other = tenant_factory("Other")
    _runs(database, tenant)
    _runs(database, other)
    _, key = make_key(tenant, "manager")
    runs = http.get("/api/ledger/runs", params={"type": "renewal_sweep"}, headers=bearer(key))
    assert runs.status_code == 200
    assert runs.json()["total"] == 3
    failed = http.get("/api/ledger/runs", params={"status": "failed"}, headers=bearer(key)).json()
    assert [r["error_message"] for r in failed["items"]] == ["boom"]
    [row] = http.get("/api/ledger/summary", headers=bearer(key)).json()["items"]
    assert row["task_type"] == "renewal_sweep"
    assert row["total_executions"] == 3
    assert row["failed_count"] == 1
    assert row["p95_duration_ms"] is not None
    assert len(http.get("/api/ledger/failures", headers=bearer(key)).json()["items"]) == 1
    [cost] = http.get("/api/ledger/costs", headers=bearer(key)).json()["items"]
    assert cost["executions"] == 3
    jobs = http.get("/api/ledger/health", headers=bearer(key)).json()["jobs"]
    assert {j["task_type"] for j in jobs} >= {"renewal_sweep", "notification_delivery"}
    assert http.get("/api/ledger/budget", headers=bearer(key)).json()["allowed"] is True
    _, csm = make_key(tenant, "csm")
    assert http.get("/api/ledger/runs", headers=bearer(csm)).status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/ledger/summary", {"hours": 0}, "hours"),
        ("/api/ledger/summary", {"hours": 8761}, "hours"),
        ("/api/ledger/costs", {"hours": -1}, "hours"),
        ("/api/ledger/summary", {"type": "mining"}, "type"),
        ("/api/ledger/runs", {"type": "mining"}, "type"),
        ("/api/ledger/runs", {"status": "sleeping"}, "status"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    http: httpx.Client,
    tenant: uuid.UUID,
    make_key: Callable[..., tuple[uuid.UUID, str]],
    path: str,
    params: dict[str, str | int],
    field: str,
) -> None:
    _, key = make_key(tenant, "admin")
    answer = http.get(path, params=params, headers=bearer(key))
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def test_a_negative_budget_is_refused_naming_the_field(
    http: httpx.Client, tenant: uuid.UUID, make_key: Callable[..., tuple[uuid.UUID, str]]
) -> None:
    _, key = make_key(tenant, "admin")
    answer = http.patch(
        "/api/tenant",
        json={"budget": {"llm_daily_usd": -1}},
        headers={**bearer(key), "Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 422, answer.text
    assert "budget.llm_daily_usd" in answer.text
