"""The health of scheduled work: each periodic job has an expected interval and a grace period.
A job that has not succeeded for a tenant (a ledger row `completed` or `partial_failure`) within
`every + grace` is late; past `down_after` it is down. A new tenant's jobs count from the
tenant's creation. Reported by the API (per tenant), `/metrics` (tenants per job and state) and,
once per incident, a notification to the tenant's admins (`notify_incidents`, run by the health
job itself: the API and the metrics still say "down" when no worker runs at all)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from renewflow.config import load_settings
from renewflow.db import Connection, load_queries
from renewflow.ledger.notices import notify_admins
from renewflow.ledger.runs import TaskType

_Q = load_queries("renewflow.ledger")

State = Literal["ok", "late", "down"]
STATES: tuple[State, ...] = ("ok", "late", "down")


@dataclass(frozen=True)
class ScheduledJob:
    task_type: TaskType
    name: str  # the periodic job's name (its slot in `periodic_runs`)
    every: timedelta
    grace: timedelta
    down_after: timedelta

    def state(self, since: datetime, now: datetime) -> State:
        age = now - since
        if age > self.down_after:
            return "down"
        if age > self.every + self.grace:
            return "late"
        return "ok"


def job(
    task_type: TaskType, name: str, every: timedelta, grace: timedelta | None = None
) -> ScheduledJob:
    """A job's health rule: late after one interval and a grace (by default the interval, at
    least 5 minutes, so a worker restart is not an incident), down after four more graces."""
    grace = grace if grace is not None else max(every, timedelta(minutes=5))
    return ScheduledJob(task_type, name, every, grace, every + grace * 5)


# The worker's jobs at their default intervals (`renewflow.worker.Intervals`); the worker builds
# the same list from its own intervals.
HEALTH_CHECK_EVERY = timedelta(minutes=5)
RETENTION_EVERY = timedelta(days=1)
INTELLIGENCE_EVERY = timedelta(minutes=30)
DEFAULT_JOBS: tuple[ScheduledJob, ...] = (
    job(TaskType.TASK_SWEEP, "tasks.sweep", timedelta(minutes=1)),
    job(TaskType.RENEWAL_SWEEP, "engine.renewal_sweep", timedelta(hours=1)),
    job(TaskType.NOTIFICATION_SCHEDULE, "engine.notification_schedule", timedelta(minutes=15)),
    job(TaskType.NOTIFICATION_DELIVERY, "notify.deliver", timedelta(seconds=30)),
    job(TaskType.SYSTEM_HEALTH_CHECK, "ledger.health", HEALTH_CHECK_EVERY),
    job(TaskType.DATA_CLEANUP, "ledger.retention", RETENTION_EVERY, timedelta(hours=6)),
)
# the continuous-intelligence agent's: a tenant is late when no pass has found it up to date
# (its changed customers passed, or nothing due) for an interval and a grace
INTELLIGENCE_JOB = job(
    TaskType.CONTINUOUS_INTELLIGENCE_UPDATE, "intelligence.continuous", INTELLIGENCE_EVERY
)


def default_jobs() -> tuple[ScheduledJob, ...]:
    """The health rules of the worker's jobs at their default intervals: the intelligence
    agent's too, unless the worker does not run it (RENEWFLOW_INTELLIGENCE_AGENT=false)."""
    if load_settings().intelligence_agent:
        return (*DEFAULT_JOBS, INTELLIGENCE_JOB)
    return DEFAULT_JOBS


@dataclass(frozen=True)
class JobHealth:
    task_type: str
    job: str
    state: State
    last_success_at: datetime | None
    since: datetime  # the last success, or the tenant's creation
    every_seconds: float
    grace_seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "task_type": self.task_type,
            "job": self.job,
            "state": self.state,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "every_seconds": self.every_seconds,
            "grace_seconds": self.grace_seconds,
        }


def _health(
    rule: ScheduledJob, last: datetime | None, created: datetime, now: datetime
) -> JobHealth:
    since = last or created
    return JobHealth(
        str(rule.task_type),
        rule.name,
        rule.state(since, now),
        last,
        since,
        rule.every.total_seconds(),
        rule.grace.total_seconds(),
    )


def tenant_health(
    conn: Connection,
    tenant_id: UUID,
    jobs: Sequence[ScheduledJob] | None = None,
    now: datetime | None = None,
) -> list[JobHealth]:
    """Each scheduled job's state for one tenant (one statement)."""
    moment = now or datetime.now(UTC)
    rules = {str(j.task_type): j for j in jobs or default_jobs()}
    rows = conn.execute(
        _Q["last_successes"], {"tenant_id": tenant_id, "types": list(rules)}
    ).fetchall()
    return [
        _health(rules[r["task_type"]], r["last_success"], r["tenant_created_at"], moment)
        for r in rows
    ]


def tenants_by_state(
    conn: Connection, jobs: Sequence[ScheduledJob] | None = None, now: datetime | None = None
) -> dict[tuple[str, State], int]:
    """As the service role: per (job's task type, state), how many tenants are in it."""
    moment = now or datetime.now(UTC)
    rules = {str(j.task_type): j for j in jobs or default_jobs()}
    counts = {(t, s): 0 for t in rules for s in STATES}
    for r in conn.execute(_Q["all_last_successes"], {"types": list(rules)}):
        health = _health(rules[r["task_type"]], r["last_success"], r["tenant_created_at"], moment)
        counts[(health.task_type, health.state)] += 1
    return counts


def notify_incidents(
    conn: Connection,
    tenant_id: UUID,
    jobs: Sequence[ScheduledJob] | None = None,
    now: datetime | None = None,
) -> int:
    """In the tenant's transaction: tells the admins about each job that is late or down, once
    per incident (an incident is named by the job and its last success: a job that recovers and
    fails again is a new one). The health job does not report on itself."""
    written = 0
    for health in tenant_health(conn, tenant_id, jobs, now):
        if health.state == "ok" or health.task_type == TaskType.SYSTEM_HEALTH_CHECK:
            continue
        last = health.last_success_at.isoformat() if health.last_success_at else "never"
        written += notify_admins(
            conn,
            key=f"ledger.health.{health.task_type}.{health.since.isoformat()}",
            title=f"Scheduled job {health.job} is {health.state}",
            message=(
                f"{health.job} runs every {health.every_seconds:g} s; its last success for this "
                f"tenant was {last}. Check that a worker is running (renewflow worker) and the "
                "job's failures (GET /api/failures)."
            ),
            notification_type="scheduled_job_health",
            priority="urgent" if health.state == "down" else "high",
        )
    return written
