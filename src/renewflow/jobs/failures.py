"""Failures of jobs that span tenants, kept where the tenant's admins see them (`job_failures`).

A cross-tenant job (the renewal sweep, the notification schedule, delivery, the task sweep) runs
each tenant, and inside a tenant each customer, execution or notification, so that one of them
failing fails alone. What failed is recorded here per subject: the job, the subject, what is at
fault (workflow, step, notification, field or template path) and the error. A failing subject
is skipped until its next attempt, which backs off exponentially (5 minutes, doubling, at most a
day); the failure is resolved when a later attempt succeeds.

A job loads its open failures once per run (`FailureLog.load`), asks `waiting(subject)` before
working on a subject, notes `fail` and `succeed` as it goes, and writes them with `flush` in a
transaction that commits (never inside the savepoint or transaction that just failed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, cast
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout

from renewflow.db import Connection, Database, DatabaseUnavailable, load_queries
from renewflow.errors import InvalidInputError, RenewflowError

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.jobs", "failures.sql")

T = TypeVar("T")

SubjectType = Literal["tenant", "customer", "execution", "notification", "workflow", "channel"]

BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_CAP = timedelta(days=1)
# An error is a message for a person; a hostile value must not make it a megabyte.
_MAX_ERROR = 2000


@dataclass(frozen=True)
class Subject:
    """What failed: a tenant as a whole, or one of its customers, executions, (scheduled)
    notifications, workflows or delivery channels. `id` is text: a uuid, or a composite such as
    `<execution id>:<notification id>`, or a channel's name."""

    tenant_id: UUID
    type: SubjectType
    id: str

    def __str__(self) -> str:
        return f"{self.type} {self.id}" if self.type != "tenant" else "the tenant"


@dataclass(frozen=True)
class Fault:
    """What is at fault, as far as the job can tell: the workflow (its `workflow_id`), the step,
    the notification, and the field or template path (`trigger.earlyTriggers[0].condition`)."""

    workflow_id: str | None = None
    step_id: str | None = None
    notification_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [
            f"workflow {self.workflow_id}" if self.workflow_id else "",
            f"step {self.step_id}" if self.step_id else "",
            f"notification {self.notification_id}" if self.notification_id else "",
            self.field or "",
        ]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Failure:
    """One subject's failure as recorded by this run: its attempt number and the next one."""

    job: str
    subject: Subject
    error: str
    fault: Fault = Fault()
    attempts: int = 1
    next_attempt_at: datetime | None = None

    def describe(self) -> str:
        fault = f" ({self.fault})" if str(self.fault) else ""
        when = (
            f"; attempt {self.attempts}, next at {self.next_attempt_at.isoformat()}"
            if self.next_attempt_at is not None
            else ""
        )
        return f"tenant {self.subject.tenant_id}: {self.subject}{fault}: {self.error}{when}"


def describe_error(error: BaseException) -> str:
    """The error as a person reads it: our own errors by their message, others by their type
    and message. A NUL cannot be stored in a text column; a huge message is cut (it is a
    diagnostic, not data)."""
    if isinstance(error, InvalidInputError):
        text = error.reason
    elif isinstance(error, RenewflowError):
        text = error.message
    else:
        detail = str(error).strip()
        text = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return _clean(text)


def _clean(text: str) -> str:
    text = text.replace("\x00", "")
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


def fault_of(error: BaseException, base: Fault = Fault()) -> Fault:
    """`base`, with the field or template path an error names (a template's place)."""
    if isinstance(error, InvalidInputError) and base.field is None:
        return Fault(base.workflow_id, base.step_id, base.notification_id, error.field)
    return base


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database cannot be used right now (the connection went away, the
    server is shutting down, a deadlock to retry) rather than that one tenant's work failed:
    such an error stops the run instead of being recorded against every tenant after it. A
    statement cancelled by its timeout is the work's own failure."""
    if isinstance(error, psycopg.errors.QueryCanceled):
        return False
    return isinstance(
        error, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout | DatabaseUnavailable
    )


@dataclass
class _Open:
    id: UUID
    due: bool


@dataclass
class FailureLog:
    """The open failures of one job, as the transaction that loaded them sees them (one tenant
    under row-level security, or every tenant as the service role), and what this run found.

    `fail` and `succeed` only take notes; `flush` writes them. A subject noted as failing in this
    run stays failing even if another part of the run succeeded with it.
    """

    job: str
    now: datetime | None
    _open: dict[Subject, _Open] = field(default_factory=dict)
    _failed: dict[Subject, tuple[str, Fault]] = field(default_factory=dict)
    _succeeded: set[Subject] = field(default_factory=set)

    @classmethod
    def load(cls, conn: Connection, job: str, now: datetime | None = None) -> FailureLog:
        log = cls(job, now)
        for row in conn.execute(_Q["open_failures"], {"job": job, "now": now}):
            subject = Subject(row["tenant_id"], row["subject_type"], row["subject_id"])
            log._open[subject] = _Open(row["id"], row["due"])
        return log

    def waiting(self, subject: Subject) -> bool:
        """True while `subject` failed before and its next attempt is still to come: skip it."""
        entry = self._open.get(subject)
        return entry is not None and not entry.due

    def is_open(self, subject: Subject) -> bool:
        return subject in self._open

    def failed(self, subject: Subject) -> bool:
        """Whether this run noted `subject` as failing."""
        return subject in self._failed

    def open_subjects(self, *types: SubjectType) -> list[Subject]:
        return [s for s in self._open if not types or s.type in types]

    def waiting_tenants(self) -> set[UUID]:
        """Tenants whose failure as a whole (subject `tenant`) still waits for its next attempt."""
        return {s.tenant_id for s in self._open if s.type == "tenant" and self.waiting(s)}

    def fail(self, subject: Subject, error: BaseException | str, fault: Fault = Fault()) -> None:
        if isinstance(error, BaseException):
            fault = fault_of(error, fault)
            error = describe_error(error)
        self._failed[subject] = (_clean(error), fault)
        self._succeeded.discard(subject)

    def succeed(self, subject: Subject) -> None:
        """`subject` was attempted and worked: its open failure (if any) is resolved at `flush`."""
        if subject not in self._failed and subject in self._open:
            self._succeeded.add(subject)

    def forget(self, subjects: Iterable[Subject]) -> None:
        """Drops this run's notes about `subjects` (their work was rolled back)."""
        for subject in subjects:
            self._failed.pop(subject, None)
            self._succeeded.discard(subject)

    @property
    def failed_count(self) -> int:
        return len(self._failed)

    def flush(self, conn: Connection) -> list[Failure]:
        """Writes this run's notes in `conn`'s transaction; returns the failures as recorded
        (with their attempt counts and next attempts). The notes are cleared."""
        recorded: list[Failure] = []
        if self._failed:
            subjects = list(self._failed)
            rows = conn.execute(
                _Q["record_failures"],
                {
                    "job": self.job,
                    "now": self.now,
                    "base": BACKOFF_BASE.total_seconds(),
                    "cap": BACKOFF_CAP.total_seconds(),
                    "tenant_ids": [s.tenant_id for s in subjects],
                    "subject_types": [s.type for s in subjects],
                    "subject_ids": [s.id for s in subjects],
                    "workflow_ids": [self._failed[s][1].workflow_id for s in subjects],
                    "step_ids": [self._failed[s][1].step_id for s in subjects],
                    "notification_ids": [self._failed[s][1].notification_id for s in subjects],
                    "fields": [self._failed[s][1].field for s in subjects],
                    "errors": [self._failed[s][0] for s in subjects],
                },
            ).fetchall()
            written = {Subject(r["tenant_id"], r["subject_type"], r["subject_id"]): r for r in rows}
            for subject in subjects:
                error, fault = self._failed[subject]
                row: dict[str, Any] | None = written.get(subject)
                if row is not None:  # open now, and waiting for its next attempt
                    self._open[subject] = _Open(row["id"], due=False)
                recorded.append(
                    Failure(
                        self.job,
                        subject,
                        error,
                        fault,
                        attempts=row["attempts"] if row else 1,
                        next_attempt_at=row["next_attempt_at"] if row else None,
                    )
                )
        if self._succeeded:
            conn.execute(
                _Q["resolve_failures"],
                {
                    "now": self.now,
                    "ids": [self._open[s].id for s in self._succeeded],
                    "tenant_ids": list({s.tenant_id for s in self._succeeded}),
                },
            )
            for subject in self._succeeded:
                del self._open[subject]
        self._failed.clear()
        self._succeeded.clear()
        return recorded


def record_failure(
    conn: Connection,
    job: str,
    subject: Subject,
    error: BaseException | str,
    *,
    fault: Fault = Fault(),
    now: datetime | None = None,
) -> Failure:
    """Records one failure at once, in `conn`'s transaction (for a tenant whose own transaction
    just failed: this is a new one)."""
    log = FailureLog(job, now)
    log.fail(subject, error, fault)
    return log.flush(conn)[0]


@dataclass(frozen=True)
class TenantRuns(Generic[T]):
    """What `run_by_tenant` did: each transaction's result, the tenants that failed as a whole
    (each recorded), and how many tenants waited for their next attempt."""

    results: list[T]
    failures: list[Failure]
    waiting: int


def run_by_tenant(
    database: Database,
    job: str,
    *,
    together: Callable[[Connection, set[UUID]], T],
    alone: Callable[[Connection], T],
    now: datetime | None = None,
) -> TenantRuns[T]:
    """Runs a job over every tenant, each tenant failing alone.

    The fast path is one service transaction for all tenants, `together(conn, skip)`, which must
    leave out the tenants in `skip`: those whose run failed before. If that transaction fails,
    each tenant runs `alone(conn)` in a tenant transaction of its own. A tenant that failed runs
    alone from then on, once its next attempt has come, until it succeeds (which resolves its
    failure). A tenant whose own transaction fails is recorded (subject `tenant`) and the others
    go on. An outage (`is_outage`) is raised: it is nobody's failure.
    """
    with database.service_transaction() as conn:
        failures = FailureLog.load(conn, job, now)
        tenants = [row["id"] for row in conn.execute(_Q["tenant_ids"])]
    failing = {s.tenant_id for s in failures.open_subjects("tenant")}
    waiting = failures.waiting_tenants()
    runs: TenantRuns[T] = TenantRuns([], [], len(waiting))
    alone_now = [t for t in tenants if t in failing and t not in waiting]
    try:
        with database.service_transaction() as conn:
            runs.results.append(together(conn, failing))
    except Exception as error:
        if is_outage(error):
            raise
        log.warning(
            "%s: the transaction of all tenants failed (%s); running tenant by tenant",
            job,
            describe_error(error),
        )
        alone_now = [t for t in tenants if t not in failing] + alone_now
    for tenant_id in alone_now:
        result, failure = run_alone(database, job, tenant_id, alone, now)
        if failure is not None:
            runs.failures.append(failure)
        else:
            runs.results.append(cast(T, result))
    return runs


def run_alone(
    database: Database,
    job: str,
    tenant_id: UUID,
    alone: Callable[[Connection], T],
    now: datetime | None = None,
) -> tuple[T | None, Failure | None]:
    """`alone(conn)` in a transaction of the tenant's own: (its result, None), resolving the
    tenant's open failure of `job`; or, if it fails, (None, the failure), recorded in a new
    transaction."""
    subject = Subject(tenant_id, "tenant", str(tenant_id))
    try:
        with database.tenant_transaction(tenant_id) as conn:
            result = alone(conn)
            failures = FailureLog.load(conn, job, now)
            failures.succeed(subject)
            failures.flush(conn)
        return result, None
    except Exception as error:
        if is_outage(error):
            raise
        with database.tenant_transaction(tenant_id) as conn:
            failure = record_failure(conn, job, subject, error, now=now)
        log.info("%s: %s", job, failure.describe())  # the caller reports it
        return None, failure


def list_failures(
    conn: Connection,
    *,
    job: str | None = None,
    subject_type: str | None = None,
    resolved: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The failures the transaction's tenant may see: open ones (or resolved ones), newest
    first; with the total count."""
    rows = conn.execute(
        _Q["list_failures"],
        {
            "job": job,
            "subject_type": subject_type,
            "resolved": resolved,
            "limit": limit,
            "offset": offset,
        },
    ).fetchall()
    return rows, (int(rows[0]["total_count"]) if rows else 0)
