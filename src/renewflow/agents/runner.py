"""The step runner: agent task steps as a `renewflow.jobs.Queue`, one leased job per step.

A step's run is three phases, and nothing is held across the middle one:
1. the claim (one short service-role transaction) leases the step and returns all its run needs
   (its task, the tenant's LLM settings, the previous steps' results when it asks for them, and
   the tenant's LLM spend for the budget check, made from that without a transaction of its own);
2. the LLM call, with no transaction open and no connection held;
3. the fenced finish (`finish_agent_step`, in one statement with the batch's others): the result, what was passed as context,
   the step's LLM calls, and the next step queued (or the task paused for an approval, or done).

On the worker (`run_batch`), a runner claims a batch of steps (of different tasks: up to
`AGENT_BATCH`, fewer when its steps take long, as the worker sizes every claim) and their
finishes are written together, one statement and one commit for all of them, each still fenced
by its own lease; a step whose call took longer than `FLUSH_SECONDS` is finished as soon as it
answered and ends its batch (the rest go back to the queue for idle runners), so a slow
provider's results never wait for other calls. Each finish also
leases the runner its task's next step in the same transaction, unless the worker is stopping:
a completed step's next step when it may run now, otherwise (the task done, or waiting) the
oldest due step, as the claim would have. The runner's next `claim` hands those leases out
without a round trip, so a step costs a share of one transaction, and a task's next step needs
no NOTIFY (nobody else needs waking). A task then runs on one runner from start to end, its
steps back to back; a runner takes a queued task's first step once one of its tasks is done
(tasks are served first in, first out, not steps).

A worker that dies between 2 and 3 leaves its step (its batch's unfinished steps) running under a
lease that expires: the reaper queues that step again (a retry spent) and only that step runs
again; the steps before it stay completed. A worker that comes back late finds its lease gone and its finish refused (`LOST`),
though its call's cost is still recorded. A worker that dies (or is stopped in the instant)
after a finish leased it the next step leaves that step under a lease no one renews: it is
reaped and run again like a step in flight.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from functools import partial
from typing import Any

from psycopg.types.json import Jsonb

from renewflow.agents.context import build_prompt, previous_results
from renewflow.db import Database, load_queries
from renewflow.jobs import Lease, Outcome, retry_delay
from renewflow.jobs.leased import LeasedRows
from renewflow.ledger import TaskType, budget, periodic
from renewflow.llm import LLMCall, LLMClients, LLMConfigError, LLMError, LLMRateLimited, LLMRequest
from renewflow.observability import context as log_context

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.agents", "runner.sql")

_OUTCOMES = {
    "completed": Outcome.SUCCESS,
    "retry": Outcome.RETRY,
    "failed": Outcome.FAILED,
    "lost": Outcome.LOST,
}

# what an agent step answers at most (the result is stored and passed on as text)
MAX_OUTPUT_TOKENS = 2048

# Steps whose calls answer quicker than this (the mock provider, a cache) are finished together,
# one round trip and one commit for the batch; a step whose call took longer is finished as
# soon as it answered, and ends its batch.
FLUSH_SECONDS = 0.02


class AgentStepQueue(LeasedRows):
    """Queued agent task steps. Everything is one short service-role transaction, and `run`
    holds none while the LLM answers."""

    name = "agent_steps"
    queries = _Q

    def __init__(
        self,
        database: Database,
        llm_clients: LLMClients,
        *,
        backoff: Callable[[int], float] = retry_delay,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.database = database
        self.llm_clients = llm_clients
        self.backoff = backoff
        self.flush_seconds = flush_seconds
        # per runner thread: its worker's name and lease length (from its claims), and the next
        # step's lease its last finish took for it
        self._ahead = threading.local()

    # -- the lease's life --------------------------------------------------------------------

    def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Lease]:
        # the leases the runner's last finishes took for it, if any: they are already running
        ahead: list[Lease] = getattr(self._ahead, "leases", None) or []
        if ahead:
            self._ahead.leases = []
            if self._ahead.worker == worker:
                return ahead
            self.release(ahead)
        rows = self.database.service_statement(
            _Q["claim"], {"worker": worker, "limit": limit, "lease_seconds": lease_seconds}
        )
        self._ahead.worker, self._ahead.lease_seconds = worker, lease_seconds
        return [_lease(r) for r in rows]

    def reap(self) -> int:
        with self.database.service_transaction() as conn:
            row = conn.execute(_Q["reap"]).fetchone()
        return int(row["reaped"]) if row else 0

    # -- running -----------------------------------------------------------------------------

    def run(self, lease: Lease) -> Outcome:
        outcome = self._call(lease)
        if isinstance(outcome, Outcome):
            return outcome
        return self._finish_all([outcome])[0]

    def run_batch(
        self, leases: Sequence[Lease], should_stop: Callable[[], bool]
    ) -> list[Outcome | None]:
        """The worker's way in (see `BatchQueue`). The finishes of steps that answered at once
        are written together, in one statement, at the batch's end. A step whose call took
        `flush_seconds` or more (any real provider) is finished as soon as it answered, and ends
        the batch: the steps after it are not started, and the worker hands them back to the
        queue for idle runners, rather than leave them waiting behind slow calls here. Each
        finish leases its task's next step to this runner, unless the worker is stopping (a
        lease taken then would wait for a claim that never comes)."""
        outcomes: list[Outcome | None] = [None] * len(leases)
        held: list[tuple[int, _Finish]] = []
        for i, lease in enumerate(leases):
            if should_stop():
                break
            started = time.monotonic()
            with log_context.bound(job=lease.job_id, tenant=lease.tenant_id):
                called = self._call(lease)
            if isinstance(called, Outcome):
                outcomes[i] = called
                continue
            held.append((i, called))
            if time.monotonic() - started >= self.flush_seconds:
                break
        if held:
            self._flush(held, outcomes, ahead=not should_stop())
        return outcomes

    def _flush(
        self, held: Sequence[tuple[int, _Finish]], outcomes: list[Outcome | None], *, ahead: bool
    ) -> None:
        worker = getattr(self._ahead, "worker", None) if ahead else None
        for (i, _), outcome in zip(
            held, self._finish_all([f for _, f in held], worker=worker), strict=True
        ):
            outcomes[i] = outcome

    def _call(self, lease: Lease) -> _Finish | Outcome:
        """The step's LLM call, with no transaction open: the finish it asks for, or RETRY when
        the tenant's budget deferred the step."""
        row: Mapping[str, Any] = lease.payload
        if self._paused(lease):
            return Outcome.RETRY
        context = previous_results(
            row["previous"] or [],
            row["context_budget_chars"],
            include=row["include_previous_context"],
        )
        system, prompt = build_prompt(
            task_name=row["task_name"],
            step_name=row["step_name"],
            step_order=row["step_order"],
            step_count=row["step_count"],
            instructions=row["instructions"],
            context=context,
        )
        request = LLMRequest(
            prompt=prompt,
            system=system,
            model=row["model"],
            max_tokens=MAX_OUTPUT_TOKENS,
            timeout=float(row["timeout_seconds"]) if row["timeout_seconds"] else None,
        )
        calls: list[LLMCall] = []
        outcome, result, error, delay = "completed", {}, None, 0.0
        in_process = True
        try:
            client = self.llm_clients.for_tenant(row["tenant_settings"])
            in_process = client.in_process
            response = client.complete(request, deferred=calls)
        except LLMConfigError as failure:
            outcome, error = "failed", f"the LLM is not usable: {failure}"
        except LLMError as failure:
            outcome, error = "retry", f"{failure.kind}: {failure}"
            delay = self.backoff(lease.attempt)
            if isinstance(failure, LLMRateLimited) and failure.retry_after:
                delay = max(delay, failure.retry_after)
        else:
            call = calls[-1] if calls else None
            result = {
                "text": response.text.replace("\x00", ""),
                "provider": call.provider if call else None,
                "model": response.model,
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "cost_usd": str(call.cost_usd) if call and call.cost_usd is not None else None,
                "latency_ms": call.latency_ms if call else response.latency_ms,
                "prompt_sha256": call.prompt_sha256 if call else request.prompt_sha256(),
                "attempt": lease.attempt,
            }
        if error is not None:
            result = {"error": error, "attempt": lease.attempt}
        if calls and not in_process:
            self._record(lease, calls)
            calls = []
        return _Finish(lease, outcome, result, error, context.record, delay, calls)

    def _paused(self, lease: Lease) -> bool:
        """A step is autonomous LLM work: with the tenant's LLM budget spent it goes back to the
        queue, uncharged, until the next period (or a raised budget: it looks again every few
        minutes), and the ledger says why (a `cancelled` row of the hour). The spend came with
        the lease (the claim's, or the finish's that took it: after the step before's calls)."""
        row = lease.payload
        allowed = budget.from_spend(
            lease.tenant_id,
            row["tenant_settings"],
            row["day_usd"],
            row["month_usd"],
            lease.claimed_at,
        )
        if allowed:
            return False
        with self.database.service_transaction() as conn:
            conn.execute(
                _Q["defer"],
                {
                    "id": lease.job_id,
                    "token": lease.token,
                    "run_after": allowed.resumes_at,
                    "reason": allowed.reason,
                },
            )
        log.info("agent step %s paused: %s", lease.job_id, allowed.reason)
        with periodic(
            self.database,
            TaskType.AGENT_TASK_STEP,
            agent_name="agents.steps",
            every=timedelta(0),
            tenants=[lease.tenant_id],
        ) as run:
            run.cancel(lease.tenant_id, allowed.reason or "the LLM budget is spent")
            run.count(lease.tenant_id, "steps_paused")
        return True

    def _record(self, lease: Lease, calls: Sequence[LLMCall]) -> None:
        with self.database.service_transaction() as conn:
            conn.execute(_Q["record_calls"], {"step_id": lease.job_id, "calls": _encoded(calls)})

    def finish(
        self,
        lease: Lease,
        outcome: str,
        *,
        result: Mapping[str, Any],
        error: str | None = None,
        context: Mapping[str, Any] | None = None,
        delay: float = 0.0,
        calls: Sequence[LLMCall] = (),
    ) -> Outcome:
        """The fenced finish: LOST, and nothing but the calls written, if the lease is gone."""
        finish = _Finish(lease, outcome, result, error, context or {}, delay, calls)
        return self._finish_all([finish])[0]

    def _finish_all(
        self, finishes: Sequence[_Finish], *, worker: str | None = None
    ) -> list[Outcome]:
        """The finishes, in one statement; with `worker`, each also leases its task's next step
        (or, its task done or waiting, the oldest due step) for this runner's next claim."""
        rows = self.database.service_statement(
            _Q["finish"],
            {
                "finishes": _jsonb([f.encoded() for f in finishes]),
                "worker": worker,
                "lease_seconds": getattr(self._ahead, "lease_seconds", 0.0),
            },
        )
        states: list[Outcome] = []
        ahead: list[Lease] = getattr(self._ahead, "leases", None) or []
        for finish, row in zip(finishes, rows, strict=True):
            state = _OUTCOMES[row["state"]]
            if state is Outcome.LOST:
                log.warning(
                    "agent step %s: its lease was gone; the result was discarded",
                    finish.lease.job_id,
                )
            if row["id"] is not None:
                ahead.append(_lease(row))
            states.append(state)
        self._ahead.leases = ahead
        return states


@dataclass(frozen=True, slots=True)
class _Finish:
    """What a step's fenced finish writes (`finish_agent_step`'s arguments)."""

    lease: Lease
    outcome: str
    result: Mapping[str, Any]
    error: str | None
    context: Mapping[str, Any]
    delay: float
    calls: Sequence[LLMCall]

    def encoded(self) -> dict[str, Any]:
        return {
            "step_id": self.lease.job_id,
            "token": self.lease.token,
            "outcome": self.outcome,
            "result": self.result,
            "error": self.error,
            "context": self.context,
            "delay": self.delay,
            "calls": _call_rows(self.calls),
        }


def _lease(row: dict[str, Any]) -> Lease:
    return Lease(
        job_id=row["id"],
        tenant_id=row["tenant_id"],
        token=row["lease_token"],
        attempt=row["retry_count"] + 1,
        max_attempts=row["max_retries"] + 1,
        kind="agent_step",
        queued_at=row["queued_at"],
        claimed_at=row["claimed_at"],
        payload=row,
    )


# the results, context records and calls hold only JSON values, save the odd UUID or Decimal
_jsonb = partial(Jsonb, dumps=partial(json.dumps, default=str))


# the columns `finish_agent_step` and `record_calls` read of each call (`asdict` would copy
# every value deeply, once per step, for flat rows)
_CALL_FIELDS = tuple(f.name for f in fields(LLMCall))


def _call_rows(calls: Sequence[LLMCall]) -> list[dict[str, Any]]:
    return [{name: getattr(c, name) for name in _CALL_FIELDS} for c in calls]


def _encoded(calls: Sequence[LLMCall]) -> Jsonb:
    return _jsonb(_call_rows(calls))
