"""Executing one step: claim, call with nothing held, fenced finish.

1. **Claim** (`claim_step`, a short transaction in the step's tenant): the execution is locked
   for the moment of the claim; the step must be current, with no live run; the context is
   built and the prompt rendered. A step that needs no call (a routing-only step, a person's
   answer, a condition that skips it) is finished right there, in the same transaction. Else a
   run row is written: `running` under a lease token when the tenant has a free slot for an LLM
   call, `queued` for a worker otherwise (or when the caller asked for an asynchronous run).
2. **Call** (`call_step`): the step's processors and its LLM call run with no connection held;
   the LLM calls are recorded in a short transaction of their own as soon as they return, so a
   crash before the finish still leaves them counted once per attempt.
3. **Finish** (`finish_step`, a second short transaction): fenced by the token and the lease's
   expiry, it writes the outcome, the routing, artifacts, tasks and notifications, and the
   response the caller gets (kept for an `Idempotency-Key` replay), atomically. A finish whose
   lease has passed is refused (`RunLeaseLost`), writing nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow import templates
from renewflow.context import build_context, missing_paths
from renewflow.db import Connection, Database, load_queries
from renewflow.engine.errors import ExecutionConflict, RunLeaseLost, TemplateFailed
from renewflow.engine.executions import (
    LoadedExecution,
    load_execution,
    next_step_in_order,
    require_approver_on_approval,
    require_current,
    require_no_live_run,
)
from renewflow.engine.limits import ProviderSlots, RunLimits
from renewflow.engine.notifications import fire_step_notifications
from renewflow.errors import InvalidInputError
from renewflow.llm import (
    LLMBadResponse,
    LLMCall,
    LLMClient,
    LLMError,
    LLMRateLimited,
    LLMRequest,
    record_calls,
    validate,
)
from renewflow.tasks.models import Owner, TaskCreate, TaskType
from renewflow.tasks.service import ensure_task
from renewflow.workflows.errors import ValidationFailed
from renewflow.workflows.model import Step
from renewflow.workflows.processors import (
    StepProcessorInput,
    StepProcessorRegistry,
    StepProcessorResult,
)

_Q = load_queries("renewflow.engine", "runs.sql")
_ENGINE_Q = load_queries("renewflow.engine")

_PRIORITY = {"critical": 1, "high": 2, "medium": 3, "low": 4}

Transaction = Callable[[], AbstractContextManager[Connection]]


@dataclass(frozen=True)
class StepRequest:
    """What a caller asks of a step: data the database lacks (merged under the context's `data`),
    the outputs of a step a person answers, who asks, and the request's idempotency."""

    extra_data: dict[str, Any] | None = None
    given_outputs: dict[str, Any] | None = None
    actor_user_id: UUID | None = None
    actor_role: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    # the trace context of the request that asked (W3C `traceparent`, ...), when tracing is on:
    # stored with the run, so that a worker running it continues the request's trace
    trace: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "extraData": self.extra_data,
            "givenOutputs": self.given_outputs,
            "actorUserId": str(self.actor_user_id) if self.actor_user_id else None,
            "actorRole": self.actor_role,
            "fingerprint": self.fingerprint,
        }
        if self.trace:
            data["trace"] = self.trace
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], idempotency_key: str | None) -> StepRequest:
        actor = data.get("actorUserId")
        return cls(
            extra_data=data.get("extraData"),
            given_outputs=data.get("givenOutputs"),
            actor_user_id=UUID(actor) if actor else None,
            actor_role=data.get("actorRole"),
            idempotency_key=idempotency_key,
            fingerprint=data.get("fingerprint"),
            trace=_trace(data.get("trace")),
        )


def _trace(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)} or None


@dataclass
class StepOutcome:
    """What executing a step did. A `failed` step keeps its error and raw answer; the execution
    stays on the step, so it can be run again."""

    step_execution_id: UUID
    step_id: str
    outputs: dict[str, Any] | None
    next_step: dict[str, str] | None
    execution_status: str
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    notifications: int = 0
    failed: bool = False
    error: str | None = None
    # the HTTP status of a failure: 502 when the LLM or a processor failed, 422 for a template
    failure_status: int = 502
    skipped: str | None = None
    # what the metrics count the step by (not part of the response)
    workflow: str = ""
    step_type: str = ""

    @property
    def result(self) -> str:
        """completed, failed or skipped: the step's outcome as the metrics count it."""
        return "failed" if self.failed else "skipped" if self.skipped is not None else "completed"

    def as_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "success": not self.failed,
            "stepExecutionId": str(self.step_execution_id),
            "stepId": self.step_id,
            "outputs": self.outputs,
            "nextStep": self.next_step,
            "executionStatus": self.execution_status,
            "artifacts": self.artifacts,
            "tasks": self.tasks,
            "notifications": self.notifications,
        }
        if self.failed:
            body["error"] = self.error
        if self.skipped is not None:
            body["skipped"] = self.skipped
        return body

    def http(self) -> tuple[int, dict[str, Any]]:
        """The status and body the API answers with (problem+json members on a failure)."""
        body = self.as_response()
        if not self.failed:
            return 200, body
        status = self.failure_status
        title = "Bad gateway" if status == 502 else "Invalid input"
        return status, {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": self.error,
            **body,
        }


@dataclass
class StepRun:
    """A claimed run: what the call needs, gathered in the claim's transaction. `token` is its
    lease's (None for a run finished inside the claim's transaction)."""

    run_id: UUID
    token: UUID | None
    tenant_id: UUID
    execution: LoadedExecution
    index: int
    step: Step
    context: dict[str, Any]
    system: str
    prompt: str | None  # None: rendered after a `before` processor, or no LLM at all
    request: StepRequest
    attempt: int


@dataclass(frozen=True)
class Finished:
    """The step needed no call: it was finished in the claim's transaction."""

    outcome: StepOutcome


@dataclass(frozen=True)
class Replayed:
    """The first result of this request's `Idempotency-Key`."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    """Claimed under a lease: the caller calls and finishes it now (`inline`: inside the claim's
    transaction, see `claim_step`)."""

    run: StepRun
    inline: bool = False


@dataclass(frozen=True)
class Pending:
    """Queued for a worker (an asynchronous run, or no free slot), or the same idempotent request
    is running elsewhere: the caller waits for the run or hands its id out."""

    run_id: UUID
    queued: bool
    tenant_id: UUID


ClaimResult = Finished | Replayed | Claimed | Pending


@dataclass
class CallResult:
    """What the call phase produced, for the finish to write."""

    outputs: dict[str, Any] | None = None
    raw: str | None = None
    error: str | None = None
    failure_status: int = 502
    prompt: str | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    following: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None  # rate limited: when to try again (asynchronous runs)
    calls: list[LLMCall] = field(default_factory=list)  # left to the finish to record
    tasks: list[TaskDraft] = field(default_factory=list)


# -- claim --------------------------------------------------------------------------------------


def claim_step(
    conn: Connection,
    *,
    execution_id: UUID,
    step_id: str,
    request: StepRequest,
    limits: RunLimits,
    worker: str,
    run_now: bool = True,
    inline: Callable[[LoadedExecution, Step], bool] | None = None,
) -> ClaimResult:
    """Claims the current step of an execution for a run (see the module docstring).

    `run_now` False queues the run for a worker whatever the free slots (an asynchronous run).
    `inline(execution, step)` true means the call involves no network (an in-process provider,
    no processor): the run is `Claimed(inline=True)`, to be called and finished with
    `finish_in_claim` in this same transaction, with no lease and no row until then.
    Raises `StepRunning` (409) while another request runs a step of the execution.
    """
    execution = load_execution(conn, execution_id, lock=True)
    if request.idempotency_key is not None:
        replay = _idempotent(conn, request, execution.row["tenant_id"])
        if replay is not None:
            return replay
    require_no_live_run(conn, execution, fresh=False)
    index, step = execution.step(step_id)
    require_current(execution, step_id)
    require_approver_on_approval(execution, request.actor_role, "answer")
    context = build_context(conn, execution.row["customer_id"], execution_id)
    if request.extra_data:
        context["data"] = {**context["data"], **request.extra_data}
    missing = missing_paths(context, step.execution.data_required)
    if missing:
        raise ValidationFailed(
            [(f"context.{path}", "required by the step, but missing") for path in missing]
        )
    run = StepRun(
        run_id=uuid.uuid4(),
        token=None,
        tenant_id=execution.row["tenant_id"],
        execution=execution,
        index=index,
        step=step,
        context=context,
        system="",
        prompt=None,
        request=request,
        attempt=1,
    )
    condition = step.condition
    if condition is not None and not _true(_render_at(condition, context, "condition", step)):
        skipped = f"the step's condition {condition!r} is not true"
        return Finished(_finish_without_call(conn, run, skipped=skipped))
    if _needs_no_call(step):
        outputs = _given(step, request.given_outputs) if step.type != "conditional_routing" else {}
        return Finished(_finish_without_call(conn, run, outputs))
    run.system = _render_at(execution.config.context.system_prompt, context, "context.systemPrompt")
    if step.execution.llm_prompt and not _has_before_processor(step):
        run.prompt = _render_at(step.execution.llm_prompt, context, "execution.llmPrompt", step)
    if step.execution.llm_prompt is None:
        _given_or_none(step, request)
    if inline is not None and inline(execution, step):
        return Claimed(run, inline=True)
    run.token = uuid.uuid4()
    with conn.pipeline():  # the lock and the insert in one round trip
        conn.execute(_Q["lock_tenant_runs"])
        cursor = conn.execute(
            _Q["insert_run"],
            {
                "id": run.run_id,
                "execution_id": execution_id,
                "step_id": step_id,
                "step_index": index,
                "mode": "sync" if run_now else "async",
                "request": Jsonb(request.to_json()),
                "prompt": run.prompt,
                "idempotency_key": request.idempotency_key,
                "token": run.token,
                "worker": worker,
                "lease_seconds": limits.lease_seconds,
                "run_now": run_now,
                "tenant_limit": limits.tenant_llm_concurrency,
            },
        )
    row = cursor.fetchone()
    if row is None:  # a run claimed while this transaction waited for the execution's lock
        require_no_live_run(conn, execution)
        raise ExecutionConflict("another run of this execution just ended; try again")
    if row["status"] == "queued":
        return Pending(run.run_id, queued=True, tenant_id=run.tenant_id)
    run.attempt = row["attempt"]
    return Claimed(run)


def prepare_leased(conn: Connection, run_id: UUID, token: UUID) -> StepRun | None:
    """A run a worker claimed, with its context built now (in the run's tenant transaction);
    None if the lease is no longer this one's."""
    row = conn.execute(_Q["load_leased_run"], {"id": run_id, "token": token}).fetchone()
    if row is None:
        return None
    execution = load_execution(conn, row["workflow_execution_id"])
    request = StepRequest.from_json(row["request"], None)
    index, step = execution.step(row["step_id"])
    context = build_context(conn, execution.row["customer_id"], execution.id)
    if request.extra_data:
        context["data"] = {**context["data"], **request.extra_data}
    return StepRun(
        run_id=run_id,
        token=token,
        tenant_id=execution.row["tenant_id"],
        execution=execution,
        index=index,
        step=step,
        context=context,
        system=_render_at(execution.config.context.system_prompt, context, "context.systemPrompt"),
        prompt=None,
        request=request,
        attempt=row["attempt"],
    )


def _idempotent(
    conn: Connection, request: StepRequest, tenant_id: UUID
) -> Replayed | Pending | None:
    found = conn.execute(_Q["run_by_idempotency_key"], {"key": request.idempotency_key}).fetchone()
    if found is None:
        return None
    if found["fingerprint"] != request.fingerprint:
        raise InvalidInputError(
            "Idempotency-Key", "this key was already used for a different request"
        )
    if found["response"] is not None:
        return Replayed(found["status_code"], found["response"])
    if found["live"]:
        return Pending(found["id"], queued=False, tenant_id=tenant_id)
    return None  # its run ended without an answer (its process stopped): run it again


def _needs_no_call(step: Step) -> bool:
    return step.type == "conditional_routing" or (
        step.execution.llm_prompt is None and step.execution.processor is None
    )


def _has_before_processor(step: Step) -> bool:
    from renewflow.workflows.processors import default_registry

    name = step.execution.processor
    if name is None:
        return False
    processor = default_registry().get(name)
    return processor is not None and processor.phase == "before"


def _given_or_none(step: Step, request: StepRequest) -> None:
    """A step with a processor and no prompt: a `before` processor answers it; an `after` one
    needs the person's outputs, checked now (before anything is claimed)."""
    if not _has_before_processor(step):
        _given(step, request.given_outputs)


def _finish_without_call(
    conn: Connection,
    run: StepRun,
    outputs: dict[str, Any] | None = None,
    skipped: str | None = None,
) -> StepOutcome:
    """A step with nothing to call (a routing-only step, a person's answer, a false condition):
    finished in the claim's transaction."""
    execution, step, context = run.execution, run.step, dict(run.context)
    result = CallResult(context=context)
    if skipped is not None:
        result.following = next_step_in_order(execution, step.id)
    else:
        assert outputs is not None
        if step.type == "conditional_routing":
            outputs = _routing_outputs(execution, step, context)
        context["outputs"] = {**context["outputs"], step.id: outputs}
        result.outputs = outputs
        result.artifacts = _artifacts(step, context)
        result.tasks = _task_drafts(step, context)
        result.following = _route(execution, step, context)
    return finish_in_claim(conn, run, result, skipped=skipped)


def finish_in_claim(
    conn: Connection, run: StepRun, result: CallResult, *, skipped: str | None = None
) -> StepOutcome:
    """Writes a step finished inside its claim's transaction (`conn`): nothing was called over
    a network, so nothing had to be released; one row, written finished."""
    execution, step = run.execution, run.step
    failed = result.error is not None
    outcome = _outcome(execution, step, run.run_id, result.outputs, result.following)
    if failed:
        outcome.execution_status = "active"
        outcome.failed, outcome.error = True, result.error
        outcome.failure_status = result.failure_status
    else:
        outcome.artifacts = result.artifacts
    outcome.skipped = skipped
    status = "failed" if failed else "skipped" if skipped is not None else "completed"
    if not failed and skipped is None:
        # before the row: its response lists them (their link to it is checked at commit)
        outcome.tasks = _create_tasks(conn, execution, run.run_id, result.tasks)
        outcome.notifications = fire_step_notifications(conn, execution, step.id, result.context)
    http_status, body = outcome.http()
    with conn.pipeline():  # the row, the execution's move and the LLM calls: one round trip
        conn.execute(
            _Q["insert_finished_step"],
            {
                "id": run.run_id,
                "execution_id": execution.id,
                "step_id": step.id,
                "step_index": run.index,
                "status": status,
                "request": Jsonb(run.request.to_json()),
                "outputs": Jsonb(result.outputs) if result.outputs is not None else None,
                "artifacts": Jsonb(outcome.artifacts),
                "prompt": result.prompt,
                "raw": result.raw,
                "error": result.error,
                "skip_reason": skipped,
                "idempotency_key": run.request.idempotency_key,
                "response": Jsonb(body),
                "status_code": http_status,
                "advance": not failed,
                "next_step": result.following,
            },
        )
        record_calls(conn, result.calls)
    return outcome


# -- call ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallDeps:
    """What the call phase uses: the LLM client of the run's tenant, the step processors, the
    database (for the processors' own transactions and the LLM calls' record), provider slots."""

    llm: LLMClient
    processors: StepProcessorRegistry
    database: Database
    slots: ProviderSlots
    # record the LLM calls in a transaction of their own as soon as they return (else the
    # finish records them, in the claim's transaction: `finish_in_claim`)
    record_now: bool = True


def call_step(run: StepRun, deps: CallDeps) -> CallResult:
    """Runs the step's processors and its LLM call, with no connection held."""
    step, context = run.step, dict(run.context)
    result = CallResult(context=context, prompt=run.prompt)
    processor = deps.processors.get(step.execution.processor) if step.execution.processor else None
    try:
        outputs: dict[str, Any] | None = None
        if processor is not None and processor.phase == "before":
            done = _process(
                run,
                deps,
                processor=processor,
                name=step.execution.processor or "",
                context=context,
                outputs=None,
            )
            if done.error is not None:
                result.error = done.error
                return result
            context["data"] = {**context["data"], **done.data}
            if step.execution.llm_prompt is None:
                outputs = _checked(step, dict(done.outputs or {}))
        if step.execution.llm_prompt is not None:
            if result.prompt is None:
                result.prompt = _render_at(
                    step.execution.llm_prompt, context, "execution.llmPrompt", step
                )
            outputs = _ask_recorded(run, deps, result)
            if outputs is None:
                return result
        elif outputs is None:
            outputs = _given(step, run.request.given_outputs)
        if processor is not None and processor.phase == "after":
            done = _process(
                run,
                deps,
                processor=processor,
                name=step.execution.processor or "",
                context=context,
                outputs=outputs,
            )
            if done.error is not None:
                result.error = done.error
                return result
            if done.outputs is not None:
                outputs = _checked(step, dict(done.outputs))
        context["outputs"] = {**context["outputs"], step.id: outputs}
        result.outputs = outputs
        result.artifacts = _artifacts(step, context)
        result.tasks = _task_drafts(step, context)
        result.following = _route(run.execution, step, context)
    except TemplateFailed as failure:
        result.error, result.failure_status = failure.message, 422
    except ValidationFailed as failure:
        result.error = f"the step's outputs are invalid: {failure.message}"
    return result


def _process(
    run: StepRun,
    deps: CallDeps,
    *,
    processor: Any,
    name: str,
    context: dict[str, Any],
    outputs: dict[str, Any] | None,
) -> StepProcessorResult:
    def transaction() -> AbstractContextManager[Connection]:
        return deps.database.tenant_transaction(run.tenant_id, run.request.actor_user_id)

    step_input = StepProcessorInput(
        tenant_id=run.tenant_id,
        execution_id=run.execution.id,
        customer_id=run.execution.row["customer_id"],
        step_id=run.step.id,
        context=context,
        outputs=outputs,
        actor_user_id=run.request.actor_user_id,
        actor_role=run.request.actor_role,
        transaction=transaction,
    )
    try:
        done: StepProcessorResult = processor(step_input)
    except Exception as error:  # a processor's bug or an outside failure: the step fails
        return StepProcessorResult.fail(
            f"processor {name!r} raised {type(error).__name__}: {error}"
        )
    if done.error is not None:
        return StepProcessorResult.fail(f"processor {name!r} failed: {done.error}")
    return done


def _ask_recorded(run: StepRun, deps: CallDeps, result: CallResult) -> dict[str, Any] | None:
    """Asks the LLM (one repair retry), then records its calls at once, in their own short
    transaction: a crash before the finish still leaves every call counted."""
    calls = result.calls
    try:
        with deps.slots.slot(deps.llm.endpoint):
            outputs, raw, error, retry_after = _ask(deps.llm, run, result.prompt or "", calls)
    finally:
        if calls and deps.record_now:
            with deps.database.tenant_transaction(run.tenant_id) as conn:
                record_calls(conn, calls)
            calls.clear()
    result.raw, result.error, result.retry_after = raw, error, retry_after
    return outputs


def _ask(
    llm: LLMClient, run: StepRun, prompt: str, calls: list[LLMCall]
) -> tuple[dict[str, Any] | None, str | None, str | None, float | None]:
    """Asks the LLM; an answer that does not fit the outputs schema gets one repair retry."""
    step = run.step
    schema = step.execution.outputs or {"type": "object"}
    request = LLMRequest(
        prompt=prompt,
        system=run.system,
        json_schema=schema,
        schema_name=_schema_name(step.id),
        context=run.context,
    )
    raw: str | None = None
    problems: list[str] = []
    for attempt in range(2):
        try:
            response = llm.complete(
                request,
                workflow_execution_id=run.execution.id,
                step_execution_id=run.run_id,
                deferred=calls,
            )
            raw = response.text
            parsed = response.parsed if response.parsed is not None else _json(response.text)
        except LLMBadResponse as error:
            # an answer, but not the JSON asked for: as repairable as a schema mismatch
            raw, parsed = error.raw_text, None
        except LLMRateLimited as error:
            return None, raw, f"the LLM call failed: {error}", error.retry_after or 30.0
        except LLMError as error:
            return None, raw, f"the LLM call failed: {error}", None
        problems = validate(parsed, schema) if parsed is not None else ["the answer is not JSON"]
        if not problems and isinstance(parsed, dict):
            return parsed, raw, None, None
        if attempt == 0:
            request = LLMRequest(
                prompt=_repair_prompt(prompt, raw or "", problems),
                system=run.system,
                json_schema=schema,
                schema_name=request.schema_name,
                context=run.context,
            )
    listed = "; ".join(str(p) for p in problems[:5])
    return (
        None,
        raw,
        f"the LLM's answer did not match the step's outputs schema after a repair retry: {listed}",
        None,
    )


# -- finish -------------------------------------------------------------------------------------


def finish_step(conn: Connection, run: StepRun, result: CallResult) -> StepOutcome:
    """Writes the run's outcome under its lease, atomically; `RunLeaseLost` (nothing written) if
    the lease passed or was taken over. `conn` is a transaction in the run's tenant."""
    fenced = conn.execute(_Q["lock_leased_run"], {"id": run.run_id, "token": run.token}).fetchone()
    if fenced is None:
        raise RunLeaseLost(
            f"run {run.run_id} of step {run.step.id!r} lost its lease before it finished; "
            "its result was discarded: run the step again"
        )
    execution, step = run.execution, run.step
    if result.error is not None:
        outcome = _outcome(execution, step, run.run_id, None, None)
        outcome.execution_status = "active"
        outcome.failed, outcome.error = True, result.error
        outcome.failure_status = result.failure_status
        advance, status = False, "failed"
    else:
        outcome = _outcome(execution, step, run.run_id, result.outputs, result.following)
        outcome.artifacts = result.artifacts
        outcome.tasks = _create_tasks(conn, execution, run.run_id, result.tasks)
        outcome.notifications = fire_step_notifications(conn, execution, step.id, result.context)
        advance, status = True, "completed"
    http_status, body = outcome.http()
    conn.execute(
        _Q["finish_run"],
        {
            "id": run.run_id,
            "token": run.token,
            "execution_id": execution.id,
            "status": status,
            "outputs": Jsonb(result.outputs) if result.outputs is not None else None,
            "artifacts": Jsonb(outcome.artifacts),
            "prompt": result.prompt,
            "raw": result.raw,
            "error": result.error,
            "response": Jsonb(body),
            "status_code": http_status,
            "advance": advance,
            "next_step": result.following,
        },
    )
    return outcome


def requeue_rate_limited(conn: Connection, run: StepRun, result: CallResult) -> bool:
    """Puts a rate-limited asynchronous run back in the queue until the provider has room."""
    row = conn.execute(
        _Q["requeue_run"],
        {
            "id": run.run_id,
            "token": run.token,
            "delay_seconds": result.retry_after or 30.0,
            "error": result.error,
        },
    ).fetchone()
    return row is not None


# -- shared pieces ------------------------------------------------------------------------------


def _render_at(source: str, context: dict[str, Any], where: str, step: Step | None = None) -> str:
    try:
        return templates.compile(source).render(context)
    except templates.TemplateError as error:
        place = f"steps[{step.id}].{where}" if step is not None else where
        raise TemplateFailed(place, f"the template failed: {error}") from None


def _true(rendered: str) -> bool:
    return rendered.strip().lower() == "true"


def _outcome(
    execution: LoadedExecution,
    step: Step,
    run_id: UUID,
    outputs: dict[str, Any] | None,
    following: str | None,
) -> StepOutcome:
    next_step = None
    if following is not None:
        _, target = execution.step(following)
        next_step = {"stepId": target.id, "title": target.name}
    return StepOutcome(
        step_execution_id=run_id,
        step_id=step.id,
        outputs=outputs,
        next_step=next_step,
        execution_status="active" if following is not None else "completed",
        workflow=execution.config.id,
        step_type=step.type,
    )


def _given(step: Step, given: dict[str, Any] | None) -> dict[str, Any]:
    """Outputs supplied by a person for a step without an LLM prompt, checked like an answer."""
    if given is None:
        raise InvalidInputError(
            "outputs", f"step {step.id!r} has no LLM prompt: send its outputs in the request"
        )
    return _checked(step, given)


def _checked(step: Step, outputs: dict[str, Any]) -> dict[str, Any]:
    problems = validate(outputs, step.execution.outputs) if step.execution.outputs else []
    if problems:
        raise ValidationFailed([_as_field(problem) for problem in problems])
    return outputs


def _schema_name(step_id: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in step_id)[:60] or "output"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def _repair_prompt(prompt: str, answer: str, problems: list[str]) -> str:
    listed = "\n".join(f"- {p}" for p in problems[:10])
    return (
        f"{prompt}\n\nYour previous answer was:\n{answer}\n\nIt does not match the required JSON "
        f"schema:\n{listed}\n\nAnswer again with one JSON value that matches the schema exactly."
    )


def _as_field(problem: str) -> tuple[str, str]:
    """`$.riskScore: expected integer` -> (`outputs.riskScore`, `expected integer`)."""
    path, _, message = problem.partition(": ")
    return "outputs" + path.removeprefix("$"), message or problem


def _artifacts(step: Step, context: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": artifact.id,
            "type": artifact.type,
            "title": _render_at(artifact.title, context, f"artifacts[{artifact.id}].title", step),
            "sections": [
                {
                    "title": _render_at(s.title, context, f"artifacts[{artifact.id}]", step),
                    "content": _render_at(s.content, context, f"artifacts[{artifact.id}]", step),
                }
                for s in artifact.sections
            ],
        }
        for artifact in step.artifacts
    ]


def _route(execution: LoadedExecution, step: Step, context: dict[str, Any]) -> str | None:
    """The first route whose condition renders `true`; else the default route; with no routing,
    the next step in order. None ends the workflow."""
    if step.routing is None:
        return next_step_in_order(execution, step.id)
    for i, route in enumerate(step.routing.routes):
        if _true(_render_at(route.condition, context, f"routing.routes[{i}].condition", step)):
            return route.next_step
    return step.routing.default_route


def _routing_outputs(
    execution: LoadedExecution, step: Step, context: dict[str, Any]
) -> dict[str, Any]:
    """A routing-only step's outputs: which route it took, and why (for the timeline)."""
    routing = step.routing
    if routing is not None:
        for i, route in enumerate(routing.routes):
            if _true(_render_at(route.condition, context, f"routing.routes[{i}].condition", step)):
                return {"route": route.next_step, "matched": i, "condition": route.condition}
        return {"route": routing.default_route, "matched": "default"}
    return {"route": next_step_in_order(execution, step.id), "matched": "order"}


@dataclass(frozen=True)
class TaskDraft:
    """An action-plan task of the step, rendered (in the call phase: a template that fails fails
    the step there, before anything is written)."""

    workflow_task: str
    action: str
    description: str
    priority: int
    due_in_days: int
    responsible: str


ACTION_LIMIT = 255  # workflow_tasks.action


def _task_drafts(step: Step, context: dict[str, Any]) -> list[TaskDraft]:
    drafts = []
    for task in step.tasks:
        title = _render_at(task.title, context, f"tasks[{task.id}].title", step)
        description = (
            _render_at(task.description, context, f"tasks[{task.id}].description", step)
            if task.description
            else title
        )
        # a title is a label: cut visibly, the whole text stays in the description
        action = title if len(title) <= ACTION_LIMIT else title[: ACTION_LIMIT - 1] + "…"
        drafts.append(
            TaskDraft(
                workflow_task=task.id,
                action=action,
                description=description,
                priority=_PRIORITY[task.priority],
                due_in_days=task.due_in_days,
                responsible=task.owner,
            )
        )
    return drafts


def _create_tasks(
    conn: Connection,
    execution: LoadedExecution,
    step_execution_id: UUID,
    drafts: list[TaskDraft],
) -> list[dict[str, Any]]:
    if not drafts:
        return []
    created = []
    today = _today(conn)
    for draft in drafts:
        result, new = ensure_task(
            conn,
            TaskCreate(
                workflow_execution_id=execution.id,
                customer_id=execution.row["customer_id"],
                task_type=TaskType.CSM_TASK,
                owner=Owner.CSM,
                action=draft.action,
                description=draft.description,
                priority=draft.priority,
                step_execution_id=step_execution_id,
                due_date=today + timedelta(days=draft.due_in_days),
                metadata={"workflowTask": draft.workflow_task, "responsible": draft.responsible},
            ),
        )
        created.append({"id": str(result.id), "action": result.action, "created": new})
    return created


def _today(conn: Connection) -> Any:
    row = conn.execute(_ENGINE_Q["today"]).fetchone()
    assert row is not None
    return row["today"]
