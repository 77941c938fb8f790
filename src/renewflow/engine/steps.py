"""Executing one step: context, data requirements, prompt, LLM, validated outputs, routing,
artifacts, the step's action-plan tasks and its notifications — in the caller's transaction.

The transaction holds the execution's row lock for the whole step, so two requests cannot run
steps of one execution at once; the LLM call happens inside it (a trade-off: simple and
all-or-nothing, at the cost of a connection held for the call's duration).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow import templates
from renewflow.context import build_context, missing_paths
from renewflow.db import Connection, load_queries
from renewflow.engine.executions import (
    LoadedExecution,
    load_execution,
    next_step_in_order,
    require_current,
)
from renewflow.engine.notifications import fire_step_notifications
from renewflow.errors import InvalidInputError, PermissionDeniedError
from renewflow.llm import (
    LLMBadResponse,
    LLMCall,
    LLMClient,
    LLMClients,
    LLMError,
    LLMRequest,
    record_calls,
    validate,
)
from renewflow.tasks.models import Owner, TaskCreate, TaskType
from renewflow.tasks.service import ensure_task
from renewflow.workflows.errors import ValidationFailed
from renewflow.workflows.model import Step

_Q = load_queries("renewflow.engine")

_PRIORITY = {"critical": 1, "high": 2, "medium": 3, "low": 4}
APPROVER_ROLES = frozenset({"admin", "manager"})


@dataclass
class StepOutcome:
    """What executing a step did. `failed` steps keep their error and raw answer; the execution
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
        return body


def execute_step(
    conn: Connection,
    llm_clients: LLMClients,
    *,
    execution_id: UUID,
    step_id: str,
    extra_data: dict[str, Any] | None = None,
    given_outputs: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    actor_role: str | None = None,
) -> StepOutcome:
    """Runs the current step of an execution.

    `extra_data` is merged under the context's `data` (the caller may bring data the database
    lacks); `given_outputs` are the outputs of a step without an LLM prompt (an approval, say).
    An approval step can be answered only by a manager or an admin (`actor_role`).
    """
    execution = load_execution(conn, execution_id, lock=True)
    index, step = execution.step(step_id)
    require_current(execution, step_id)
    llm = llm_clients.for_tenant(execution.row["tenant_settings"])
    if step.type == "approval" and actor_role not in APPROVER_ROLES:
        raise PermissionDeniedError(
            f"step {step_id!r} is an approval: a manager or an admin gives it"
        )
    context = build_context(conn, execution.row["customer_id"], execution_id)
    if extra_data:
        context["data"] = {**context["data"], **extra_data}
    missing = missing_paths(context, step.execution.data_required)
    if missing:
        raise ValidationFailed(
            [(f"context.{path}", "required by the step, but missing") for path in missing]
        )

    system = _render(execution.config.context.system_prompt, context)
    prompt = _render(step.execution.llm_prompt, context) if step.execution.llm_prompt else None
    # The row is written once, finished; its id exists first so the LLM call can point at it.
    step_execution_id = uuid.uuid4()
    started_at = datetime.now(UTC)
    calls: list[LLMCall] = []  # recorded with the step's row, in the same round trip

    if prompt is None:
        outputs, raw, error = _given(step, given_outputs)
    else:
        outputs, raw, error = _ask(
            conn,
            llm,
            execution=execution,
            step=step,
            system=system,
            prompt=prompt,
            step_execution_id=step_execution_id,
            calls=calls,
        )
    record = {
        "id": step_execution_id,
        "execution_id": execution_id,
        "step_id": step_id,
        "step_index": index,
        "prompt": prompt,
        "raw": raw,
        "started_at": started_at,
        "idempotency_key": idempotency_key,
    }
    if error is not None:
        _write_step(
            conn,
            calls,
            {
                **record,
                "status": "failed",
                "outputs": None,
                "artifacts": Jsonb([]),
                "error": error,
                "advance": False,
                "next_step": None,
            },
        )
        return StepOutcome(
            step_execution_id=step_execution_id,
            step_id=step_id,
            outputs=None,
            next_step=None,
            execution_status="active",
            failed=True,
            error=error,
        )
    assert outputs is not None

    context["outputs"] = {**context["outputs"], step.id: outputs}
    artifacts = [_artifact(artifact, context) for artifact in step.artifacts]
    following = _route(execution, step, context)
    _write_step(
        conn,
        calls,
        {
            **record,
            "status": "completed",
            "outputs": Jsonb(outputs),
            "artifacts": Jsonb(artifacts),
            "error": None,
            "advance": True,
            "next_step": following,
        },
    )
    tasks = _create_tasks(conn, execution, step, step_execution_id, context)
    notifications = fire_step_notifications(conn, execution, step.id, context)
    next_step = None
    if following is not None:
        _, target = execution.step(following)
        next_step = {"stepId": target.id, "title": target.name}
    return StepOutcome(
        step_execution_id=step_execution_id,
        step_id=step_id,
        outputs=outputs,
        next_step=next_step,
        execution_status="active" if following is not None else "completed",
        artifacts=artifacts,
        tasks=tasks,
        notifications=notifications,
    )


def _render(source: str, context: dict[str, Any]) -> str:
    return templates.compile(source).render(context)


def _given(
    step: Step, given: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """Outputs supplied by a person for a step without an LLM prompt, checked like an answer."""
    if given is None:
        raise InvalidInputError(
            "outputs", f"step {step.id!r} has no LLM prompt: send its outputs in the request"
        )
    problems = validate(given, step.execution.outputs) if step.execution.outputs else []
    if problems:
        raise ValidationFailed([_as_field(problem) for problem in problems])
    return given, None, None


def _write_step(conn: Connection, calls: list[LLMCall], params: dict[str, Any]) -> None:
    """The step's LLM calls and its finished row (with the execution's move), in one round trip."""
    with conn.pipeline():
        record_calls(conn, calls)
        conn.execute(_Q["record_step_execution"], params)


def _ask(
    conn: Connection,
    llm: LLMClient,
    *,
    execution: LoadedExecution,
    step: Step,
    system: str,
    prompt: str,
    step_execution_id: UUID,
    calls: list[LLMCall],
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """Asks the LLM; an answer that does not fit the outputs schema gets one repair retry."""
    schema = step.execution.outputs or {"type": "object"}
    request = LLMRequest(
        prompt=prompt, system=system, json_schema=schema, schema_name=_schema_name(step.id)
    )
    raw: str | None = None
    problems: list[str] = []
    for attempt in range(2):
        try:
            response = llm.complete(
                request,
                workflow_execution_id=execution.id,
                step_execution_id=step_execution_id,
                deferred=calls,
            )
            raw = response.text
            parsed = response.parsed if response.parsed is not None else _json(response.text)
        except LLMBadResponse as error:
            # an answer, but not the JSON asked for: as repairable as a schema mismatch
            raw, parsed = error.raw_text, None
        except LLMError as error:
            return None, raw, f"the LLM call failed: {error}"
        problems = validate(parsed, schema) if parsed is not None else ["the answer is not JSON"]
        if not problems and isinstance(parsed, dict):
            return parsed, raw, None
        if attempt == 0:
            request = LLMRequest(
                prompt=_repair_prompt(prompt, raw or "", problems),
                system=system,
                json_schema=schema,
                schema_name=request.schema_name,
            )
    listed = "; ".join(str(p) for p in problems[:5])
    return (
        None,
        raw,
        f"the LLM's answer did not match the step's outputs schema after a repair retry: {listed}",
    )


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


def _artifact(artifact: Any, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "type": artifact.type,
        "title": _render(artifact.title, context),
        "sections": [
            {"title": _render(s.title, context), "content": _render(s.content, context)}
            for s in artifact.sections
        ],
    }


def _route(execution: LoadedExecution, step: Step, context: dict[str, Any]) -> str | None:
    """The first route whose condition renders `true`; else the default route; with no routing,
    the next step in order. None ends the workflow."""
    if step.routing is None:
        return next_step_in_order(execution, step.id)
    for route in step.routing.routes:
        if _render(route.condition, context).strip().lower() == "true":
            return route.next_step
    return step.routing.default_route


def _create_tasks(
    conn: Connection,
    execution: LoadedExecution,
    step: Step,
    step_execution_id: UUID,
    context: dict[str, Any],
) -> list[dict[str, Any]]:
    created = []
    if not step.tasks:
        return []
    today = _today(conn)
    for task in step.tasks:
        description = (
            _render(task.description, context) if task.description else _render(task.title, context)
        )
        result, new = ensure_task(
            conn,
            TaskCreate(
                workflow_execution_id=execution.id,
                customer_id=execution.row["customer_id"],
                task_type=TaskType.CSM_TASK,
                owner=Owner.CSM,
                action=_render(task.title, context)[:255],
                description=description,
                priority=_PRIORITY[task.priority],
                step_execution_id=step_execution_id,
                due_date=today + timedelta(days=task.due_in_days),
                metadata={"workflowTask": task.id, "responsible": task.owner},
            ),
        )
        created.append({"id": str(result.id), "action": result.action, "created": new})
    return created


def _today(conn: Connection) -> Any:
    row = conn.execute("SELECT current_date AS today").fetchone()
    assert row is not None
    return row["today"]
