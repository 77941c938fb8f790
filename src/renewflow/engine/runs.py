"""Running steps for callers: synchronously (the request waits), asynchronously (202 and a run to
follow), and on the worker (the queue of asynchronous runs). See `renewflow.engine.steps` for the
claim, the call and the fenced finish each of them goes through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow.db import Connection, Database, load_queries
from renewflow.engine.errors import RunLeaseLost, RunNotFound
from renewflow.engine.executions import LoadedExecution
from renewflow.engine.limits import ProviderSlots, RunLimits
from renewflow.engine.steps import (
    CallDeps,
    CallResult,
    Claimed,
    Finished,
    Pending,
    Replayed,
    StepOutcome,
    StepRequest,
    StepRun,
    Transaction,
    call_step,
    claim_step,
    finish_in_claim,
    finish_step,
    prepare_leased,
    requeue_rate_limited,
)
from renewflow.errors import RenewflowError
from renewflow.jobs import Lease, Outcome, Worker, WorkerConfig
from renewflow.jobs.leased import LeasedRows
from renewflow.jobs.worker import default_worker_name
from renewflow.llm import LLMClients
from renewflow.observability import context, metrics, tracing
from renewflow.workflows.model import Step
from renewflow.workflows.processors import StepProcessorRegistry, default_registry

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.engine", "runs.sql")

TERMINAL = frozenset({"completed", "failed", "skipped"})


@dataclass(frozen=True)
class RunAnswer:
    """What a caller of a step run gets: a finished step's status and body, or (`accepted`) the
    id of a run still queued or running, to poll or follow."""

    status: int
    body: dict[str, Any]
    run_id: UUID | None = None
    accepted: bool = False


class StepRunner:
    """Runs steps for one process: the API's requests and the worker's queue share it."""

    def __init__(
        self,
        database: Database,
        llm_clients: LLMClients,
        *,
        processors: StepProcessorRegistry | None = None,
        limits: RunLimits | None = None,
        name: str | None = None,
    ) -> None:
        self.database = database
        self.llm_clients = llm_clients
        self.processors = processors or default_registry()
        self.limits = limits or RunLimits()
        self.name = name or default_worker_name()
        self.slots = ProviderSlots(self.limits.provider_llm_concurrency)
        self.queue = StepRunQueue(self)
        self.keeper = LeaseKeeper(self.queue, self.limits.lease_seconds)

    def close(self) -> None:
        self.keeper.stop()

    # -- for callers -----------------------------------------------------------------------------

    def run(
        self,
        transaction: Transaction,
        *,
        execution_id: UUID,
        step_id: str,
        request: StepRequest,
        asynchronous: bool = False,
    ) -> RunAnswer:
        """Runs the current step of an execution and answers with its outcome; `asynchronous`
        (or no free slot, if waiting for it takes longer than `limits.wait_seconds`) answers with
        the queued run instead. `transaction` opens the caller's tenant transaction."""
        attributes = (
            {
                "renewflow.execution.id": str(execution_id),
                "renewflow.step.id": step_id,
                "renewflow.step.mode": "async" if asynchronous else "sync",
            }
            if tracing.enabled()
            else None
        )
        with (
            context.bound(execution=execution_id),
            tracing.span("renewflow.step", attributes) as span,
        ):
            if span is not None:  # a worker that runs it continues this trace
                request = replace(request, trace=tracing.inject())
            return self._run(
                transaction,
                execution_id=execution_id,
                step_id=step_id,
                request=request,
                asynchronous=asynchronous,
                span=span,
            )

    def _run(
        self,
        transaction: Transaction,
        *,
        execution_id: UUID,
        step_id: str,
        request: StepRequest,
        asynchronous: bool,
        span: Any,
    ) -> RunAnswer:
        started = time.perf_counter()
        deadline = time.monotonic() + self.limits.wait_seconds
        for _ in range(5):  # re-claims only when an idempotent twin died without an answer
            inline: StepOutcome | None = None
            with transaction() as conn:
                claim = claim_step(
                    conn,
                    execution_id=execution_id,
                    step_id=step_id,
                    request=request,
                    limits=self.limits,
                    worker=self.name,
                    run_now=not asynchronous,
                    inline=None if asynchronous else self._inline,
                )
                if isinstance(claim, Claimed) and claim.inline:
                    with context.bound(tenant=claim.run.tenant_id):
                        result = call_step(claim.run, self.deps(claim.run, record_now=False))
                    inline = finish_in_claim(conn, claim.run, result)
            if inline is not None:  # counted once its transaction committed
                self._finished(inline, started, span)
                return RunAnswer(*inline.http(), run_id=inline.step_execution_id)
            if isinstance(claim, Finished):
                self._finished(claim.outcome, started, span)
                return RunAnswer(*claim.outcome.http(), run_id=claim.outcome.step_execution_id)
            if isinstance(claim, Replayed):
                return RunAnswer(claim.status_code, claim.body)
            if isinstance(claim, Claimed):
                outcome = self._finished(self.execute(claim.run, keep_lease=True), started, span)
                return RunAnswer(*outcome.http(), run_id=claim.run.run_id)
            assert isinstance(claim, Pending)
            if asynchronous and claim.queued:
                return self.accepted(claim.tenant_id, claim.run_id)
            answer = self.wait(claim.tenant_id, claim.run_id, deadline)
            if answer is not None:
                return answer
        raise RenewflowError("the step's run kept ending without an answer; try again")

    def execute(self, run: StepRun, *, keep_lease: bool = False) -> StepOutcome:
        """Calls and finishes a claimed run. `keep_lease` renews the lease from this process's
        keeper while the call runs (a worker's own housekeeping renews the ones it claimed)."""
        if keep_lease:
            self.keeper.hold(run)
        try:
            with context.bound(tenant=run.tenant_id):
                result = call_step(run, self.deps(run))
            with self.database.tenant_transaction(run.tenant_id, run.request.actor_user_id) as conn:
                return finish_step(conn, run, result)
        finally:
            if keep_lease:
                self.keeper.drop(run)

    @staticmethod
    def _finished(outcome: StepOutcome, started: float, span: Any = None) -> StepOutcome:
        """Counts a finished step in the metrics, and says how it ended on its span."""
        metrics.default().step_finished(
            outcome.workflow, outcome.step_type, outcome.result, time.perf_counter() - started
        )
        if span is not None:
            tracing.set_attributes(
                span,
                {
                    "renewflow.workflow.id": outcome.workflow,
                    "renewflow.step.type": outcome.step_type,
                    "renewflow.step.run_id": str(outcome.step_execution_id),
                    "renewflow.step.outcome": outcome.result,
                },
            )
            if outcome.failed:
                tracing.failed(span, "step_failed")
        return outcome

    def deps(self, run: StepRun, *, record_now: bool = True) -> CallDeps:
        return CallDeps(
            llm=self.llm_clients.for_tenant(run.execution.row["tenant_settings"]),
            processors=self.processors,
            database=self.database,
            slots=self.slots,
            record_now=record_now,
        )

    def _inline(self, execution: LoadedExecution, step: Step) -> bool:
        """A step whose call involves no network (the mock provider, no processor) runs inside
        its claim's transaction: there is nothing to release a connection for."""
        if step.execution.processor is not None:
            return False
        return self.llm_clients.for_tenant(execution.row["tenant_settings"]).in_process

    def accepted(self, tenant_id: UUID, run_id: UUID) -> RunAnswer:
        with self.database.tenant_transaction(tenant_id) as conn:
            resource = get_run(conn, run_id)
        return RunAnswer(202, resource, run_id=run_id, accepted=True)

    def wait(self, tenant_id: UUID, run_id: UUID, deadline: float) -> RunAnswer | None:
        """Polls a pending run (short transactions, nothing held between) until it has an
        answer; None if it ended without one (its process stopped: claim again). Past the
        deadline, the run itself is the answer (202)."""
        pause = 0.02
        while time.monotonic() < deadline:
            with self.database.tenant_transaction(tenant_id) as conn:
                row = conn.execute(_Q["get_run"], {"id": run_id}).fetchone()
            if row is None:
                return None
            if row["status"] in TERMINAL:
                if row["response"] is not None:
                    return RunAnswer(row["status_code"], row["response"], run_id=run_id)
                if row["mode"] == "async":
                    return RunAnswer(*_failure(row), run_id=run_id)
                return None
            time.sleep(pause)
            pause = min(0.5, pause * 1.5)
        return self.accepted(tenant_id, run_id)

    # -- for the worker --------------------------------------------------------------------------

    def run_leased(self, lease: Lease) -> Outcome:
        """Runs a run the worker claimed: context, call, finish, each phase on its own. Its span
        continues the trace of the request that queued it (linked to the worker's job span)."""
        started = time.perf_counter()
        try:
            with self.database.tenant_transaction(lease.tenant_id) as conn:
                run = prepare_leased(conn, lease.job_id, lease.token)
        except RenewflowError as error:
            metrics.default().step_finished(
                "unknown", "unknown", "failed", time.perf_counter() - started
            )
            return self._fail(lease, f"the step could not start: {error}")
        if run is None:
            return Outcome.LOST
        attributes = (
            {
                "renewflow.execution.id": str(run.execution.id),
                "renewflow.step.id": run.step.id,
                "renewflow.step.mode": "worker",
                "renewflow.tenant.id": str(run.tenant_id),
            }
            if tracing.enabled()
            else None
        )
        with (
            context.bound(execution=run.execution.id),
            tracing.span(
                "renewflow.step",
                attributes,
                parent=tracing.extract(run.request.trace),
                link_current=run.request.trace is not None,
            ) as span,
        ):
            return self._run_leased(lease, run, started, span)

    def _run_leased(self, lease: Lease, run: StepRun, started: float, span: Any) -> Outcome:
        result = call_step(run, self.deps(run))
        rate_limited = result.error is not None and result.retry_after is not None
        if rate_limited and lease.attempt < lease.max_attempts:
            with self.database.tenant_transaction(run.tenant_id) as conn:
                requeued = requeue_rate_limited(conn, run, result)
            return Outcome.RETRY if requeued else Outcome.LOST
        try:
            with self.database.tenant_transaction(run.tenant_id, run.request.actor_user_id) as conn:
                outcome = finish_step(conn, run, result)
        except RunLeaseLost:
            return Outcome.LOST
        self._finished(outcome, started, span)
        return Outcome.FAILED if outcome.failed else Outcome.SUCCESS

    def _fail(self, lease: Lease, error: str) -> Outcome:
        body = {"type": "about:blank", "title": "Invalid input", "status": 422, "detail": error}
        body.update(success=False, error=error)
        with self.database.tenant_transaction(lease.tenant_id) as conn:
            row = conn.execute(
                _Q["fail_run"],
                {
                    "id": lease.job_id,
                    "token": lease.token,
                    "error": error,
                    "response": Jsonb(body),
                    "status_code": 422,
                },
            ).fetchone()
        return Outcome.FAILED if row is not None else Outcome.LOST

    def worker(self, config: WorkerConfig | None = None) -> Worker:
        """A worker running the queue of asynchronous step runs, `concurrency` at a time: each
        runner thread holds one run, and no connection while its call runs."""
        return Worker(self.database, [self.queue], config=config)


class StepRunQueue(LeasedRows):
    """Queued step runs as a `renewflow.jobs.Queue`. Claims are capped per tenant (see
    `claim_step_runs`); everything but `run` is one short service-role transaction."""

    name = "step_runs"
    queries = _Q

    def __init__(self, runner: StepRunner) -> None:
        self.runner = runner
        self.database = runner.database

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                _Q["claim"],
                {
                    "worker": worker,
                    "limit": limit,
                    "lease_seconds": lease_seconds,
                    "tenant_limit": self.runner.limits.tenant_llm_concurrency,
                },
            ).fetchall()
        return [
            Lease(
                job_id=r["id"],
                tenant_id=r["tenant_id"],
                token=r["lease_token"],
                attempt=r["run_attempts"],
                max_attempts=self.runner.limits.max_attempts,
                kind="step",
                queued_at=r["queued_at"],
                claimed_at=r["started_at"],
            )
            for r in rows
        ]

    def reap(self) -> int:
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                _Q["reap"], {"max_attempts": self.runner.limits.max_attempts}
            ).fetchall()
        return len(rows)

    def run(self, lease: Lease) -> Outcome:
        return self.runner.run_leased(lease)


class LeaseKeeper:
    """Renews the leases of the synchronous runs this process is calling, every third of the
    lease, in one statement; started on first use."""

    def __init__(self, queue: StepRunQueue, lease_seconds: float) -> None:
        self._queue = queue
        self._lease_seconds = lease_seconds
        self._held: dict[UUID, Lease] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, run: StepRun) -> None:
        assert run.token is not None, "only a leased run has a lease to keep"
        now = datetime.now(UTC)
        lease = Lease(run.run_id, run.tenant_id, run.token, 1, 1, "step", None, now)
        with self._lock:
            self._held[run.run_id] = lease
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="step-lease-keeper", daemon=True
                )
                self._thread.start()

    def drop(self, run: StepRun) -> None:
        with self._lock:
            self._held.pop(run.run_id, None)

    def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        every = max(0.05, self._lease_seconds / 3)
        while not self._stopping.wait(every):
            with self._lock:
                held = list(self._held.values())
            if not held:
                continue
            try:
                self._queue.heartbeat(held, self._lease_seconds)
            except Exception as error:  # the database is away: the leases may lapse, never stop
                log.warning("could not renew %d step lease(s): %s", len(held), error)


def get_run(conn: Connection, run_id: UUID) -> dict[str, Any]:
    """The run resource (a step execution as its caller follows it)."""
    row = conn.execute(_Q["get_run"], {"id": run_id}).fetchone()
    if row is None:
        raise RunNotFound(f"run {run_id} not found")
    return run_resource(row)


def list_runs(
    conn: Connection,
    *,
    status: str | None = None,
    execution_id: UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    rows = conn.execute(
        _Q["list_runs"],
        {"status": status, "execution_id": execution_id, "limit": limit, "offset": offset},
    ).fetchall()
    return [run_resource(r) for r in rows], (rows[0]["total_count"] if rows else 0)


def run_resource(row: Mapping[str, Any]) -> dict[str, Any]:
    run_id = row["id"]
    finished = row["status"] in TERMINAL
    error = row["error_message"]
    if error is None and row["response"] is not None and row["status_code"] != 200:
        error = row["response"].get("detail")
    return {
        "id": str(run_id),
        "executionId": str(row["workflow_execution_id"]),
        "stepId": row["step_id"],
        "status": row["status"],
        "mode": row["mode"],
        "attempt": row["attempt"],
        "queuedAt": _iso(row["queued_at"]),
        "startedAt": _iso(row["started_at"]),
        "completedAt": _iso(row["completed_at"]),
        "notBefore": _iso(row["run_after"]) if row["status"] == "queued" else None,
        "statusCode": row["status_code"] if finished else None,
        "result": row["response"] if finished else None,
        "error": error if row["status"] != "completed" else None,
        "skipReason": row["skip_reason"],
        "links": {
            "self": f"/api/workflows/runs/{run_id}",
            "events": f"/api/workflows/runs/{run_id}/events",
            "execution": f"/api/workflows/executions/{row['workflow_execution_id']}",
        },
    }


def _failure(row: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    error = row["error_message"] or "the run failed"
    return 502, {
        "type": "about:blank",
        "title": "Bad gateway",
        "status": 502,
        "detail": error,
        "success": False,
        "stepExecutionId": str(row["id"]),
        "stepId": row["step_id"],
        "error": error,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


__all__ = ["CallResult", "RunAnswer", "StepRunQueue", "StepRunner", "get_run", "list_runs"]
