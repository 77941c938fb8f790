"""workflow_tasks as a `renewflow.jobs.BatchQueue`: the manager that knows the queue's queries.

A run is three steps, and no connection is held across the middle one:
1. the claim (one short service-role transaction) leases a batch and returns each task's row;
2. each task's processor runs with nothing held, asking its `ProcessorContext` for short tenant
   transactions when it needs the database (they commit on their own: at least once);
3. the fenced finish writes the batch's results in one statement, in one short transaction.

Each batch is logged in the autonomous-run ledger (`ai_task_execution`): one row per tenant and
hour, its counters summed over the hour's batches, its cost the LLM calls its processors
recorded (each processor transaction is attached to the row). An LLM processor does not start
while its tenant's LLM budget is spent: its task waits, uncharged, until the budget allows
(`renewflow.ledger.budget`), and the hour's row says so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout

from renewflow import ledger
from renewflow.db import Connection, Database, DatabaseUnavailable, load_queries
from renewflow.jobs import Lease, Outcome, retry_delay
from renewflow.jobs.leased import LeasedRows
from renewflow.observability import context
from renewflow.tasks.errors import UnknownProcessor
from renewflow.tasks.processors import ProcessorContext, ProcessorRegistry, ProcessorResult
from renewflow.tasks.service import to_task

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.tasks", "queue.sql")
# the database went away (from the worker's side, or inside a processor's own transaction): the
# worker hands the batch back and backs off; an attempt is not a task's fault
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, DatabaseUnavailable)

# What a result does to the row (`execution_status` in the finish statement), by outcome.
_STATUS = {Outcome.SUCCESS: "success", Outcome.RETRY: "queued", Outcome.FAILED: "failed"}
_COUNTER = {Outcome.SUCCESS: "succeeded", Outcome.RETRY: "retried", Outcome.FAILED: "failed"}

# Processors that call an LLM (and so wait while the budget is spent); a plugin says so with a
# `uses_llm = True` attribute.
LLM_PROCESSORS = frozenset({"draft-email"})
AGENT_NAME = "tasks.queue"


class _LedgeredContext(ProcessorContext):
    """The processor's transactions, each attached to the tenant's ledger row of the hour: the
    LLM calls they record are that row's cost."""

    __slots__ = ("_run_id",)

    def __init__(self, database: Database, tenant_id: UUID, run_id: UUID) -> None:
        super().__init__(database, tenant_id)
        self._run_id = run_id

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with super().transaction() as conn:
            ledger.attach(conn, self._run_id)
            yield conn


def _never() -> bool:
    return False


@dataclass(slots=True)
class _Claimed:
    """A lease's payload: the task's row as claimed (None: unknown, load it), and when (on this
    process's monotonic clock) the lease is due for a check before its processor starts."""

    row: dict[str, Any] | None
    check_at: float


@dataclass(frozen=True, slots=True)
class _Done:
    """One finished run, ready for the finish statement."""

    lease: Lease
    outcome: Outcome
    result: str  # the execution_result, as JSON text
    error: str | None
    delay: float


class TaskQueue(LeasedRows):
    """Claims queued AI tasks and runs their processors, each with its task's tenant context.

    `flush_after`: results wait for the end of their batch to be written together, unless the
    oldest of them has waited this many seconds (slow processors: each result is written soon
    after its run, not after the whole batch's).
    """

    name = "ai_tasks"
    queries = _Q

    def __init__(
        self,
        database: Database,
        processors: ProcessorRegistry,
        *,
        backoff: Callable[[int], float] = retry_delay,
        flush_after: float = 0.5,
    ) -> None:
        self.database = database
        self.processors = processors
        self.backoff = backoff
        self.flush_after = flush_after
        # (tenant, hour) -> its ledger row, which the processors' LLM calls are attached to
        self._period_rows: dict[tuple[UUID, datetime], UUID] = {}

    # -- the lease's life --------------------------------------------------------------------

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                _Q["claim"], {"worker": worker, "limit": limit, "lease_seconds": lease_seconds}
            ).fetchall()
        rows.sort(key=lambda r: (r["priority"], r["created_at"]))
        # Past half the lease, a processor about to start first checks that the lease still
        # holds (heartbeats should have renewed it): a worker that was paused or cut off from
        # the database does not run work that another worker may already have taken over.
        check_at = time.monotonic() + lease_seconds / 2
        return [
            Lease(
                job_id=r["id"],
                tenant_id=r["tenant_id"],
                token=r["lease_token"],
                attempt=r["attempts"],
                max_attempts=r["max_attempts"],
                kind=r["processor"] or "none",
                queued_at=r["queued_at"],
                claimed_at=r["claimed_at"],
                payload=_Claimed(r, check_at),
            )
            for r in rows
        ]

    def reap(self) -> int:
        with self.database.service_transaction() as conn:
            return len(conn.execute(_Q["reap"], {}).fetchall())

    # -- running -----------------------------------------------------------------------------

    def run(self, lease: Lease) -> Outcome:
        """Runs one leased task and writes its result (the `Queue` contract). A lease that no
        longer holds is LOST, and its processor does not run."""
        checked = replace(lease, payload=_Claimed(None, check_at=0.0))
        outcome = self.run_batch([checked])[0]
        assert outcome is not None
        return outcome

    def run_batch(
        self, leases: Sequence[Lease], should_stop: Callable[[], bool] = _never
    ) -> list[Outcome | None]:
        """Runs the processors of `leases` in order, none of them inside a transaction, and
        writes their results with as few fenced finishes as it can (see `BatchQueue`).

        If the database fails meanwhile, the results gathered so far are written if possible and
        the error is raised: the worker hands the other leases back, and those tasks run again.
        """
        outcomes: list[Outcome | None] = [None] * len(leases)
        done: list[tuple[int, _Done]] = []
        oldest = 0.0
        runs = ledger.TenantRuns(
            ledger.TaskType.AI_TASK_EXECUTION,
            AGENT_NAME,
            ledger.PERIOD,
            tenants={lease.tenant_id for lease in leases},
        )
        budgets: dict[UUID, ledger.BudgetState] = {}
        try:
            for index, lease in enumerate(leases):
                if should_stop():
                    break
                if done and time.monotonic() - oldest >= self.flush_after:
                    self._flush(done, outcomes)
                row = self._row_if_held(leases[index:])
                if row is None:
                    outcomes[index] = Outcome.LOST
                    continue
                if self._paused(lease, row, budgets, runs):
                    outcomes[index] = Outcome.RETRY
                    continue
                with context.bound(job=lease.job_id, tenant=lease.tenant_id):
                    result = self._process(lease, row)
                if not done:
                    oldest = time.monotonic()
                prepared = self._prepare(lease, result)
                runs.count(lease.tenant_id, _COUNTER[prepared.outcome])
                if prepared.outcome is Outcome.FAILED:
                    runs.item_failed(lease.tenant_id, f"task {lease.job_id}: {prepared.error}", 0)
                done.append((index, prepared))
        except _TRANSIENT:
            if done:
                # if not written either, the worker releases them with the rest
                with suppress(*_TRANSIENT):
                    self._flush(done, outcomes)
            self._log_batch(runs)
            raise
        # before the last results: the worker counts outcomes as soon as they are written
        self._log_batch(runs)
        if done:
            self._flush(done, outcomes)
        return outcomes

    def _paused(
        self,
        lease: Lease,
        row: dict[str, Any],
        budgets: dict[UUID, ledger.BudgetState],
        runs: ledger.TenantRuns,
    ) -> bool:
        """An LLM processor's task waits while its tenant's budget is spent (checked once per
        tenant and batch): queued again, uncharged, until the budget may allow it."""
        name = row["processor"]
        uses_llm = name in LLM_PROCESSORS or (
            name in self.processors
            and getattr(self.processors.get(name), "uses_llm", False) is True
        )
        if not uses_llm:
            return False
        state = budgets.get(lease.tenant_id)
        if state is None:
            with self.database.service_transaction() as conn:
                state = budgets[lease.tenant_id] = ledger.allows_autonomous(conn, lease.tenant_id)
        if state:
            return False
        with self.database.service_transaction() as conn:
            conn.execute(
                _Q["defer"],
                {"id": lease.job_id, "token": lease.token, "run_after": state.resumes_at},
            )
        runs.cancel(lease.tenant_id, state.reason or "the LLM budget is spent")
        runs.count(lease.tenant_id, "paused")
        return True

    def _log_batch(self, runs: ledger.TenantRuns) -> None:
        """The batch's outcomes into each tenant's ledger row of the hour (the ledger failing
        is logged: it never fails the tasks)."""
        if not runs.noted:
            return
        try:
            with self.database.service_transaction() as conn:
                runs.write(conn)
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("ai tasks: the batch's ledger rows were not written (%s)", error)

    def _context(self, lease: Lease) -> ProcessorContext:
        key = (lease.tenant_id, ledger.period_start(datetime.now(UTC)))
        run_id = self._period_rows.get(key)
        if run_id is None:
            try:
                with self.database.service_transaction() as conn:
                    run_id = ledger.period_row(
                        conn,
                        tenant_id=lease.tenant_id,
                        task_type=ledger.TaskType.AI_TASK_EXECUTION,
                        agent_name=AGENT_NAME,
                    )
            except psycopg.Error as error:
                log.warning("ai tasks: no ledger row for the calls of %s (%s)", lease.job_id, error)
                return ProcessorContext(self.database, lease.tenant_id)
            if len(self._period_rows) > 10_000:
                self._period_rows.clear()
            self._period_rows[key] = run_id
        return _LedgeredContext(self.database, lease.tenant_id, run_id)

    def _row_if_held(self, remaining: Sequence[Lease]) -> dict[str, Any] | None:
        """The row to run `remaining[0]` with, or None if its lease is gone. The claim's row
        serves until the lease is due for a check; then one query checks all of the batch's
        remaining leases and refreshes their rows, so that a slow batch asks once per half lease,
        not once per task."""
        lease = remaining[0]
        payload = lease.payload
        if (
            isinstance(payload, _Claimed)
            and payload.row is not None
            and time.monotonic() < payload.check_at
        ):
            return payload.row
        fresh = self._held(remaining)
        left = min((row["lease_left"] for row in fresh.values()), default=0.0)
        check_at = time.monotonic() + max(0.0, left) / 2
        for later in remaining[1:]:
            if later.token in fresh and isinstance(later.payload, _Claimed):
                later.payload.row = fresh[later.token]
                later.payload.check_at = check_at
        return fresh.get(lease.token)

    def _held(self, leases: Sequence[Lease]) -> dict[Any, dict[str, Any]]:
        """The rows of the leases that still hold, by token."""
        with self.database.service_transaction() as conn:
            rows = conn.execute(_Q["load_leased"], self.pairs(leases)).fetchall()
        return {row["lease_token"]: row for row in rows}

    def _process(self, lease: Lease, row: dict[str, Any]) -> ProcessorResult:
        """The processor's result; what it raises becomes a retryable failure, except a database
        that went away, which is raised for the worker to hand the batch back."""
        try:
            processor = self.processors.get(row["processor"])
        except UnknownProcessor as error:
            return ProcessorResult.fail(str(error), retryable=False)
        name = row["processor"]
        try:
            # typed as what it is at run time: a plugin may return anything
            result: object = processor(to_task(row), self._context(lease))
        except _TRANSIENT:
            raise
        except Exception as error:  # a processor's bug or an outside failure: retry, bounded
            log.warning("processor %s raised on task %s: %r", name, lease.job_id, error)
            return ProcessorResult.fail(
                f"processor {name!r} raised {type(error).__name__}: {error}", retryable=True
            )
        if not isinstance(result, ProcessorResult):
            return ProcessorResult.fail(
                f"processor {name!r} returned {type(result).__name__}, not a ProcessorResult"
            )
        return result

    # -- finishing ---------------------------------------------------------------------------

    def _prepare(self, lease: Lease, result: ProcessorResult) -> _Done:
        """What the finish writes for `result`: the outcome, the execution_result as JSON text
        (encoded here, so one row's unencodable output fails that row, not the batch)."""
        if result.success:
            outcome = Outcome.SUCCESS
        elif result.retryable and lease.attempt < lease.max_attempts:
            outcome = Outcome.RETRY
        else:
            outcome = Outcome.FAILED
        error = result.error.replace("\x00", "") if result.error is not None else None
        if outcome is Outcome.FAILED and result.retryable:
            error = f"{error} (gave up after {lease.attempt} attempts)"
        body: dict[str, Any] = {"success": result.success, **dict(result.output)}
        if not result.success:
            body.update(error=error, retryable=result.retryable, attempt=lease.attempt)
        try:
            encoded = json.dumps(body)
        except (TypeError, ValueError) as problem:
            return self._prepare(
                lease,
                ProcessorResult.fail(f"the processor's output is not JSON: {problem}"),
            )
        delay = self.backoff(lease.attempt) if outcome is Outcome.RETRY else 0.0
        return _Done(lease, outcome, encoded, error, delay)

    def _flush(self, done: list[tuple[int, _Done]], outcomes: list[Outcome | None]) -> None:
        """Writes the results in `done` (then empties it), each outcome into `outcomes`."""
        written = self._finish_all([d for _, d in done])
        for (index, _), outcome in zip(done, written, strict=True):
            outcomes[index] = outcome
        done.clear()

    def _finish_all(self, done: Sequence[_Done]) -> list[Outcome]:
        """Writes results in one statement, fenced per row: a row whose lease is gone is LOST and
        the others are written.

        As the service role, across tenants, in one short transaction. The lease token is the
        authority here, not the tenant: only the claim (as the service role) hands tokens out, and
        the statement touches only the rows the tokens fence, their queue columns and the result
        the worker produced. Scoping it per tenant would cost a transaction per tenant in the batch
        and narrow nothing; the tenant's own data is written by processors, through their tenant
        transactions. If the statement fails for something in one row (a result the database
        refuses, a sub-task roll-up that fails), each row is written on its own, so that one bad
        row costs only its own result.
        """
        if not done:
            return []
        try:
            return self._finish(done)
        except psycopg.errors.TransactionRollback as error:
            # a deadlock: two batches completing sub-tasks of the same parents in opposite
            # orders (the roll-up trigger locks each parent). One row at a time locks one chain
            # of parents, bottom up, which two finishes always take in the same order.
            if len(done) == 1:
                raise
            log.info("finishing %d tasks at once: %s; one by one", len(done), error)
        except _TRANSIENT:
            raise
        except psycopg.Error as error:
            if len(done) == 1:
                return [self._finish_refused(done[0], error)]
            log.warning("finishing %d tasks at once failed (%s); one by one", len(done), error)
        outcomes = []
        for one in done:
            try:
                outcomes.extend(self._finish([one]))
            except _TRANSIENT:
                raise
            except psycopg.Error as error:
                outcomes.append(self._finish_refused(one, error))
        return outcomes

    def _finish(self, done: Sequence[_Done]) -> list[Outcome]:
        params = {
            "ids": [d.lease.job_id for d in done],
            "tokens": [d.lease.token for d in done],
            "statuses": [_STATUS[d.outcome] for d in done],
            "results": [d.result for d in done],
            "errors": [d.error for d in done],
            "delays": [d.delay for d in done],
        }
        with self.database.service_transaction() as conn:
            written = {row["id"] for row in conn.execute(_Q["finish"], params).fetchall()}
        return [d.outcome if d.lease.job_id in written else Outcome.LOST for d in done]

    def _finish_refused(self, done: _Done, error: psycopg.Error) -> Outcome:
        """The database refused this row's result: the task fails with why (retryably, so the
        attempts bound it). If even that cannot be written, the lease expires and the reaper
        queues the task again."""
        reason = (error.diag.message_primary or type(error).__name__).replace("\x00", "")
        log.error("task %s: its result could not be stored: %s", done.lease.job_id, reason)
        failure = self._prepare(
            done.lease,
            ProcessorResult.fail(f"the result could not be stored: {reason}", retryable=True),
        )
        try:
            return self._finish([failure])[0]
        except _TRANSIENT:
            raise
        except psycopg.Error:
            log.exception("task %s: not even its failure could be stored", done.lease.job_id)
            return Outcome.RETRY  # the reaper re-queues it (or fails it, out of attempts)

    def finish_fenced(self, lease: Lease, result: ProcessorResult) -> Outcome:
        """Writes `result` under `lease` in a transaction of its own (what a late writer does):
        LOST, and nothing written, if the lease is no longer this one's."""
        return self._finish_all([self._prepare(lease, result)])[0]
