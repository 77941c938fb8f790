"""The trigger sweep: every customer with an active contract gets the workflow its days until
renewal call for, in a few set-based statements however many customers there are; then early
triggers may pull a stage forward for the customers just before it.

Run with a service transaction it covers every tenant; with a tenant transaction (an admin's
on-demand sweep), row-level security narrows the same statements to that tenant.

One tenant's bad data harms nobody else. The Python part (contexts, early-trigger conditions)
fails per customer: such a customer stays where the set-based part put it and its failure is
recorded (`job_failures`), retried with a backoff. `run_sweep`, the cross-tenant job, sweeps
every tenant in one transaction, the fast path; if that transaction fails, it sweeps tenant by
tenant, each in its own transaction, so a tenant whose statements fail fails alone. A tenant
that failed is swept alone from then on until it succeeds, and not before its next attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow import templates
from renewflow.context import CustomerNotFound, build_contexts
from renewflow.db import Connection, Database, load_queries
from renewflow.engine.errors import TemplateFailed
from renewflow.jobs.failures import (
    Failure,
    FailureLog,
    Fault,
    Subject,
    is_outage,
    run_alone,
    run_by_tenant,
)
from renewflow.tasks import surface_open_tasks_of_many
from renewflow.workflows.model import EarlyTrigger, Trigger

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.engine")

JOB = "engine.renewal_sweep"

# How many days before its range a workflow's early triggers are looked at.
EARLY_WINDOW_DAYS = 30


@dataclass(frozen=True)
class SweepResult:
    considered: int = 0
    started: int = 0
    superseded: int = 0
    tasks_carried: int = 0
    started_early: int = 0
    # what failed in this run, each recorded in job_failures (and so retried later)
    failures: tuple[Failure, ...] = ()
    # subjects (tenants, customers) left out: they failed before, their next attempt is later
    waiting: int = 0

    def __add__(self, other: SweepResult) -> SweepResult:
        return SweepResult(
            considered=self.considered + other.considered,
            started=self.started + other.started,
            superseded=self.superseded + other.superseded,
            tasks_carried=self.tasks_carried + other.tasks_carried,
            started_early=self.started_early + other.started_early,
            failures=self.failures + other.failures,
            waiting=self.waiting + other.waiting,
        )


def sweep(
    conn: Connection, now: datetime | None = None, *, skip_tenants: Collection[UUID] = ()
) -> SweepResult:
    """Starts and supersedes executions so each customer runs the workflow of its stage, in
    `conn`'s transaction, for every tenant it sees but `skip_tenants`.

    Idempotent: a second run at the same moment changes nothing. `now` exists so tests and
    backfills can sweep as of another time. A customer whose context or early-trigger condition
    fails is recorded as failing and skipped; a failing statement raises (`run_sweep` then
    sweeps tenant by tenant).
    """
    moment = now or datetime.now(UTC)
    skip = set(skip_tenants)
    params = {"now": moment, "skip_tenants": list(skip)}
    with conn.transaction():
        failures = FailureLog.load(conn, JOB, moment)
        conn.execute(_Q["drop_sweep_tables"])
        conn.execute(_Q["sweep_usable"], params)
        considered = conn.execute(_Q["sweep_targets"], params).rowcount
        # temporary tables are never auto-analysed; the next statements join on it
        conn.execute(_Q["analyze_sweep_targets"])
        superseded = conn.execute(_Q["sweep_supersede"], params).fetchall()
        conn.execute(_Q["sweep_drop_running"])
        started = conn.execute(
            _Q["sweep_start"], {**params, "moved": [row["customer_id"] for row in superseded]}
        ).fetchone()
        assert started is not None
        carried = surface_open_tasks_of_many(
            conn, list(zip(started["moved_customers"], started["moved_executions"], strict=True))
        )
        early = _EarlyTriggers(conn, moment, failures, covers=lambda t: t not in skip).run()
        recorded = failures.flush(conn)
    for failure in recorded:  # the caller reports them (the worker logs, the CLI prints)
        log.info("renewal sweep: %s", failure.describe())
    return SweepResult(
        considered=considered,
        started=started["started"] + early.started,
        superseded=len(superseded) + early.superseded,
        tasks_carried=carried + early.carried,
        started_early=early.started,
        failures=tuple(recorded),
        waiting=early.waiting,
    )


def run_sweep(database: Database, now: datetime | None = None) -> SweepResult:
    """The sweep of every tenant (the hourly job and `renewflow sweep`), each tenant failing
    alone: one transaction for all, the fast path; if it fails, one per tenant. Tenants whose
    sweep failed before are swept alone, once their next attempt has come."""
    moment = now or datetime.now(UTC)
    runs = run_by_tenant(
        database,
        JOB,
        together=lambda conn, skip: sweep(conn, moment, skip_tenants=skip),
        alone=lambda conn: sweep(conn, moment),
        now=moment,
    )
    total = SweepResult(failures=tuple(runs.failures), waiting=runs.waiting)
    for result in runs.results:
        total += result
    return total


def sweep_tenant(database: Database, tenant_id: UUID, now: datetime | None = None) -> SweepResult:
    """One tenant's sweep in a transaction of its own, whether or not its last one failed (an
    operator asking for it); if it fails, the failure is recorded for the tenant instead of
    raised."""
    moment = now or datetime.now(UTC)
    result, failure = run_alone(database, JOB, tenant_id, lambda conn: sweep(conn, moment), moment)
    return result if result is not None else SweepResult(failures=(failure,) if failure else ())


@dataclass
class _Early:
    started: int = 0
    superseded: int = 0
    carried: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class _Compiled:
    """One early trigger of a workflow, its condition compiled."""

    index: int
    trigger: EarlyTrigger
    template: templates.Template


@dataclass
class _EarlyTriggers:
    """Evaluates the early triggers of the workflows just ahead of each customer. One context per
    candidate: candidates are only the customers in the window before a workflow that has early
    triggers. Each customer, and each workflow's triggers, fail alone."""

    conn: Connection
    now: datetime
    failures: FailureLog
    covers: Callable[[UUID], bool]
    _workflows: dict[Any, list[_Compiled] | BaseException] = field(default_factory=dict)
    _usable: dict[tuple[Any, Any], list[_Compiled]] = field(default_factory=dict)

    def run(self) -> _Early:
        conn, failures = self.conn, self.failures
        result = _Early()
        rows = conn.execute(_Q["early_candidates"], {"window": EARLY_WINDOW_DAYS}).fetchall()
        # per customer only where a failure is open (few): the loop below is the sweep's Python
        waiting = {UUID(s.id) for s in failures.open_subjects("customer") if failures.waiting(s)}
        candidates = [row for row in rows if row["customer_id"] not in waiting]
        result.waiting = len(rows) - len(candidates)
        tenants = {row["customer_id"]: row["tenant_id"] for row in candidates}
        # a context without an execution reads nothing the sweep writes: the candidates' contexts
        # are built up front, in one query, and the writes come after the loop, set-based
        contexts = _contexts(
            conn,
            list(tenants),
            lambda customer, error: failures.fail(
                Subject(tenants[customer], "customer", str(customer)), error, Fault(field="context")
            ),
        )
        done: set[Any] = set()
        superseded_ids: list[Any] = []
        fired_rows: list[tuple[dict[str, Any], EarlyTrigger]] = []
        for row in candidates:
            customer = row["customer_id"]
            if customer in done:
                continue  # the nearest stage's trigger had its chance first, or it failed
            early = self._early_of(row)
            if not early:
                continue
            context = contexts.get(customer)
            if context is None:
                if not failures.failed(_customer(row)):  # else its builder's failure is noted
                    failures.fail(
                        _customer(row),
                        CustomerNotFound(f"customer {customer} not found"),
                        Fault(field="context"),
                    )
                done.add(customer)
                continue
            evaluated, fired = self._fired(row, early, context)
            if not evaluated:
                done.add(customer)  # its failure is noted; nothing starts early
                continue
            if fired is None:
                continue
            done.add(customer)
            if row["current_execution_id"] is not None:
                superseded_ids.append(row["current_execution_id"])
            fired_rows.append((row, fired))
        self._settle()
        result.started, result.superseded, result.carried = self._start(superseded_ids, fired_rows)
        return result

    def _fired(
        self, row: dict[str, Any], early: list[_Compiled], context: dict[str, Any]
    ) -> tuple[bool, EarlyTrigger | None]:
        """Whether the conditions could be evaluated (a failure is noted), and the first early
        trigger whose condition renders true."""
        for compiled in early:
            try:
                rendered = compiled.template.render(context)
            except Exception as error:
                if is_outage(error):
                    raise
                detail = error if isinstance(error, templates.TemplateError) else repr(error)
                self.failures.fail(
                    _customer(row),
                    f"the template failed: {detail}",
                    Fault(
                        workflow_id=row["workflow_id"],
                        field=f"trigger.earlyTriggers[{compiled.index}].condition",
                    ),
                )
                return False, None
            if rendered.strip().lower() == "true":
                return True, compiled.trigger
        return True, None

    def _early_of(self, row: dict[str, Any]) -> list[_Compiled]:
        """The workflow's early triggers, compiled once per sweep; a workflow whose triggers do
        not load or compile fails (for the tenant using it) and is treated as having none."""
        key = (row["tenant_id"], row["workflow_pk"])
        early = self._usable.get(key)
        if early is None:
            early = self._usable[key] = self._usable_for(row)
        return early

    def _usable_for(self, row: dict[str, Any]) -> list[_Compiled]:
        subject = Subject(row["tenant_id"], "workflow", str(row["workflow_pk"]))
        if self.failures.waiting(subject):
            return []
        loaded = self._load(row["workflow_pk"])
        if isinstance(loaded, BaseException):
            self.failures.fail(subject, loaded, Fault(workflow_id=row["workflow_id"]))
            return []
        self.failures.succeed(subject)
        return loaded

    def _load(self, workflow_pk: Any) -> list[_Compiled] | BaseException:
        if workflow_pk not in self._workflows:
            try:
                self._workflows[workflow_pk] = _compile_early(self.conn, workflow_pk)
            except Exception as error:
                if is_outage(error):
                    raise
                self._workflows[workflow_pk] = error
        return self._workflows[workflow_pk]

    def _settle(self) -> None:
        """The open failures of this job in the tenants this run covers: a customer evaluated in
        this run without failing is resolved, and so is one no longer before an early trigger's
        window (it needs no evaluation); a workflow no candidate needed is loaded again, so a
        fixed one is resolved."""
        for subject in self.failures.open_subjects("customer", "workflow"):
            if not self.covers(subject.tenant_id) or self.failures.waiting(subject):
                continue
            if subject.type == "customer":
                self.failures.succeed(subject)  # a no-op for one that failed in this run
            elif UUID(subject.id) not in self._workflows:
                loaded = self._load(UUID(subject.id))
                if isinstance(loaded, BaseException):
                    self.failures.fail(subject, loaded)
                else:
                    self.failures.succeed(subject)

    def _start(
        self, superseded_ids: list[Any], fired_rows: list[tuple[dict[str, Any], EarlyTrigger]]
    ) -> tuple[int, int, int]:
        # customers are independent of each other: their executions end, start and take their
        # open tasks over in three statements, whatever their number
        conn, now = self.conn, self.now
        if superseded_ids:
            conn.execute(_Q["supersede_executions"], {"execution_ids": superseded_ids, "now": now})
        if not fired_rows:
            return 0, len(superseded_ids), 0
        new = conn.execute(
            _Q["start_early"],
            {
                "tenant_ids": [row["tenant_id"] for row, _ in fired_rows],
                "customer_ids": [row["customer_id"] for row, _ in fired_rows],
                "workflow_pks": [row["workflow_pk"] for row, _ in fired_rows],
                "versions": [row["version"] for row, _ in fired_rows],
                "first_steps": [row["first_step"] for row, _ in fired_rows],
                "reasons": [_early_reason(row, fired, now) for row, fired in fired_rows],
                "now": now,
            },
        ).fetchall()
        carried = surface_open_tasks_of_many(conn, [(r["customer_id"], r["id"]) for r in new])
        return len(new), len(superseded_ids), carried


def _customer(row: dict[str, Any]) -> Subject:
    return Subject(row["tenant_id"], "customer", str(row["customer_id"]))


def _contexts(
    conn: Connection, customer_ids: list[UUID], failed: Callable[[UUID, BaseException], None]
) -> dict[UUID, dict[str, Any]]:
    """The contexts of `customer_ids`, in one query when nothing fails. A customer whose data
    breaks the builder is found by halving the failing set (a few more queries, only when
    something failed), reported to `failed` and left out; the others are built."""
    if not customer_ids:
        return {}
    try:
        with conn.transaction():  # a savepoint: a failed read leaves the sweep's transaction usable
            return build_contexts(conn, customer_ids)
    except Exception as error:
        if is_outage(error):
            raise
        if len(customer_ids) == 1:
            failed(customer_ids[0], error)
            return {}
    half = len(customer_ids) // 2
    return {
        **_contexts(conn, customer_ids[:half], failed),
        **_contexts(conn, customer_ids[half:], failed),
    }


def _compile_early(conn: Connection, workflow_pk: Any) -> list[_Compiled]:
    row = conn.execute(_Q["workflow_trigger"], {"workflow_pk": workflow_pk}).fetchone()
    if row is None or not row["trigger"]:
        return []
    trigger = Trigger.model_validate(row["trigger"])
    compiled = []
    for index, early in enumerate(trigger.early_triggers):
        try:
            compiled.append(_Compiled(index, early, templates.compile(early.condition)))
        except templates.TemplateError as error:
            raise TemplateFailed(
                f"trigger.earlyTriggers[{index}].condition",
                f"the template does not compile: {error}",
            ) from None
    return compiled


def _early_reason(row: dict[str, Any], fired: EarlyTrigger, now: datetime) -> Jsonb:
    return Jsonb(
        {
            "rule": "earlyTrigger",
            "workflowId": row["workflow_id"],
            "condition": fired.condition,
            "description": fired.description,
            "range": {"min": row["min_days"], "max": row["max_days"]},
            "daysUntilRenewal": row["days"],
            "renewalDate": row["renewal_date"].isoformat(),
            "timeZone": row["time_zone"],
            "evaluatedAt": now.isoformat(),
        }
    )
