"""One run of the agent per 30-minute slot, whoever asks: the cron endpoint, the worker's
periodic job, both at once, fifty times at once.

The slot's row in `intelligence_runs` is claimed with one INSERT ... ON CONFLICT: the caller that
inserts it runs the pass (under a lease it renews between tenants) and stores the result; every
other caller in the slot gets no row back, and waits for that result instead of doing the work
again. A run that failed as a whole, or whose process died (its lease expired), is taken over by
the next caller of the same slot.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow.db import Database, load_queries
from renewflow.intelligence import ledger
from renewflow.intelligence.ledger import TriggeredBy
from renewflow.intelligence.passes import JOB, PassLimits, run_pass, tenants_without_work
from renewflow.jobs.failures import describe_error
from renewflow.jobs.periodic import PeriodicJob, slot_start
from renewflow.llm import LLMClients

_Q = load_queries("renewflow.intelligence")

EVERY = timedelta(minutes=30)
LEASE_SECONDS = 300.0
# runs are kept this long (they are the endpoint's answers for their slot, then history)
_KEEP = timedelta(days=7)


@dataclass(frozen=True)
class RunOutcome:
    """A slot's run as a caller sees it: `did_work` is true for the one caller that ran it;
    `status` is `running` when the wait for another caller's run ended first."""

    run_id: UUID
    slot: datetime
    status: str
    did_work: bool
    attempts: int
    result: dict[str, Any] | None
    error: str | None

    def body(self) -> dict[str, Any]:
        """The answer in the spec's shape (its `emails` are customers here)."""
        result = self.result or {}
        return {
            "success": self.status == "completed",
            "status": self.status,
            "run_id": str(self.run_id),
            "slot": self.slot.isoformat(),
            "duplicate": not self.did_work,
            "workspaces_processed": result.get("workspaces_processed", 0),
            "workspaces_failed": result.get("workspaces_failed", 0),
            "total_customers_processed": result.get("total_customers_processed", 0),
            "total_customers_failed": result.get("total_customers_failed", 0),
            "total_summaries_written": result.get("total_summaries_written", 0),
            "total_claims_dropped": result.get("total_claims_dropped", 0),
            "results": result.get("results", []),
            "error": self.error,
            "timestamp": datetime.now(UTC).isoformat(),
        }


class ContinuousIntelligence:
    """The agent: `run(limits)` runs (or joins) the current slot's pass."""

    def __init__(
        self,
        database: Database,
        clients: LLMClients,
        *,
        every: timedelta = EVERY,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        worker: str | None = None,
    ) -> None:
        self.database = database
        self.clients = clients
        self.every = every
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"

    def run(
        self,
        limits: PassLimits,
        *,
        triggered_by: TriggeredBy,
        wait_seconds: float = 30.0,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> RunOutcome:
        """Runs the slot's pass, or waits up to `wait_seconds` for the caller that does."""
        slot = slot_start(self.every, self.clock())
        deadline = time.monotonic() + wait_seconds
        while True:
            token = uuid.uuid4()
            with self.database.service_transaction() as conn:
                won = conn.execute(
                    _Q["claim_run"],
                    {
                        "slot": slot,
                        "triggered_by": triggered_by,
                        "batch": limits.batch_size_per_workspace,
                        "max_workspaces": limits.max_workspaces,
                        "token": token,
                        "worker": self.worker,
                        "lease_seconds": self.lease_seconds,
                    },
                ).fetchone()
                if won is not None:
                    conn.execute(_Q["forget_old_runs"], {"before": slot - _KEEP})
            if won is not None:
                return self._run(
                    won["id"],
                    won["attempts"],
                    slot,
                    token=token,
                    limits=limits,
                    triggered_by=triggered_by,
                    should_stop=should_stop,
                )
            seen = self._wait(slot, deadline)
            if seen is not None:
                return seen
            # the run's holder died (its lease expired): take it over

    def _run(
        self,
        run_id: UUID,
        attempts: int,
        slot: datetime,
        *,
        token: UUID,
        limits: PassLimits,
        triggered_by: TriggeredBy,
        should_stop: Callable[[], bool],
    ) -> RunOutcome:
        try:
            result = run_pass(
                self.database,
                self.clients,
                limits,
                triggered_by=triggered_by,
                should_stop=should_stop,
                after_tenant=lambda: self._extend(run_id, token),
            )
        except Exception as error:
            self._finish(run_id, token, "failed", None, describe_error(error))
            raise
        if not result.stopped:
            # those it passed have their own rows
            passed = {r.workspace_id for r in result.results}
            ledger.record_idle_tenants(
                self.database,
                [t for t in tenants_without_work(self.database) if t not in passed],
                triggered_by=triggered_by,
                every=self.every,
            )
        body = result.as_json()
        self._finish(run_id, token, result.status, body, None)
        return RunOutcome(run_id, slot, result.status, True, attempts, body, None)

    def _extend(self, run_id: UUID, token: UUID) -> None:
        with self.database.service_transaction() as conn:
            conn.execute(
                _Q["extend_run"],
                {"id": run_id, "token": token, "lease_seconds": self.lease_seconds},
            )

    def _finish(
        self,
        run_id: UUID,
        token: UUID,
        status: str,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        with self.database.service_transaction() as conn:
            conn.execute(
                _Q["finish_run"],
                {
                    "id": run_id,
                    "token": token,
                    "status": status,
                    "result": Jsonb(result) if result is not None else None,
                    "error": error,
                },
            )

    def _wait(self, slot: datetime, deadline: float) -> RunOutcome | None:
        """The slot's run once it is over (or as it is at the deadline); None if its holder died
        and the caller should take it over."""
        pause = 0.02
        while True:
            with self.database.service_transaction() as conn:
                row = conn.execute(_Q["get_run"], {"slot": slot}).fetchone()
            if row is None:
                return None  # forgotten meanwhile: claim it again
            if row["status"] != "running":
                return _outcome(row)
            if row["lease_expired"]:
                return None
            if time.monotonic() >= deadline:
                return _outcome(row)
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _outcome(row: dict[str, Any]) -> RunOutcome:
    return RunOutcome(
        row["id"],
        row["slot"],
        row["status"],
        False,
        row["attempts"],
        row["result"],
        row["error"],
    )


def periodic_job(
    database: Database, clients: LLMClients, limits: PassLimits, every: timedelta = EVERY
) -> PeriodicJob:
    """The worker's schedule for the agent: the same slot (and so the same run) as the cron
    endpoint's, so whichever asks first does the work."""
    agent = ContinuousIntelligence(database, clients, every=every)

    def run(should_stop: Callable[[], bool]) -> RunOutcome:
        return agent.run(limits, triggered_by="system", wait_seconds=0, should_stop=should_stop)

    return PeriodicJob.alone(JOB, every, run)
