"""One tenant's bad data harms nobody else in the renewal sweep: a customer whose early trigger or
context fails fails alone, a tenant whose statements fail fails alone, each is recorded for the
tenant's admins and retried with a backoff, and `renewflow sweep` says what failed."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from renewflow.db import Database
from renewflow.engine.sweep import JOB, run_sweep, sweep, sweep_tenant
from renewflow.jobs.failures import BACKOFF_BASE, list_failures
from tests.engine.hostile import (
    BOMB_INSIGHTS,
    HUGE_CURRENCY,
    LOOP,
    NOW,
    active,
    add_customer,
    core_config,
    fail_inserts_of,
    failures,
    new_tenant,
    save_workflow,
    scratch_database,
    set_insights,
    store_usage,
)

ROOT = Path(__file__).resolve().parents[2]
# the module, not the function `renewflow.engine` exports under the same name
sweep_module = importlib.import_module("renewflow.engine.sweep")
# fires for a risky customer; blows the loop limit for one with 400 insights
RISKY_OR_BOMB = "{{#if (gte intelligence.riskScore 70)}}true{{/if}}" + LOOP


@pytest.fixture(scope="module")
def world_db(make_database: Callable[[], str]) -> Iterator[tuple[str, Database]]:
    yield from scratch_database(make_database)


def _well_behaved(db: Database) -> uuid.UUID:
    tenant = new_tenant(db, "Good")
    add_customer(db, tenant, "Risky", 160, risk=80)
    add_customer(db, tenant, "Plain", 130)
    add_customer(db, tenant, "Calm", 160, risk=10)
    return tenant


GOOD = {
    "Risky": ("prepare", "earlyTrigger"),
    "Plain": ("prepare", "daysUntilRenewal"),
    "Calm": ("monitor", "daysUntilRenewal"),
}


def _hostile_prepare(db: Database, condition: str) -> uuid.UUID:
    tenant = new_tenant(db, "Hostile")
    config = core_config("prepare")
    config["trigger"]["earlyTriggers"] = [{"condition": condition, "description": "hostile"}]
    save_workflow(db, tenant, config)
    return tenant


def test_a_failing_early_trigger_fails_its_customer_alone(world_db: tuple[str, Database]) -> None:
    _, db = world_db
    hostile = _hostile_prepare(db, RISKY_OR_BOMB)
    bomb = add_customer(db, hostile, "Bomb", 160, risk=80, insights=BOMB_INSIGHTS)
    add_customer(db, hostile, "Risky", 160, risk=80)
    add_customer(db, hostile, "Plain", 130)
    good = _well_behaved(db)

    result = run_sweep(db, NOW)

    assert active(db, good) == GOOD
    # the hostile tenant's other customers are swept; the failing one stays in its own stage
    assert active(db, hostile) == {
        "Risky": ("prepare", "earlyTrigger"),
        "Plain": ("prepare", "daysUntilRenewal"),
        "Bomb": ("monitor", "daysUntilRenewal"),
    }
    mine = [f for f in result.failures if f.subject.tenant_id == hostile]
    assert [(f.subject.type, f.subject.id) for f in mine] == [("customer", str(bomb))]
    [row] = failures(db, hostile, JOB)
    assert (row["subject_type"], row["subject_id"], row["workflow_id"], row["field"]) == (
        "customer",
        str(bomb),
        "prepare",
        "trigger.earlyTriggers[0].condition",
    )
    assert "loop iterations" in row["error"]
    assert row["attempts"] == 1
    assert row["next_attempt_at"] == NOW + BACKOFF_BASE
    assert failures(db, good) == []

    # skipped until its next attempt: not evaluated again, however often the sweep runs
    again = run_sweep(db, NOW + timedelta(minutes=1))
    assert again.waiting >= 1
    assert not [f for f in again.failures if f.subject.tenant_id == hostile]
    assert failures(db, hostile, JOB)[0]["attempts"] == 1

    # due again: tried, failed, and the next attempt is twice as far
    later = NOW + timedelta(minutes=6)
    run_sweep(db, later)
    [row] = failures(db, hostile, JOB)
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == later + 2 * BACKOFF_BASE

    # the data is fixed: the next attempt succeeds, the failure is resolved
    set_insights(db, hostile, bomb, [])
    fixed = run_sweep(db, later + timedelta(minutes=11))
    assert not fixed.failures or all(f.subject.tenant_id != hostile for f in fixed.failures)
    assert active(db, hostile)["Bomb"] == ("prepare", "earlyTrigger")
    assert failures(db, hostile, JOB) == []
    with db.tenant_transaction(hostile) as conn:
        resolved, _ = list_failures(conn, job=JOB, resolved=True)
    assert [r["subject_id"] for r in resolved] == [str(bomb)]


def test_the_reported_currency_trigger_harms_nobody_else(world_db: tuple[str, Database]) -> None:
    _, db = world_db
    hostile = _hostile_prepare(db, HUGE_CURRENCY)
    add_customer(db, hostile, "Target", 160, risk=80)
    add_customer(db, hostile, "Plain", 130)
    good = _well_behaved(db)
    run_sweep(db, NOW)
    assert active(db, good) == GOOD
    assert active(db, hostile)["Plain"] == ("prepare", "daysUntilRenewal")
    # whether the helper fails on it or not, the customer is in a stage, nothing else is touched
    recorded = failures(db, hostile, JOB)
    assert active(db, hostile)["Target"] == ("monitor", "daysUntilRenewal")
    assert all(r["subject_type"] == "customer" for r in recorded)


def test_a_context_that_cannot_be_built_fails_its_customer_alone(
    world_db: tuple[str, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builder failing on one customer's data (OverflowError was the report's): found by
    halving the candidates, the others' contexts are built and their triggers fire."""
    _, db = world_db
    tenant = new_tenant(db, "Mixed")
    broken = add_customer(db, tenant, "Broken", 160, risk=80)
    for i in range(9):
        add_customer(db, tenant, f"Risky {i}", 160, risk=80)
    good = _well_behaved(db)
    real = sweep_module.build_contexts
    calls: list[int] = []

    def build(conn: Any, ids: Any) -> Any:
        calls.append(len(ids))
        if broken in ids:
            raise OverflowError("int too large to convert to float")
        return real(conn, ids)

    monkeypatch.setattr(sweep_module, "build_contexts", build)
    result = run_sweep(db, NOW)
    monkeypatch.undo()

    assert active(db, good) == GOOD
    found = active(db, tenant)
    assert found.pop("Broken") == ("monitor", "daysUntilRenewal")
    assert set(found.values()) == {("prepare", "earlyTrigger")}
    assert len(found) == 9
    [failure] = [f for f in result.failures if f.subject.tenant_id == tenant]
    assert (failure.subject.type, failure.subject.id, failure.fault.field) == (
        "customer",
        str(broken),
        "context",
    )
    assert failure.error == "OverflowError: int too large to convert to float"
    # halvings down to the one customer (two reads per level), not one read per customer
    assert len(calls) <= 2 * calls[0].bit_length() + 1


def test_stored_usage_beyond_any_double_harms_nobody_else(world_db: tuple[str, Database]) -> None:
    """The report's data (-1e400 and 1e400 stored for a customer before the input limits), through
    `renewflow sweep` as an operator runs it."""
    url, db = world_db
    hostile = new_tenant(db, "Usage")
    customer = add_customer(db, hostile, "Overflow", 160, risk=80)
    add_customer(db, hostile, "Plain", 130)
    store_usage(db, url, hostile, customer, ["-1e400", "1e400"])
    good = _well_behaved(db)
    done = subprocess.run(
        [sys.executable, "-m", "renewflow", "sweep"],
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert active(db, good) == GOOD
    assert active(db, hostile)["Plain"] == ("prepare", "daysUntilRenewal")
    lines = [x for x in done.stderr.splitlines() if x.startswith("renewflow: sweep failed")]
    assert done.returncode == (1 if lines else 0), done.stderr
    for row in failures(db, hostile, JOB):  # the builder may cope with such values, or fail alone
        assert (row["subject_id"], row["field"]) == (str(customer), "context")
        assert any(str(customer) in line for line in lines)


def test_the_cli_prints_each_failure_and_exits_1_after_committing_the_rest(
    world_db: tuple[str, Database],
) -> None:
    url, db = world_db
    hostile = _hostile_prepare(db, RISKY_OR_BOMB)
    bomb = add_customer(db, hostile, "Bomb", 160, risk=80, insights=BOMB_INSIGHTS)
    good = _well_behaved(db)
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "renewflow", "sweep", "--tenant", str(hostile)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("renewflow: sweep")]
    assert f"tenant {hostile}: customer {bomb}" in line
    assert "trigger.earlyTriggers[0].condition" in line
    assert "Traceback" not in done.stderr
    assert "started" in done.stdout
    assert active(db, hostile) == {"Bomb": ("monitor", "daysUntilRenewal")}
    assert active(db, good) == {}  # --tenant: only that tenant
    # a sweep with nothing failing exits 0
    clean = subprocess.run(
        [sys.executable, "-m", "renewflow", "sweep", "--tenant", str(good)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert clean.returncode == 0, clean.stderr
    assert active(db, good) == {
        "Risky": ("prepare", "earlyTrigger"),
        "Plain": ("prepare", "daysUntilRenewal"),
        "Calm": ("monitor", "daysUntilRenewal"),
    }


def test_a_tenant_whose_statements_fail_fails_alone(world_db: tuple[str, Database]) -> None:
    """The all-tenant transaction fails on one tenant's rows: the sweep goes tenant by tenant,
    that tenant's failure is recorded, and from then on it is swept alone, after its backoff."""
    url, db = world_db
    hostile = new_tenant(db, "Refused")
    add_customer(db, hostile, "Plain", 130)
    good = _well_behaved(db)
    undo = fail_inserts_of(url, "workflow_executions", hostile)
    try:
        first = run_sweep(db, NOW)
        assert active(db, good) == GOOD
        assert active(db, hostile) == {}
        [failure] = [f for f in first.failures if f.subject.tenant_id == hostile]
        assert failure.subject.type == "tenant"
        assert "this tenant's row is refused" in failure.error
        [row] = failures(db, hostile, JOB)
        assert (row["subject_type"], row["attempts"]) == ("tenant", 1)

        # waiting: left out of the all-tenant transaction, which works again for the others
        newcomer = _well_behaved(db)
        second = run_sweep(db, NOW + timedelta(minutes=1))
        assert second.waiting >= 1
        assert active(db, newcomer) == GOOD
        assert failures(db, hostile, JOB)[0]["attempts"] == 1
    finally:
        undo()
    # its next attempt, alone: it works now, and the failure is resolved
    run_sweep(db, NOW + timedelta(minutes=6))
    assert active(db, hostile) == {"Plain": ("prepare", "daysUntilRenewal")}
    assert failures(db, hostile, JOB) == []


def test_an_admin_sweep_of_one_tenant_records_instead_of_raising(
    world_db: tuple[str, Database],
) -> None:
    url, db = world_db
    hostile = new_tenant(db, "Alone")
    add_customer(db, hostile, "Plain", 130)
    undo = fail_inserts_of(url, "workflow_executions", hostile)
    try:
        result = sweep_tenant(db, hostile, NOW)
        # the transaction-level function still raises for its caller (the API's tenant sweep)
        with pytest.raises(Exception, match="refused"), db.tenant_transaction(hostile) as conn:
            sweep(conn, NOW)
    finally:
        undo()
    [failure] = result.failures
    assert (failure.subject.type, failure.subject.id) == ("tenant", str(hostile))
    assert [r["subject_type"] for r in failures(db, hostile, JOB)] == ["tenant"]
