"""Every periodic job of the worker appears in the ledger with its duration; the health of
scheduled work (late, then down; one notification per incident)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from renewflow.db import Database
from renewflow.jobs import PeriodicScheduler
from renewflow.ledger import TaskType, health
from renewflow.worker import Intervals, periodic_jobs
from tests.ledger.conftest import add_admin, ledger_rows, notices


def test_every_periodic_job_of_the_worker_writes_its_ledger_row(
    database: Database, tenant: uuid.UUID
) -> None:
    jobs = periodic_jobs(database, Intervals())
    scheduler = PeriodicScheduler(database, jobs, worker=f"test-{uuid.uuid4().hex[:6]}")
    # a moment no other test's slots use: every job's slot is free
    scheduler.tick(datetime(2031, 1, 1, 3, 0, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 3000))
    for task_type in (
        TaskType.TASK_SWEEP,
        TaskType.RENEWAL_SWEEP,
        TaskType.NOTIFICATION_SCHEDULE,
        TaskType.NOTIFICATION_DELIVERY,
        TaskType.SYSTEM_HEALTH_CHECK,
        TaskType.DATA_CLEANUP,
    ):
        rows = ledger_rows(database, tenant, task_type)
        assert rows, f"no ledger row for {task_type}"
        assert rows[-1]["status"] == "completed", rows[-1]
        assert rows[-1]["duration_ms"] is not None


def test_a_job_not_succeeding_is_late_then_down_and_admins_hear_once(
    database: Database, tenant: uuid.UUID
) -> None:
    add_admin(database, tenant)
    rule = health.job(TaskType.RENEWAL_SWEEP, "engine.renewal_sweep", timedelta(hours=1))
    now = datetime.now(UTC)
    with database.tenant_transaction(tenant) as conn:
        [fresh] = health.tenant_health(conn, tenant, [rule], now)
        [late] = health.tenant_health(conn, tenant, [rule], now + timedelta(hours=2, minutes=1))
        [down] = health.tenant_health(conn, tenant, [rule], now + timedelta(hours=7))
    assert (fresh.state, late.state, down.state) == ("ok", "late", "down")
    for when in (timedelta(hours=3), timedelta(hours=8)):
        with database.tenant_transaction(tenant) as conn:
            health.notify_incidents(conn, tenant, [rule], now + when)
    [told] = notices(database, tenant, "scheduled_job_health")
    assert "engine.renewal_sweep" in told["title"]
    with database.service_transaction() as conn:
        counts = health.tenants_by_state(conn, [rule], now + timedelta(hours=7))
    assert counts[("renewal_sweep", "down")] >= 1


def test_the_metrics_count_tenants_by_job_state(database: Database, tenant: uuid.UUID) -> None:
    from renewflow.observability.metrics import Metrics

    metrics = Metrics()
    metrics.watch(database)
    text = metrics.render()
    assert 'renewflow_scheduled_job_tenants{state="ok",task_type="renewal_sweep"}' in text
