"""workflow_tasks as a `renewflow.jobs.Queue`: the manager that knows the queue's queries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from renewflow.db import Connection, Database, load_queries
from renewflow.jobs import Lease, Outcome, retry_delay
from renewflow.tasks.errors import UnknownProcessor
from renewflow.tasks.processors import ProcessorRegistry, ProcessorResult
from renewflow.tasks.service import to_task

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.tasks", "queue.sql")
_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)


class _Discard(Exception):
    """Rolls back a processor's savepoint while keeping its result."""

    def __init__(self, result: ProcessorResult) -> None:
        super().__init__(result.error)
        self.result = result


class LeaseLost(Exception):
    """The fenced finish matched no row: the lease expired or was taken over."""


class TaskQueue:
    """Claims queued AI tasks and runs their processors, each run in the task's tenant."""

    name = "ai_tasks"

    def __init__(
        self,
        database: Database,
        processors: ProcessorRegistry,
        *,
        backoff: Callable[[int], float] = retry_delay,
    ) -> None:
        self.database = database
        self.processors = processors
        self.backoff = backoff

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                _Q["claim"], {"worker": worker, "limit": limit, "lease_seconds": lease_seconds}
            ).fetchall()
        rows.sort(key=lambda r: (r["priority"], r["created_at"]))
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

    def run(self, lease: Lease) -> Outcome:
        """Runs the task's processor and writes the result, all in one tenant transaction: the
        processor's database writes commit only together with a successful fenced finish."""
        try:
            with self.database.tenant_transaction(lease.tenant_id) as conn:
                row = conn.execute(
                    _Q["load_leased"], {"id": lease.job_id, "token": lease.token}
                ).fetchone()
                if row is None:
                    raise LeaseLost
                result = self._process(conn, row)
                outcome = self.finish(conn, lease, result)
                if outcome is Outcome.LOST:
                    raise LeaseLost  # roll back whatever the processor wrote
                return outcome
        except LeaseLost:
            return Outcome.LOST

    def _process(self, conn: Connection, row: dict[str, Any]) -> ProcessorResult:
        try:
            processor = self.processors.get(row["processor"])
        except UnknownProcessor as error:
            return ProcessorResult.fail(str(error), retryable=False)
        task = to_task(row)
        try:
            with conn.transaction():  # a failed run leaves no partial writes behind
                result = processor(task, conn)
                if not result.success:
                    raise _Discard(result)
        except _Discard as discarded:
            return discarded.result
        except _TRANSIENT:
            raise  # the connection itself failed: the worker releases the lease
        except Exception as error:  # a processor's bug or an outside failure: retry, bounded
            log.warning("processor %s raised on task %s: %r", task.processor, task.id, error)
            return ProcessorResult.fail(
                f"processor {task.processor!r} raised {type(error).__name__}: {error}",
                retryable=True,
            )
        return result

    def finish(self, conn: Connection, lease: Lease, result: ProcessorResult) -> Outcome:
        """Writes a result under `lease`, fenced: LOST (and nothing written) if the lease is no
        longer this one's. `conn` is the task's tenant transaction."""
        body: dict[str, Any] = {"success": result.success, **dict(result.output)}
        if not result.success:
            body.update(error=result.error, retryable=result.retryable, attempt=lease.attempt)
        params: dict[str, Any] = {
            "id": lease.job_id,
            "token": lease.token,
            "result": Jsonb(body),
            "error": result.error,
        }
        if result.success:
            query, outcome = "finish_success", Outcome.SUCCESS
        elif result.retryable and lease.attempt < lease.max_attempts:
            query, outcome = "finish_retry", Outcome.RETRY
            params["delay_seconds"] = self.backoff(lease.attempt)
        else:
            query, outcome = "finish_failed", Outcome.FAILED
            if result.retryable:
                params["error"] = f"{result.error} (gave up after {lease.attempt} attempts)"
                body["error"] = params["error"]
        written = conn.execute(_Q[query], params).fetchone()
        return outcome if written is not None else Outcome.LOST

    def finish_fenced(self, lease: Lease, result: ProcessorResult) -> Outcome:
        """`finish` in a transaction of its own (what a late writer would do)."""
        with self.database.tenant_transaction(lease.tenant_id) as conn:
            return self.finish(conn, lease, result)
