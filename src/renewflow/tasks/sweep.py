"""The periodic task sweep (the spec's 5-minute executor, reshaped): claiming is continuous, so
what remains periodic is the cross-tenant housekeeping — wake snoozed tasks whose time has come,
flag tasks past their snooze deadline as requiring a decision, re-queue expired leases.

Every tenant in one transaction, the fast path; if it fails, tenant by tenant, so one tenant's
rows that cannot be changed fail that tenant alone (recorded in `job_failures`, retried after
a backoff) and the others are swept.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from renewflow.db import Connection, Database, load_queries
from renewflow.jobs import PeriodicJob
from renewflow.jobs.failures import Failure, run_by_tenant

log = logging.getLogger(__name__)

_QUEUE = load_queries("renewflow.tasks", "queue.sql")
_Q = load_queries("renewflow.tasks", "sweep.sql")

SWEEP_NAME = "tasks.sweep"


@dataclass(frozen=True)
class TaskSweepResult:
    woken: int = 0
    flagged: int = 0
    reaped: int = 0
    failures: tuple[Failure, ...] = ()


def sweep(conn: Connection, *, skip_tenants: Collection[UUID] = ()) -> TaskSweepResult:
    """In `conn`'s transaction: every tenant it sees (all of them as the service role) but
    `skip_tenants`. Expired leases are re-queued for every tenant it sees: that touches no
    tenant's data beyond the lease."""
    skip = {"skip_tenants": list(skip_tenants)}
    woken = len(conn.execute(_Q["wake_snoozed"], skip).fetchall())
    flagged = len(conn.execute(_Q["flag_decisions"], skip).fetchall())
    reaped = len(conn.execute(_QUEUE["reap"], {}).fetchall())
    if woken or flagged or reaped:
        log.info("task sweep: %d woken, %d need a decision, %d re-queued", woken, flagged, reaped)
    return TaskSweepResult(woken, flagged, reaped)


def run_sweep(database: Database) -> TaskSweepResult:
    """The sweep of every tenant, each failing alone (`run_by_tenant`)."""
    runs = run_by_tenant(
        database,
        SWEEP_NAME,
        together=lambda conn, skip: sweep(conn, skip_tenants=skip),
        alone=sweep,
    )
    for failure in runs.failures:
        log.warning("task sweep: %s", failure.describe())
    return TaskSweepResult(
        woken=sum(r.woken for r in runs.results),
        flagged=sum(r.flagged for r in runs.results),
        reaped=sum(r.reaped for r in runs.results),
        failures=tuple(runs.failures),
    )


def sweep_job(database: Database, every: timedelta = timedelta(minutes=1)) -> PeriodicJob:
    # alone: it opens its own transactions (one for all tenants, or one per tenant)
    return PeriodicJob.alone(SWEEP_NAME, every, lambda should_stop: run_sweep(database))
