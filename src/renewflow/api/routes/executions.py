"""Running workflows: start one, list and read executions, execute and skip steps, the sweep."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from renewflow import engine
from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.api.problems import PROBLEM_JSON
from renewflow.engine.idempotency import fingerprint, once
from renewflow.engine.triggers import check_manual_start
from renewflow.llm import LLMClients
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

    context: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None


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
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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


@router.post("/executions/{execution_id}/steps/{step_id}/execute")
def execute_step(
    execution_id: UUID,
    step_id: Annotated[str, Path(max_length=100)],
    session: SessionDep,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    body: StepExecuteIn | None = None,
) -> JSONResponse:
    """Run the current step: context, data requirements, prompt, LLM, outputs, routing,
    artifacts, tasks and notifications. A step whose LLM answer stays invalid after a repair
    retry fails with 502; the execution stays on the step, resumable."""
    clients: LLMClients = request.app.state.llm_clients
    body = body or StepExecuteIn()
    with session.transaction() as conn:

        def run() -> tuple[int, dict[str, Any]]:
            outcome = engine.execute_step(
                conn,
                clients,
                execution_id=execution_id,
                step_id=step_id,
                extra_data=body.context.get("data") if body.context else None,
                given_outputs=body.outputs,
                idempotency_key=idempotency_key,
                actor_role=session.principal.role.value,
            )
            result = outcome.as_response()
            if outcome.failed:
                return 502, {
                    "type": "about:blank",
                    "title": "Bad gateway",
                    "status": 502,
                    "detail": outcome.error,
                    **result,
                }
            return 200, result

        status, payload = once(
            conn,
            idempotency_key,
            fingerprint("execute", str(execution_id), step_id, body.model_dump(mode="json")),
            run,
        )
    media = PROBLEM_JSON if status >= 400 else "application/json"
    return JSONResponse(payload, status_code=status, media_type=media)


@router.post("/executions/{execution_id}/steps/{step_id}/skip")
def skip_step(
    execution_id: UUID, step_id: str, body: SkipIn, session: SessionDep
) -> ExecutionDetail:
    with session.transaction() as conn:
        engine.skip_step(conn, execution_id, step_id, body.reason)
        return _detail(conn, execution_id)


@router.post("/executions/{execution_id}/back")
def go_back(execution_id: UUID, session: SessionDep) -> ExecutionDetail:
    """Make the previous step current again."""
    with session.transaction() as conn:
        engine.go_back(conn, execution_id)
        return _detail(conn, execution_id)


@router.post("/executions/{execution_id}/complete")
def finish(execution_id: UUID, body: FinishIn, session: SessionDep) -> ExecutionDetail:
    """End the execution as completed (or cancelled)."""
    with session.transaction() as conn:
        engine.finish_execution(conn, execution_id, body.status)
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
