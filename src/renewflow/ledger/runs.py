"""Writing the ledger: a run's row opened and closed in short transactions of their own, and the
helper a periodic job spanning tenants writes its rows with."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow.db import Connection, Database, load_queries
from renewflow.jobs.failures import Failure, describe_error

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.ledger")


class TaskType(StrEnum):
    """`autonomous_tasks.task_type` (the CHECK of migration 0026; a contract test keeps them
    equal): the spec's twelve, then renewflow's own scheduled work."""

    CONTINUOUS_INTELLIGENCE_UPDATE = "continuous_intelligence_update"
    DAILY_ANALYTICS_ROLLUP = "daily_analytics_rollup"
    WEEKLY_REPORT_GENERATION = "weekly_report_generation"
    MONTHLY_SUMMARY = "monthly_summary"
    EMAIL_SYNC = "email_sync"
    CONTACT_ENRICHMENT = "contact_enrichment"
    LEAD_SCORING_BATCH = "lead_scoring_batch"
    CAMPAIGN_OPTIMIZATION = "campaign_optimization"
    CONTENT_CALENDAR_SYNC = "content_calendar_sync"
    SOCIAL_MEDIA_POSTING = "social_media_posting"
    DATA_CLEANUP = "data_cleanup"  # retention
    SYSTEM_HEALTH_CHECK = "system_health_check"
    RENEWAL_SWEEP = "renewal_sweep"
    AI_TASK_EXECUTION = "ai_task_execution"
    NOTIFICATION_DELIVERY = "notification_delivery"
    NOTIFICATION_SCHEDULE = "notification_schedule"
    TASK_SWEEP = "task_sweep"
    AGENT_TASK_STEP = "agent_task_step"


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PARTIAL_FAILURE = "partial_failure"
    CANCELLED = "cancelled"


TriggeredBy = Literal["cron", "user", "api", "system"]
FINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.PARTIAL_FAILURE, Status.CANCELLED})
# Jobs running more often than this write one row per tenant and period of this length.
PERIOD = timedelta(hours=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _json(value: Mapping[str, Any] | None) -> Jsonb | None:
    return Jsonb(dict(value)) if value is not None else None


def start(
    conn: Connection,
    *,
    tenant_id: UUID,
    task_type: TaskType | str,
    triggered_by: TriggeredBy = "cron",
    agent_name: str | None = None,
    input: Mapping[str, Any] | None = None,
) -> UUID:
    """Opens a run: a `running` row, `executed_at` now. Call it in a short transaction of its
    own (tenant or service role) and commit before the run's work: its LLM and network calls
    must not hold it."""
    row = conn.execute(
        _Q["start_run"],
        {
            "tenant_id": tenant_id,
            "task_type": str(TaskType(task_type)),
            "triggered_by": triggered_by,
            "agent_name": agent_name,
            "input": Jsonb(dict(input or {})),
        },
    ).fetchone()
    assert row is not None
    run_id: UUID = row["id"]
    return run_id


def finish(
    conn: Connection,
    run_id: UUID,
    *,
    status: Status | str,
    output: Mapping[str, Any] | None = None,
    error: BaseException | str | None = None,
    cost_usd: Decimal | None = None,
) -> dict[str, Any] | None:
    """Closes a run with a final status (`completed`, `failed`, `partial_failure` when some of
    its items failed, `cancelled`), `completed_at` now and its cost: `cost_usd`, or else the sum
    of the LLM calls linked to it (`attach`, `link_calls`). Returns the row, or None if the run
    was already finished (a repeated finish changes nothing) or is not visible."""
    final = Status(status)
    if final not in FINAL:
        raise ValueError(
            f"a run finishes completed, failed, partial_failure or cancelled, not {final}"
        )
    message = describe_error(error) if isinstance(error, BaseException) else error
    return conn.execute(
        _Q["finish_run"],
        {
            "id": run_id,
            "status": str(final),
            "output": _json(output),
            "error": message,
            "cost": cost_usd,
        },
    ).fetchone()


def record(
    conn: Connection,
    *,
    tenant_id: UUID,
    task_type: TaskType | str,
    status: Status | str,
    triggered_by: TriggeredBy = "cron",
    agent_name: str | None = None,
    input: Mapping[str, Any] | None = None,
    output: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> UUID:
    """A run written already finished (e.g. `cancelled` with the reason: the budget is spent)."""
    final = Status(status)
    if final not in FINAL:
        raise ValueError(f"a recorded run is final, not {final}")
    row = conn.execute(
        _Q["record_run"],
        {
            "tenant_id": tenant_id,
            "task_type": str(TaskType(task_type)),
            "status": str(final),
            "triggered_by": triggered_by,
            "agent_name": agent_name,
            "input": Jsonb(dict(input or {})),
            "output": Jsonb(dict(output or {})),
            "error": error,
        },
    ).fetchone()
    assert row is not None
    run_id: UUID = row["id"]
    return run_id


def attach(conn: Connection, run_id: UUID) -> None:
    """Links every LLM call recorded later in `conn`'s transaction to `run_id` (the explicit
    link `llm_calls.autonomous_task_id`, set by a trigger): call it in the transaction that
    records the calls, after the LLM answered."""
    conn.execute(_Q["attach_run"], {"id": run_id})


def link_calls(conn: Connection, run_id: UUID, call_ids: Iterable[UUID]) -> int:
    """Links calls already recorded (by their ids) to `run_id`; returns how many."""
    return conn.execute(_Q["link_calls"], {"id": run_id, "call_ids": list(call_ids)}).rowcount


def period_start(now: datetime | None = None, period: timedelta = PERIOD) -> datetime:
    """The start of the ledger period `now` falls in (aligned on a fixed epoch, in UTC)."""
    moment = now or datetime.now(UTC)
    step = period.total_seconds()
    return _EPOCH + timedelta(seconds=((moment - _EPOCH).total_seconds() // step) * step)


def period_row(
    conn: Connection,
    *,
    tenant_id: UUID,
    task_type: TaskType | str,
    agent_name: str | None = None,
    triggered_by: TriggeredBy = "cron",
    now: datetime | None = None,
    period: timedelta = PERIOD,
) -> UUID:
    """The id of the tenant's row for the current period of a periodic job (created if needed),
    for a job that links its LLM calls to it (`attach`) before `TenantRuns` closes the run."""
    row = conn.execute(
        _Q["period_row"],
        {
            "tenant_id": tenant_id,
            "task_type": str(TaskType(task_type)),
            "agent_name": agent_name,
            "triggered_by": triggered_by,
            "input": Jsonb({}),
            "period_start": period_start(now, period),
        },
    ).fetchone()
    assert row is not None
    run_id: UUID = row["id"]
    return run_id


@dataclass
class _Tenant:
    status: Status = Status.COMPLETED
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    cost: Decimal | None = None


@dataclass
class TenantRuns:
    """What one run of a job over many tenants did for each tenant: filled by the job (through
    `periodic`), written as the ledger's rows when it ends. A tenant not named completed."""

    task_type: TaskType
    agent_name: str | None
    period: timedelta | None
    triggered_by: TriggeredBy = "cron"
    input: dict[str, Any] = field(default_factory=dict)
    tenants: set[UUID] | None = None  # only these tenants (None: every tenant)
    # the job names whose open `job_failures` make a tenant's run failed or partial
    failures_of: tuple[str, ...] = ()
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _by_tenant: dict[UUID, _Tenant] = field(default_factory=dict)

    @property
    def noted(self) -> bool:
        """Whether anything was noted about any tenant."""
        return bool(self._by_tenant)

    def _of(self, tenant_id: UUID) -> _Tenant:
        return self._by_tenant.setdefault(tenant_id, _Tenant())

    def count(self, tenant_id: UUID, key: str, n: int | float = 1) -> None:
        """Adds `n` to the tenant's counter `key` (its row's output_data)."""
        counts = self._of(tenant_id).counts
        counts[key] = counts.get(key, 0) + n

    def set(self, tenant_id: UUID, key: str, value: Any) -> None:
        self._of(tenant_id).counts[key] = value

    def cost(self, tenant_id: UUID, usd: Decimal) -> None:
        entry = self._of(tenant_id)
        entry.cost = (entry.cost or Decimal(0)) + usd

    def item_failed(self, tenant_id: UUID, error: BaseException | str, n: int = 1) -> None:
        """Some of the tenant's items failed: partial_failure (unless the tenant failed)."""
        entry = self._of(tenant_id)
        if entry.status is Status.COMPLETED:
            entry.status = Status.PARTIAL_FAILURE
        if entry.error is None:
            entry.error = describe_error(error) if isinstance(error, BaseException) else error
        self.count(tenant_id, "items_failed", n)

    def fail(self, tenant_id: UUID, error: BaseException | str) -> None:
        """The tenant's run failed as a whole."""
        entry = self._of(tenant_id)
        entry.status = Status.FAILED
        entry.error = describe_error(error) if isinstance(error, BaseException) else error

    def cancel(self, tenant_id: UUID, reason: str) -> None:
        entry = self._of(tenant_id)
        if entry.status is not Status.FAILED:
            entry.status = Status.CANCELLED
            entry.error = reason

    def failures(self, failures: Iterable[Failure]) -> None:
        """The job's recorded failures (`renewflow.jobs.failures`): a tenant's failure as a whole
        fails its run; a customer's, execution's or notification's makes it a partial failure."""
        for failure in failures:
            tenant_id = failure.subject.tenant_id
            if failure.subject.type == "tenant":
                self.fail(tenant_id, failure.error)
            else:
                self.item_failed(tenant_id, f"{failure.subject}: {failure.error}")

    def write(self, conn: Connection, *, error: BaseException | None = None) -> int:
        """Writes a row per tenant (or updates each tenant's period row) in `conn`'s service
        transaction; `error`: the job raised, so every tenant not otherwise noted failed with
        it. Returns how many rows were written."""
        if self.tenants is not None:
            tenant_ids = sorted(self.tenants | set(self._by_tenant))
        else:
            tenant_ids = [r["id"] for r in conn.execute(_Q["tenant_ids"])]
        message = describe_error(error) if error is not None else None
        if self.failures_of:
            for row in conn.execute(_Q["open_job_failures"], {"jobs": list(self.failures_of)}):
                if row["whole"]:
                    self.fail(row["tenant_id"], row["error"])
                elif self._of(row["tenant_id"]).status is Status.COMPLETED:
                    self.item_failed(row["tenant_id"], row["error"], int(row["items"]))
        statuses, outputs, errors, costs = [], [], [], []
        for tenant_id in tenant_ids:
            entry = self._by_tenant.get(tenant_id, _Tenant())
            status, reason = entry.status, entry.error
            if message is not None and status is not Status.FAILED:
                status, reason = Status.FAILED, message
            statuses.append(str(status))
            outputs.append(Jsonb(entry.counts))
            errors.append(reason)
            costs.append(entry.cost)
        rows = conn.execute(
            _Q["record_tenants"],
            {
                "task_type": str(self.task_type),
                "agent_name": self.agent_name,
                "triggered_by": self.triggered_by,
                "input": Jsonb(self.input),
                "started": self.started,
                "period_start": period_start(self.started, self.period) if self.period else None,
                "tenant_ids": tenant_ids,
                "statuses": statuses,
                "outputs": outputs,
                "errors": errors,
                "costs": costs,
            },
        ).fetchall()
        return len(rows)


def period_for(every: timedelta) -> timedelta | None:
    """The ledger period of a job run every `every`: a row per run for jobs at most hourly, one
    row per hour for the more frequent ones."""
    return PERIOD if every < PERIOD else None


@contextmanager
def periodic(
    database: Database,
    task_type: TaskType | str,
    *,
    agent_name: str | None = None,
    every: timedelta | None = None,
    triggered_by: TriggeredBy = "cron",
    input: Mapping[str, Any] | None = None,
    tenants: Iterable[UUID] | None = None,
    failures_of: Iterable[str] = (),
) -> Iterator[TenantRuns]:
    """One run of a periodic job over every tenant (or `tenants`), writing the ledger's rows when
    it ends, in a short service transaction of its own:

        with ledger.periodic(database, TaskType.RENEWAL_SWEEP, agent_name=JOB, every=...) as run:
            result = run_sweep(database)
            run.failures(result.failures)

    A tenant the job noted nothing about completed; `run.failures`, `run.fail`,
    `run.item_failed` and `run.cancel` say otherwise, `run.count` fills its output. If the body
    raises, every tenant not noted otherwise failed with that error, and the error goes on.
    `failures_of` names the job's `job_failures` name(s): a tenant with an open failure of its
    own failed, one with failing items (customers, executions, channels) partially failed. A job
    run more often than hourly (`every`) updates each tenant's row of the hour instead of adding
    one per run. If the ledger itself cannot be written, that is logged, never raised over the
    job's own outcome.
    """
    runs = TenantRuns(
        TaskType(task_type),
        agent_name,
        period_for(every) if every is not None else None,
        triggered_by,
        dict(input or {}),
        set(tenants) if tenants is not None else None,
        tuple(failures_of),
    )
    try:
        yield runs
    except BaseException as error:
        _write(database, runs, error if isinstance(error, Exception) else None)
        raise
    _write(database, runs, None)


def _write(database: Database, runs: TenantRuns, error: Exception | None) -> None:
    try:
        with database.service_transaction() as conn:
            runs.write(conn, error=error)
    except Exception as problem:
        log.warning("ledger: the rows of %s were not written (%s)", runs.task_type, problem)
