"""The periodic task sweep (the spec's 5-minute executor, reshaped): claiming is continuous, so
what remains periodic is the cross-tenant housekeeping — wake snoozed tasks whose time has come,
flag tasks past their snooze deadline as requiring a decision, re-queue expired leases."""

from __future__ import annotations

import logging
from datetime import timedelta

from renewflow.db import Connection, load_queries
from renewflow.jobs import PeriodicJob
from renewflow.tasks.service import flag_decisions, wake_snoozed

log = logging.getLogger(__name__)

_QUEUE = load_queries("renewflow.tasks", "queue.sql")

SWEEP_NAME = "tasks.sweep"


def sweep(conn: Connection) -> None:
    """Runs as the service role: every tenant at once."""
    woken = wake_snoozed(conn)
    flagged = flag_decisions(conn)
    reaped = len(conn.execute(_QUEUE["reap"], {}).fetchall())
    if woken or flagged or reaped:
        log.info("task sweep: %d woken, %d need a decision, %d re-queued", woken, flagged, reaped)


def sweep_job(every: timedelta = timedelta(minutes=1)) -> PeriodicJob:
    return PeriodicJob(SWEEP_NAME, every, sweep)
