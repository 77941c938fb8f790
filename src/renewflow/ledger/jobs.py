"""The ledger's periodic jobs (the health check, retention) and the wrapper that makes any
periodic job write its ledger rows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from renewflow.db import Connection, Database, load_queries
from renewflow.jobs import PeriodicJob
from renewflow.jobs.failures import is_outage
from renewflow.ledger import budget
from renewflow.ledger.health import (
    HEALTH_CHECK_EVERY,
    RETENTION_EVERY,
    ScheduledJob,
    notify_incidents,
)
from renewflow.ledger.retention import JOB as RETENTION_JOB
from renewflow.ledger.retention import run_retention
from renewflow.ledger.runs import TaskType, periodic

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.ledger")

HEALTH_JOB = "ledger.health"


def ledgered(database: Database, job: PeriodicJob, task_type: TaskType) -> PeriodicJob:
    """`job`, writing a ledger row per tenant for each run (`periodic`): the tenants its
    `job_failures` (under the job's name) show failing are failed or partially failed."""

    if job.run_alone is not None:
        inner_alone = job.run_alone

        def run_alone(should_stop: Callable[[], bool]) -> object:
            with periodic(
                database, task_type, agent_name=job.name, every=job.every, failures_of=(job.name,)
            ):
                return inner_alone(should_stop)

        return PeriodicJob.alone(job.name, job.every, run_alone)
    assert job.run is not None
    inner = job.run

    def run(conn: Connection) -> None:
        with periodic(
            database, task_type, agent_name=job.name, every=job.every, failures_of=(job.name,)
        ):
            inner(conn)

    return PeriodicJob(job.name, job.every, run)


def run_health(
    database: Database,
    jobs: Sequence[ScheduledJob] | None = None,
    *,
    every: timedelta = HEALTH_CHECK_EVERY,
    now: datetime | None = None,
) -> int:
    """For each tenant, in its own transaction: tells its admins about late or down jobs (once
    per incident) and budgets past their alert share (once per period). Returns how many
    notifications were written. Its own ledger rows say it ran."""
    moment = now or datetime.now(UTC)
    written = 0
    with periodic(
        database, TaskType.SYSTEM_HEALTH_CHECK, agent_name=HEALTH_JOB, every=every
    ) as run:
        with database.service_transaction() as conn:
            tenants = [row["id"] for row in conn.execute(_Q["tenant_ids"])]
        for tenant_id in tenants:
            try:
                with database.tenant_transaction(tenant_id) as conn:
                    incidents = notify_incidents(conn, tenant_id, jobs, moment)
                    warnings = budget.warn(conn, tenant_id, moment)
            except Exception as error:
                if is_outage(error):
                    raise
                log.warning("health check: tenant %s failed: %s", tenant_id, error)
                run.fail(tenant_id, error)
                continue
            if incidents:
                run.count(tenant_id, "incidents_notified", incidents)
            if warnings:
                run.count(tenant_id, "budget_notices", warnings)
            written += incidents + warnings
    return written


def health_job(
    database: Database,
    jobs: Sequence[ScheduledJob] | None = None,
    every: timedelta = HEALTH_CHECK_EVERY,
) -> PeriodicJob:
    return PeriodicJob.alone(
        HEALTH_JOB, every, lambda should_stop: run_health(database, jobs, every=every)
    )


def retention_job(database: Database, every: timedelta = RETENTION_EVERY) -> PeriodicJob:
    # alone: many short transactions, one batch each
    return PeriodicJob.alone(
        RETENTION_JOB, every, lambda should_stop: run_retention(database, should_stop=should_stop)
    )
