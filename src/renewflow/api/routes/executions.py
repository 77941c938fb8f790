"""Running workflows: start one, list and read executions, execute and skip steps, the sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from renewflow import engine
from renewflow.accounts import Role
from renewflow.api import sse
from renewflow.api.deps import SessionDep, require_role
from renewflow.api.problems import PROBLEM_JSON
from renewflow.engine import StepRequest, StepRunner
from renewflow.engine.idempotency import MAX_KEY_LENGTH, fingerprint
from renewflow.engine.triggers import check_manual_start
from renewflow.errors import InvalidInputError
from renewflow.limits import LIMIT_MAX, OFFSET_MAX, JsonObject
from renewflow.workflows import service as workflows

router = APIRouter(prefix="/api/workflows", tags=["executions"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartIn(_In):
    customerId: UUID
    workflowId: Annotated[str, Field(min_length=1, max_length=50)]


class StepExecuteIn(_In):
    """The spec's body: `context` may bring data the database lacks (merged under `data`);
    `outputs` are the answer of a step without an LLM prompt (an approval)."""

    context: JsonObject = Field(default_factory=dict)
    outputs: JsonObject | None = None


class SkipIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class FinishIn(_In):
    status: Literal["completed", "cancelled"] = "completed"


class ExecutionSummary(BaseModel):
    id: UUID
    customerId: UUID
    customerName: str
    workflowId: str
    workflowName: str
    workflowVersion: int
    status: str
    currentStepId: str | None
    triggerReason: dict[str, Any]
    startedAt: datetime
    completedAt: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExecutionSummary:
        return cls(
            id=row["id"],
            customerId=row["customer_id"],
            customerName=row["customer_name"],
            workflowId=row["workflow_id"],
            workflowName=row["workflow_name"],
            workflowVersion=row["workflow_version"],
            status=row["status"],
            currentStepId=row["current_step_id"],
            triggerReason=row["trigger_reason"],
            startedAt=row["started_at"],
            completedAt=row["completed_at"],
        )


class ExecutionPage(BaseModel):
    items: list[ExecutionSummary]
    total: int


class ExecutionDetail(ExecutionSummary):
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]


class TemplateOut(BaseModel):
    workflowId: str
    name: str
    description: str | None
    isCore: bool
    daysUntilRenewal: dict[str, int] | None
    manualTriggers: list[dict[str, Any]]


class SweepOut(BaseModel):
    considered: int
    started: int
    superseded: int
    tasksCarried: int


_Admins = Depends(require_role(Role.ADMIN))


@router.get("/from-template")
def list_templates(session: SessionDep) -> list[TemplateOut]:
    """The workflows this tenant can start (core ones, with its overrides, and its own)."""
    with session.transaction() as conn:
        rows = engine.startable_workflows(conn)
    out = []
    for row in rows:
        trigger = row["trigger"] or {}
        out.append(
            TemplateOut(
                workflowId=row["workflow_id"],
                name=row["name"],
                description=row["description"],
                isCore=row["is_core"],
                daysUntilRenewal=trigger.get("daysUntilRenewal"),
                manualTriggers=trigger.get("manualTriggers") or [],
            )
        )
    return out


@router.post("/from-template", status_code=201)
def start_from_template(body: StartIn, session: SessionDep) -> ExecutionDetail:
    """Start a workflow for a customer now, whatever its days until renewal."""
    p = session.principal
    with session.transaction() as conn:
        workflow = workflows.get_workflow(conn, p.tenant_id, body.workflowId)
        check_manual_start(workflow, p.role.value)
        execution_id = engine.start_execution(
            conn,
            customer_id=body.customerId,
            workflow=workflow,
            started_by=p.user_id,
            reason={"rule": "manual", "by": str(p.user_id), "role": p.role.value},
        )
        return _detail(conn, execution_id)


@router.get("/executions")
def list_executions(
    session: SessionDep,
    customerId: UUID | None = None,
    workflowId: Annotated[str | None, Query(max_length=50)] = None,
    status: Literal["active", "completed", "superseded", "cancelled", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> ExecutionPage:
    with session.transaction() as conn:
        rows, total = engine.list_executions(
            conn,
            customer_id=customerId,
            workflow_id=workflowId,
            status=status,
            limit=limit,
            offset=offset,
        )
    return ExecutionPage(items=[ExecutionSummary.from_row(r) for r in rows], total=total)


@router.get("/executions/{execution_id}")
def get_execution(execution_id: UUID, session: SessionDep) -> ExecutionDetail:
    with session.transaction() as conn:
        return _detail(conn, execution_id)


@router.post(
    "/executions/{execution_id}/steps/{step_id}/execute",
    responses={202: {"description": "Accepted (`Prefer: respond-async`): the run to follow"}},
)
def execute_step(
    execution_id: UUID,
    step_id: Annotated[str, Path(max_length=100)],
    session: SessionDep,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    prefer: Annotated[str | None, Header()] = None,
    body: StepExecuteIn | None = None,
) -> JSONResponse:
    """Run the current step: context, data requirements, processors, prompt, LLM, outputs,
    routing, artifacts, tasks and notifications. The LLM call happens with no database connection
    held. A step whose LLM answer stays invalid after a repair retry fails with 502; the execution
    stays on the step, resumable. While another request runs a step of the execution: 409 naming
    its run (the same `Idempotency-Key` instead waits for that run's result).

    `Prefer: respond-async` answers 202 at once with the run (`Location` to poll, `/events` to
    follow as Server-Sent Events); a worker runs it."""
    runner: StepRunner = request.app.state.step_runner
    body = body or StepExecuteIn()
    if idempotency_key is not None and not (
        idempotency_key.strip() and len(idempotency_key) <= MAX_KEY_LENGTH
    ):
        raise InvalidInputError("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    asynchronous = _prefers_async(prefer)
    principal = session.principal
    step_request = StepRequest(
        extra_data=body.context.get("data") if body.context else None,
        given_outputs=body.outputs,
        actor_user_id=principal.user_id,
        actor_role=principal.role.value,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint(
            "execute", str(execution_id), step_id, body.model_dump(mode="json"), asynchronous
        ),
    )
    answer = runner.run(
        session.transaction,
        execution_id=execution_id,
        step_id=step_id,
        request=step_request,
        asynchronous=asynchronous,
    )
    headers: dict[str, str] = {}
    if answer.accepted:
        headers["Location"] = f"/api/workflows/runs/{answer.run_id}"
        if asynchronous:
            headers["Preference-Applied"] = "respond-async"
    media = PROBLEM_JSON if answer.status >= 400 else "application/json"
    return JSONResponse(answer.body, status_code=answer.status, media_type=media, headers=headers)


def _prefers_async(prefer: str | None) -> bool:
    """RFC 7240: `Prefer: respond-async` (among other preferences, any case)."""
    if not prefer:
        return False
    return any(part.split(";")[0].strip().lower() == "respond-async" for part in prefer.split(","))


@router.get("/runs")
def list_runs(
    session: SessionDep,
    status: Literal["queued", "running", "completed", "failed", "skipped"] | None = None,
    executionId: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> dict[str, Any]:
    """Step runs, newest first: what is queued, running or done."""
    with session.transaction() as conn:
        items, total = engine.list_runs(
            conn, status=status, execution_id=executionId, limit=limit, offset=offset
        )
    return {"items": items, "total": total}


@router.get("/runs/{run_id}")
def get_run(run_id: UUID, session: SessionDep) -> dict[str, Any]:
    """A step run: queued, running, completed (with the step's response as `result`), failed
    (with its `error`) or skipped."""
    with session.transaction() as conn:
        return engine.get_run(conn, run_id)


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def follow_run(run_id: UUID, session: SessionDep) -> StreamingResponse:
    """The run as Server-Sent Events: one event per state it reaches (`queued`, `running`,
    then `completed`, `failed` or `skipped`, each carrying the run), then the stream ends."""

    def read() -> dict[str, Any]:
        with session.transaction() as conn:
            return engine.get_run(conn, run_id)

    first = await run_in_threadpool(read)  # a missing run is a 404 before the stream starts

    async def events() -> AsyncIterator[str]:
        run, sent, number, quiet = first, None, 0, 0.0
        pause = 0.05
        while True:
            if run["status"] != sent:
                number += 1
                sent = run["status"]
                yield sse.frame(number, sent, run)
                if sent in engine.TERMINAL_RUN_STATES:
                    return
                pause = 0.05
            elif quiet >= 15.0:
                yield ": still waiting\n\n"  # keeps proxies from closing an idle stream
                quiet = 0.0
            await asyncio.sleep(pause)
            quiet += pause
            pause = min(0.5, pause * 1.5)
            run = await run_in_threadpool(read)

    return sse.response(events())


@router.post("/executions/{execution_id}/steps/{step_id}/skip")
def skip_step(
    execution_id: UUID, step_id: str, body: SkipIn, session: SessionDep
) -> ExecutionDetail:
    with session.transaction() as conn:
        engine.skip_step(
            conn, execution_id, step_id, body.reason, actor_role=session.principal.role.value
        )
        return _detail(conn, execution_id)


@router.post("/executions/{execution_id}/back")
def go_back(execution_id: UUID, session: SessionDep) -> ExecutionDetail:
    """Make the previous step current again."""
    with session.transaction() as conn:
        engine.go_back(conn, execution_id, actor_role=session.principal.role.value)
        return _detail(conn, execution_id)


@router.post("/executions/{execution_id}/complete")
def finish(execution_id: UUID, body: FinishIn, session: SessionDep) -> ExecutionDetail:
    """End the execution as completed (or cancelled)."""
    with session.transaction() as conn:
        engine.finish_execution(
            conn, execution_id, body.status, actor_role=session.principal.role.value
        )
        return _detail(conn, execution_id)


@router.post("/sweep", dependencies=[_Admins])
def sweep(session: SessionDep) -> SweepOut:
    """Run the trigger sweep for this tenant now (it also runs daily on its own)."""
    with session.transaction() as conn:
        result = engine.sweep(conn)
    return SweepOut(
        considered=result.considered,
        started=result.started,
        superseded=result.superseded,
        tasksCarried=result.tasks_carried,
    )


def _detail(conn: Any, execution_id: UUID) -> ExecutionDetail:
    execution = engine.load_execution(conn, execution_id)
    history = engine.step_history(conn, execution_id)
    summary = ExecutionSummary.from_row(execution.row)
    return ExecutionDetail(
        **summary.model_dump(),
        steps=engine.steps_overview(execution, history),
        history=[
            {
                "stepExecutionId": str(h["id"]),
                "stepId": h["step_id"],
                "status": h["status"],
                "attempt": h["attempt"],
                "outputs": h["outputs"],
                "artifacts": h["artifacts"],
                "error": h["error_message"],
                "skipReason": h["skip_reason"],
                "startedAt": h["started_at"].isoformat() if h["started_at"] else None,
                "completedAt": h["completed_at"].isoformat() if h["completed_at"] else None,
            }
            for h in history
        ],
    )
