"""Writing the ledger: a run opened and closed with its linked calls' cost, a job over many
tenants writing one row per tenant (or per tenant and hour), and the task types agreeing with
the database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from renewflow import ledger
from renewflow.db import Database
from renewflow.jobs.failures import Subject, record_failure
from tests.ledger.conftest import add_call, ledger_rows


def test_a_run_starts_running_and_finishes_with_its_calls_cost(
    database: Database, tenant: uuid.UUID
) -> None:
    with database.tenant_transaction(tenant) as conn:
        run_id = ledger.start(
            conn,
            tenant_id=tenant,
            task_type="continuous_intelligence_update",
            agent_name="continuous-intelligence",
            input={"batch": 5},
        )
    [row] = ledger_rows(database, tenant, "continuous_intelligence_update")
    assert row["status"] == "running"
    assert row["executed_at"] is not None
    add_call(database, tenant, "0.25", run_id=run_id)
    add_call(database, tenant, "0.50", run_id=run_id)
    add_call(database, tenant, "9.00")  # not the run's
    with database.tenant_transaction(tenant) as conn:
        done = ledger.finish(conn, run_id, status="completed", output={"processed": 3})
        again = ledger.finish(conn, run_id, status="failed", error="late")
    assert done is not None
    assert again is None
    assert done["cost_estimate_usd"] == Decimal("0.7500")
    assert done["duration_ms"] is not None
    assert done["duration_ms"] >= 0
    assert done["output_data"] == {"processed": 3}
    assert done["last_succeeded_at"] is not None


def test_a_failed_run_keeps_its_error_and_an_explicit_cost(
    database: Database, tenant: uuid.UUID
) -> None:
    with database.tenant_transaction(tenant) as conn:
        run_id = ledger.start(conn, tenant_id=tenant, task_type="renewal_sweep")
        row = ledger.finish(
            conn, run_id, status="failed", error=RuntimeError("boom"), cost_usd=Decimal("1.5")
        )
    assert row is not None
    assert row["error_message"] == "RuntimeError: boom"
    assert row["last_succeeded_at"] is None
    assert row["cost_estimate_usd"] == Decimal("1.5000")


def test_unknown_task_types_and_open_statuses_are_refused(
    database: Database, tenant: uuid.UUID
) -> None:
    with database.tenant_transaction(tenant) as conn:
        with pytest.raises(ValueError, match="mining"):
            ledger.start(conn, tenant_id=tenant, task_type="mining")
        run_id = ledger.start(conn, tenant_id=tenant, task_type="renewal_sweep")
        with pytest.raises(ValueError, match="running"):
            ledger.finish(conn, run_id, status="running")


def test_a_job_over_tenants_writes_a_row_per_tenant_with_its_failures(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    good, partial, broken = tenant_factory("Good"), tenant_factory("Partial"), tenant_factory("Bad")
    job = f"test.job.{uuid.uuid4().hex[:6]}"
    with ledger.periodic(
        database,
        "renewal_sweep",
        agent_name=job,
        failures_of=(job,),
        tenants=[good, partial, broken],
    ) as run:
        for tenant_id, subject in (
            (partial, Subject(partial, "customer", str(uuid.uuid4()))),
            (broken, Subject(broken, "tenant", str(broken))),
        ):
            with database.tenant_transaction(tenant_id) as conn:
                record_failure(conn, job, subject, "it broke")
        run.count(good, "started", 2)
    statuses = {t: ledger_rows(database, t, "renewal_sweep")[-1] for t in (good, partial, broken)}
    assert statuses[good]["status"] == "completed"
    assert statuses[good]["output_data"] == {"started": 2, "runs": 1, "failed_runs": 0}
    assert statuses[partial]["status"] == "partial_failure"
    assert "it broke" in statuses[partial]["error_message"]
    assert statuses[broken]["status"] == "failed"
    assert statuses[broken]["last_succeeded_at"] is None


def test_a_job_that_raises_fails_every_tenant_and_raises(
    database: Database, tenant: uuid.UUID
) -> None:
    with pytest.raises(RuntimeError):
        with ledger.periodic(database, "task_sweep", tenants=[tenant]):
            raise RuntimeError("the database went away")
    [row] = ledger_rows(database, tenant, "task_sweep")
    assert row["status"] == "failed"
    assert "went away" in row["error_message"]


def test_a_frequent_job_keeps_one_row_per_tenant_and_hour(
    database: Database, tenant: uuid.UUID
) -> None:
    every = timedelta(seconds=30)
    for n in range(3):
        with ledger.periodic(
            database, "notification_delivery", every=every, tenants=[tenant]
        ) as run:
            run.count(tenant, "sent", n)
            if n == 1:
                run.item_failed(tenant, "channel email: refused")
    rows = ledger_rows(database, tenant, "notification_delivery")
    if len(rows) == 2:  # the hour turned during the test
        return
    [row] = rows
    assert row["output_data"]["runs"] == 3
    assert row["output_data"]["sent"] == 3
    assert row["output_data"]["items_failed"] == 1
    # the latest run went well, an earlier one did not
    assert row["status"] == "partial_failure"
    assert row["period_start"] == ledger.period_start(row["executed_at"])


def test_the_task_types_are_the_databases(database: Database) -> None:
    with database.owner_connection() as conn:
        row = conn.execute(
            "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint "
            "WHERE conname = 'autonomous_tasks_task_type_check'"
        ).fetchone()
    assert row is not None
    in_sql = set(re.findall(r"'([a-z_]+)'::text", row["d"]))
    assert in_sql == {t.value for t in ledger.TaskType}
