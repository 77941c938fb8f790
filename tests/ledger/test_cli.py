"""`renewflow ledger runs|summary|failures|costs|health|budget` as an operator runs them: real
processes against the test database, printing the figures the API gives (its JSON with `--json`,
a table otherwise). Bad input is one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder

from renewflow import ledger
from renewflow.db import Database
from renewflow.ledger import budget, health, reports
from tests.ledger.conftest import add_call, set_settings


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renewflow", "ledger", *args],
        # wide enough that the tables' cells are not folded
        env={**os.environ, "DATABASE_URL": url, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _json(url: str, *args: str) -> Any:
    done = _run(url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _api(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the API's routes answer for these rows (`renewflow.api.routes.ledger`)."""
    return [{k: v for k, v in jsonable_encoder(r).items() if k != "total_count"} for r in rows]


def _fill(database: Database, tenant: uuid.UUID) -> None:
    """Three renewal sweeps today (one failed, one with an LLM call of $0.25), one three days
    ago, and an AI-task run cancelled by the budget."""
    with database.tenant_transaction(tenant) as conn:
        runs = [ledger.start(conn, tenant_id=tenant, task_type="renewal_sweep") for _ in range(4)]
    add_call(database, tenant, "0.2500", run_id=runs[0])
    with database.tenant_transaction(tenant) as conn:
        for run_id, status in zip(
            runs, ("completed", "completed", "failed", "completed"), strict=True
        ):
            ledger.finish(conn, run_id, status=status, error="boom" if status == "failed" else None)
        ledger.record(
            conn,
            tenant_id=tenant,
            task_type="ai_task_execution",
            status="cancelled",
            error="the LLM budget of this day is spent",
        )
    with database.owner_connection() as conn:
        conn.execute(
            "UPDATE autonomous_tasks SET executed_at = now() - interval '3 days', "
            "completed_at = now() - interval '3 days' + interval '2 seconds' WHERE id = %s",
            (runs[3],),
        )


@pytest.fixture
def filled(
    database: Database, tenant: uuid.UUID, tenant_factory: Callable[..., uuid.UUID]
) -> uuid.UUID:
    _fill(database, tenant)
    _fill(database, tenant_factory("Other"))  # never shown for `tenant`
    set_settings(database, tenant, {"budget": {"llm_daily_usd": "1.00"}})
    return tenant


def test_each_command_prints_what_the_api_gives(
    migrated_url: str, database: Database, filled: uuid.UUID
) -> None:
    tenant = str(filled)
    summary = _json(migrated_url, "summary", "--tenant", tenant)
    failures = _json(migrated_url, "failures", "--tenant", tenant)
    costs = _json(migrated_url, "costs", "--tenant", tenant)
    jobs = _json(migrated_url, "health", "--tenant", tenant)
    spent = _json(migrated_url, "budget", "--tenant", tenant)
    with database.tenant_transaction(filled) as conn:
        assert summary == {"hours": 24, "items": _api(reports.summary(conn))}
        assert failures == {"items": _api(reports.failures(conn))}
        assert costs == {"hours": 720, "items": _api(reports.costs(conn))}
        assert jobs == {"jobs": [j.to_dict() for j in health.tenant_health(conn, filled)]}
        assert spent == budget.state(conn, filled).to_dict()

    sweep, cancelled = sorted(summary["items"], key=lambda r: r["task_type"], reverse=True)
    assert sweep["task_type"] == "renewal_sweep"
    assert (sweep["total_executions"], sweep["completed_count"], sweep["failed_count"]) == (3, 2, 1)
    assert sweep["p50_duration_ms"] is not None
    assert sweep["p95_duration_ms"] is not None
    assert sweep["total_cost_usd"] == 0.25
    assert cancelled["task_type"] == "ai_task_execution"
    assert [f["error_message"] for f in failures["items"]] == ["boom"]
    assert sum(c["executions"] for c in costs["items"]) == 5  # the run 3 days ago too
    assert {j["task_type"] for j in jobs["jobs"]} >= {"renewal_sweep", "notification_delivery"}
    assert spent["allowed"] is True
    assert spent["budgets"][0]["spent_usd"] == "0.2500"

    week = _json(migrated_url, "summary", "--tenant", tenant, "--hours", "168")
    assert week["hours"] == 168
    assert {r["task_type"]: r["total_executions"] for r in week["items"]} == {
        "renewal_sweep": 4,
        "ai_task_execution": 1,
    }
    only = _json(migrated_url, "summary", "--tenant", tenant, "--type", "ai_task_execution")
    assert [r["task_type"] for r in only["items"]] == ["ai_task_execution"]


def test_runs_are_filtered_by_type_status_time_and_limited(
    migrated_url: str, database: Database, filled: uuid.UUID
) -> None:
    tenant = str(filled)
    every = _json(migrated_url, "runs", "--tenant", tenant)
    assert every["total"] == 5
    with database.tenant_transaction(filled) as conn:
        rows, total = reports.list_runs(conn)
    assert every == {"items": _api(rows), "total": total}

    failed = _json(migrated_url, "runs", "--tenant", tenant, "--status", "failed")
    assert [r["error_message"] for r in failed["items"]] == ["boom"]
    sweeps = _json(migrated_url, "runs", "--tenant", tenant, "--type", "renewal_sweep")
    assert sweeps["total"] == 4
    today = _json(migrated_url, "runs", "--tenant", tenant, "--hours", "24")
    assert today["total"] == 4
    two_days = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    since = _json(migrated_url, "runs", "--tenant", tenant, "--since", two_days)
    assert since["total"] == 4
    first = _json(migrated_url, "runs", "--tenant", tenant, "--limit", "2")
    assert (len(first["items"]), first["total"]) == (2, 5)
    assert first["items"] == every["items"][:2]  # newest first


def test_the_tables_show_the_figures(migrated_url: str, filled: uuid.UUID) -> None:
    tenant = str(filled)
    summary = _run(migrated_url, "summary", "--tenant", tenant)
    assert summary.returncode == 0, summary.stderr
    [sweep] = [line.split() for line in summary.stdout.splitlines() if "renewal_sweep" in line]
    assert sweep[:4] == ["renewal_sweep", "3", "2", "1"]
    assert "0.2500" in sweep
    assert "p95 ms" in summary.stdout

    runs = _run(migrated_url, "runs", "--tenant", tenant, "--status", "cancelled")
    assert runs.returncode == 0, runs.stderr
    assert "ai_task_execution" in runs.stdout
    assert "the LLM budget of this day is spent" in runs.stdout
    assert runs.stdout.rstrip().endswith("1 of 1 run(s)")

    costs = _run(migrated_url, "costs", "--tenant", tenant)
    assert costs.returncode == 0, costs.stderr
    assert datetime.now(UTC).date().isoformat() in costs.stdout
    assert costs.stdout.rstrip().endswith("total $0.2500")

    jobs = _run(migrated_url, "health", "--tenant", tenant)
    assert jobs.returncode == 0, jobs.stderr
    assert "engine.renewal_sweep" in jobs.stdout

    spent = _run(migrated_url, "budget", "--tenant", tenant)
    assert spent.returncode == 0, spent.stderr
    assert "day" in spent.stdout
    assert "autonomous LLM work may run (alert at 80%)" in spent.stdout


def test_a_spent_budget_and_an_empty_ledger_are_said_plainly(
    migrated_url: str, database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory("Quiet")
    quiet = _run(migrated_url, "summary", "--tenant", str(tenant))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "no runs in the last 24 hour(s)"
    unset = _run(migrated_url, "budget", "--tenant", str(tenant))
    assert unset.stdout.startswith("no LLM budget set")

    set_settings(database, tenant, {"budget": {"llm_monthly_usd": "1.00"}})
    add_call(database, tenant, "1.50")
    spent = _run(migrated_url, "budget", "--tenant", str(tenant))
    assert spent.returncode == 0, spent.stderr
    assert "paused: the LLM budget of this month is spent ($1.50 of $1.00)" in spent.stdout
    assert _json(migrated_url, "budget", "--tenant", str(tenant))["allowed"] is False


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("summary", "--hours", "0"), 2, "Invalid value for '--hours'"),
        (("costs", "--hours", "8761"), 2, "Invalid value for '--hours'"),
        (("runs", "--hours", "-1"), 2, "Invalid value for '--hours'"),
        (("runs", "--limit", "0"), 2, "Invalid value for '--limit'"),
        (("summary", "--type", "mining"), 2, "--type: unknown task type 'mining'"),
        (("runs", "--type", "mining"), 2, "--type: unknown task type 'mining'"),
        (("runs", "--status", "sleeping"), 2, "--status: unknown status 'sleeping'"),
        (("runs", "--since", "yesterday"), 2, "--since: not an ISO 8601 time"),
        (("runs", "--since", "2025-01-01", "--hours", "5"), 2, "--since: give --since or --hours"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(
    migrated_url: str, tenant: uuid.UUID, args: tuple[str, ...], code: int, message: str
) -> None:
    done = _run(migrated_url, *args, "--tenant", str(tenant))
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("renewflow: error: ")
    assert message in line


def test_an_unknown_tenant_is_an_error_not_an_empty_ledger(migrated_url: str) -> None:
    missing = _run(migrated_url, "summary", "--tenant", str(uuid.uuid4()))
    assert missing.returncode == 1
    assert "not found" in missing.stderr
    bad = _run(migrated_url, "health", "--tenant", "acme")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "renewflow: error: --tenant: not a UUID: 'acme'"
