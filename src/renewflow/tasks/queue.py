"""workflow_tasks as a `renewflow.jobs.BatchQueue`: the manager that knows the queue's queries.

A run is three steps, and no connection is held across the middle one:
1. the claim (one short service-role transaction) leases a batch and returns each task's row;
2. each task's processor runs with nothing held, asking its `ProcessorContext` for short tenant
   transactions when it needs the database (they commit on their own: at least once);
3. the fenced finish writes the batch's results in one statement, in one short transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from renewflow.db import Database, DatabaseUnavailable, load_queries
from renewflow.jobs import Lease, Outcome, retry_delay
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


class TaskQueue:
    """Claims queued AI tasks and runs their processors, each with its task's tenant context.

    `flush_after`: results wait for the end of their batch to be written together, unless the
    oldest of them has waited this many seconds (slow processors: each result is written soon
    after its run, not after the whole batch's).
    """

    name = "ai_tasks"

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

    @staticmethod
    def _pairs(leases: Sequence[Lease]) -> dict[str, Any]:
        return {
            "ids": [lease.job_id for lease in leases],
            "tokens": [lease.token for lease in leases],
        }

    def heartbeat(self, leases: Sequence[Lease], lease_seconds: float) -> int:
        if not leases:
            return 0
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                _Q["heartbeat"], {**self._pairs(leases), "lease_seconds": lease_seconds}
            ).fetchall()
        return len(rows)

    def release(self, leases: Sequence[Lease]) -> int:
        if not leases:
            return 0
        with self.database.service_transaction() as conn:
            return len(conn.execute(_Q["release"], self._pairs(leases)).fetchall())

    def reap(self) -> int:
        with self.database.service_transaction() as conn:
            return len(conn.execute(_Q["reap"], {}).fetchall())

    def depth(self) -> Mapping[str, int]:
        with self.database.service_transaction() as conn:
            row = conn.execute(_Q["depth"]).fetchone()
        return dict(row) if row else {}

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
                with context.bound(job=lease.job_id, tenant=lease.tenant_id):
                    result = self._process(lease, row)
                if not done:
                    oldest = time.monotonic()
                done.append((index, self._prepare(lease, result)))
        except _TRANSIENT:
            if done:
                # if not written either, the worker releases them with the rest
                with suppress(*_TRANSIENT):
                    self._flush(done, outcomes)
            raise
        if done:
            self._flush(done, outcomes)
        return outcomes

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
            rows = conn.execute(_Q["load_leased"], self._pairs(leases)).fetchall()
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
            result: object = processor(
                to_task(row), ProcessorContext(self.database, lease.tenant_id)
            )
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
