"""The cron endpoint: refused entirely without a secret, one answer for every wrong secret, the
previous secret during a rotation, bounded input, and one run per slot however many calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from renewflow.db import Database
from tests.intelligence.conftest import CURRENT, PREVIOUS, add_customer

PATH = "/api/agents/continuous-intelligence"
BODY = {"batchSizePerWorkspace": 50, "maxWorkspaces": 1000}


def test_no_secret_configured_refuses_every_call(live_app: Callable[..., str]) -> None:
    url = live_app(current=None, previous=None)
    for headers in ({}, {"Authorization": "Bearer x"}, {"Authorization": f"Bearer {CURRENT}"}):
        answer = httpx.post(url + PATH, json=BODY, headers=headers, timeout=30)
        assert answer.status_code == 503
        assert "no cron secret is configured" in answer.json()["detail"]


def test_wrong_missing_and_query_string_secrets_get_one_answer(
    live_app: Callable[..., str],
) -> None:
    url = live_app()
    refusals = [
        httpx.post(url + PATH, json=BODY, timeout=30),
        httpx.post(url + PATH, json=BODY, headers={"Authorization": "Bearer wrong"}, timeout=30),
        httpx.post(url + PATH, json=BODY, headers={"Authorization": CURRENT}, timeout=30),
        httpx.post(url + PATH + f"?secret={CURRENT}", json=BODY, timeout=30),
        # the right header does not make a secret in the URL acceptable
        httpx.post(
            url + PATH + f"?CRON_SECRET={CURRENT}",
            json=BODY,
            headers={"Authorization": f"Bearer {CURRENT}"},
            timeout=30,
        ),
        # nor is a bad body looked at before the secret
        httpx.post(url + PATH, json={"maxWorkspaces": -1}, timeout=30),
    ]
    assert {r.status_code for r in refusals} == {401}
    assert len({r.text for r in refusals}) == 1
    assert {r.headers["www-authenticate"] for r in refusals} == {'Bearer realm="cron"'}


@pytest.mark.parametrize("secret", [CURRENT, PREVIOUS])
def test_current_and_previous_secrets_are_accepted(
    live_app: Callable[..., str], secret: str
) -> None:
    url = live_app()
    answer = httpx.post(
        url + PATH, json=BODY, headers={"Authorization": f"Bearer {secret}"}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True
    assert set(body) >= {"success", "workspaces_processed", "results", "timestamp"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"batchSizePerWorkspace": 0}, "body.batchSizePerWorkspace"),
        ({"batchSizePerWorkspace": 1001}, "body.batchSizePerWorkspace"),
        ({"batchSizePerWorkspace": "5"}, "body.batchSizePerWorkspace"),
        ({"maxWorkspaces": 0}, "body.maxWorkspaces"),
        ({"maxWorkspaces": 10_000}, "body.maxWorkspaces"),
        ({"maxWorkspaces": 2, "extra": 1}, "body.extra"),
    ],
)
def test_out_of_bounds_input_is_422_naming_the_field(
    live_app: Callable[..., str], body: dict[str, object], field: str
) -> None:
    url = live_app()
    answer = httpx.post(
        url + PATH, json=body, headers={"Authorization": f"Bearer {CURRENT}"}, timeout=30
    )
    assert answer.status_code == 422
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_fifty_concurrent_duplicate_calls_make_one_run(
    database: Database, live_app: Callable[..., str], tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Cron")
    for i in range(3):
        add_customer(database, tenant, f"Cron {i}")
    url = live_app()

    def call(_: int) -> httpx.Response:
        return httpx.post(
            url + PATH, json=BODY, headers={"Authorization": f"Bearer {CURRENT}"}, timeout=120
        )

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(call, range(50)))

    assert {a.status_code for a in answers} == {200}
    bodies = [a.json() for a in answers]
    assert len({b["run_id"] for b in bodies}) == 1
    assert sum(not b["duplicate"] for b in bodies) == 1
    assert all(b["results"] == bodies[0]["results"] for b in bodies)
    mine = [r for r in bodies[0]["results"] if r["workspace_id"] == str(tenant)]
    assert [(r["customers_processed"], r["summaries_written"]) for r in mine] == [(3, 3)]
    with database.service_transaction() as conn:
        run = conn.execute(
            "SELECT status, attempts, triggered_by FROM intelligence_runs WHERE id = %s",
            (bodies[0]["run_id"],),
        ).fetchone()
    assert run == {"status": "completed", "attempts": 1, "triggered_by": "cron"}
    with database.tenant_transaction(tenant) as conn:
        ledger = conn.execute(
            "SELECT count(*) AS n FROM autonomous_tasks "
            "WHERE task_type = 'continuous_intelligence_update'"
        ).fetchone()
        calls = conn.execute("SELECT count(*) AS n FROM llm_calls").fetchone()
    assert ledger == {"n": 1}
    assert calls == {"n": 3}
