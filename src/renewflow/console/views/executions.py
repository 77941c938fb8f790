"""Task mode (`/executions/{id}`): an execution run step by step — why it started, each step's
state, the current step's inputs and rendered prompt, a run followed while the LLM works, the
results (outputs, artifacts, tasks, notifications) of the finished steps, skipping, going back,
and the approvals managers answer. For admins and managers, the executions list and each one's
timeline (`/admin/executions`).

Every write goes through `renewflow.engine` (a step run through the app's `StepRunner`, as the
API does): the console decides what to show, the engine what is allowed.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from renewflow import engine, templates
from renewflow.accounts import Role
from renewflow.console.render import format_datetime, is_partial
from renewflow.console.web import Console, ConsoleDep, ConsoleRoute
from renewflow.context import build_context
from renewflow.db import Connection, load_queries
from renewflow.engine import LoadedExecution, StepRequest, StepRunner
from renewflow.engine.errors import StepRunning
from renewflow.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ValidationFailed,
)
from renewflow.limits import OFFSET_MAX
from renewflow.workflows.model import Step

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "executions.sql")

OVERSEERS = (Role.ADMIN, Role.MANAGER)
APPROVERS = frozenset({Role.ADMIN, Role.MANAGER})
PAGE_SIZE = 25
STATUSES = ("active", "completed", "superseded", "cancelled", "failed")
LIVE = frozenset({"queued", "running"})
# the roots a template may read (docs/workflows.md, "Context variables")
ROOTS = ("customer", "csm", "workflow", "company", "accountTeam", "intelligence", "data", "outputs")


def _id(value: str) -> UUID:
    """A path's id: anything that is not one is as missing as an id of another tenant."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFoundError("not found") from None


def _status(console: Console, status: int) -> int:
    """htmx does not swap error answers: a partial update shows its error with a 200, the
    plain form gets the real status."""
    return 200 if is_partial(console.request) else status


# -- what a page shows --------------------------------------------------------------------------


@dataclass
class Feedback:
    """What a refused or failed request brings back to the page, next to the step."""

    errors: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    conflict: str | None = None
    conflict_run: str | None = None
    skip_error: str | None = None
    skip_reason: str = ""
    # the step chat's: the refused branch (a skip's reason kept) or typed text, and why
    chat_error: str | None = None
    chat_text: str = ""
    chat_branch: str | None = None
    chat_reason: str = ""


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def _missing(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _render(source: str, context: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A template rendered for reading: (text, None), or (None, why it failed). A preview never
    breaks the page; the run reports the same failure with its place."""
    try:
        return templates.compile(source).render(context), None
    except Exception as error:  # a helper's bug is the template's failure here too
        return None, str(error) or type(error).__name__


def _processor_phase(runner: StepRunner, step: Step) -> str | None:
    name = step.execution.processor
    if name is None:
        return None
    processor = runner.processors.get(name)
    return getattr(processor, "phase", None) if processor is not None else None


def _needs_answer(runner: StepRunner, step: Step) -> bool:
    """A person gives this step's outputs: no prompt, and no processor that would instead."""
    return (
        step.type != "conditional_routing"
        and step.execution.llm_prompt is None
        and _processor_phase(runner, step) != "before"
    )


def _answer_fields(step: Step, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The outputs schema's properties as form fields: booleans as yes/no radios, enums as a
    choice, numbers and strings as inputs, lists of strings one per line. Other shapes cannot
    be typed in a form: they are listed, and left to the step's processor."""
    schema = step.execution.outputs or {}
    order = list(schema.get("required") or [])
    required = set(order)
    properties = schema.get("properties") or {}
    # stored configs are jsonb, which keeps no key order: the required fields come first
    names = [n for n in order if n in properties] + [n for n in properties if n not in required]
    found = []
    for name in names:
        spec = properties[name]
        kind = spec.get("type")
        if spec.get("enum"):
            control = "choice"
        elif kind == "boolean":
            control = "yesno"
        elif kind in ("integer", "number"):
            control = "number"
        elif kind == "string":
            control = "text" if name not in ("note", "reason", "comment") else "textarea"
        elif kind == "array" and (spec.get("items") or {}).get("type") == "string":
            control = "lines"
        else:
            control = None
        value = values.get(name)
        found.append(
            {
                "name": name,
                "label": _label(name),
                "control": control,
                "required": name in required,
                "options": spec.get("enum") or [],
                "description": spec.get("description"),
                "value": "\n".join(value) if isinstance(value, list) else value,
            }
        )
    return found


def _label(name: str) -> str:
    """`rescuePlan` -> `Rescue plan`."""
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", name).replace("_", " ").replace("-", " ")
    return words[:1].upper() + words[1:].lower()


def _answer_from_form(step: Step, form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outputs a person typed (converted to the schema's types where the text allows; the
    engine checks them against the schema) and the values to show back."""
    schema = step.execution.outputs or {}
    outputs: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        raw = form.get(f"outputs.{name}")
        if not isinstance(raw, str):
            continue
        text = raw.strip()
        shown[name] = raw
        if text == "":
            continue
        kind = spec.get("type")
        if kind == "boolean" and not spec.get("enum"):
            outputs[name] = {"true": True, "false": False}.get(text, text)
        elif kind == "integer":
            outputs[name] = int(text) if re.fullmatch(r"-?\d+", text) else text
        elif kind == "number":
            try:
                outputs[name] = float(text) if not text.lstrip("-").isdigit() else int(text)
            except ValueError:
                outputs[name] = text
        elif kind == "array":
            outputs[name] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            outputs[name] = text
    return outputs, shown


_MISSING_PROPERTY = re.compile(r"missing required property '([^']+)'")


def _refused(error: ValidationFailed, feedback: Feedback) -> None:
    """The engine's validation errors, each next to its field where it names one."""
    for where, message in error.errors:
        name, shown = None, message
        if where.startswith("outputs."):
            name = where.removeprefix("outputs.").split(".")[0].split("[")[0]
        elif where == "outputs":
            missing = _MISSING_PROPERTY.search(message)
            if missing:
                name, shown = missing.group(1), "Required: choose or type a value."
        if name is not None:
            feedback.fields.setdefault(name, shown)
        else:
            feedback.errors.append(f"{where}: {message}")


def _reason(reason: Mapping[str, Any], tz: str) -> list[tuple[str, str]]:
    """Why the execution started, as lines a person reads."""
    rules = {
        "daysUntilRenewal": "its days until renewal entered the workflow's range",
        "earlyTrigger": "an early trigger of the workflow was true",
        "manual": "started by hand",
    }
    lines: list[tuple[str, str]] = []
    rule = reason.get("rule")
    if rule is not None:
        lines.append(("Rule", rules.get(str(rule), str(rule))))
    shown = {"rule"}
    if isinstance(reason.get("range"), Mapping):
        low, high = reason["range"].get("min"), reason["range"].get("max")
        lines.append(("Range", f"{low} to {high} days until renewal"))
        shown.add("range")
    labels = {
        "daysUntilRenewal": "Days until renewal",
        "renewalDate": "Renewal date",
        "arr": "ARR",
        "description": "Trigger",
        "condition": "Condition",
        "role": "Started by a",
        "timeZone": "Time zone",
        "workflowId": "Workflow",
        "evaluatedAt": "Evaluated",
    }
    for key, label in labels.items():
        if key in reason and reason[key] is not None:
            value = reason[key]
            if key == "evaluatedAt" and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = format_datetime(datetime.fromisoformat(value), tz)
            lines.append((label, _text(value)))
            shown.add(key)
    for key, value in reason.items():
        if key not in shown and key != "by":
            lines.append((key, _text(value)))
    return lines


def _run_view(run: dict[str, Any]) -> dict[str, Any]:
    """The run resource with its times as datetimes, for the page's time zone."""

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return {**run, "started": when(run["startedAt"]), "not_before": when(run["notBefore"])}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return f"{value:f}"
    return json.dumps(value, ensure_ascii=False, default=str)


def _task_mode(
    conn: Connection,
    console: Console,
    execution_id: UUID,
    *,
    run_id: UUID | None = None,
    feedback: Feedback | None = None,
    focus: str | None = None,
    moved: str | None = None,
    thread_id: UUID | None = None,
    exchange: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the task-mode page shows, read in the request's transaction: read again
    when a run moved on meanwhile, so that the page shows one state."""
    context: dict[str, Any] = {}
    for _ in range(3):
        before = conn.execute(_Q["execution_marker"], {"execution_id": execution_id}).fetchone()
        context = _read_task_mode(
            conn,
            console,
            execution_id,
            run_id=run_id,
            feedback=feedback,
            focus=focus,
            moved=moved,
            thread_id=thread_id,
            exchange=exchange,
        )
        after = conn.execute(_Q["execution_marker"], {"execution_id": execution_id}).fetchone()
        if before == after:
            break
    return context


def _read_task_mode(
    conn: Connection,
    console: Console,
    execution_id: UUID,
    *,
    run_id: UUID | None,
    feedback: Feedback | None,
    focus: str | None,
    moved: str | None,
    thread_id: UUID | None = None,
    exchange: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    from renewflow.console.views.chat import exchange_view

    execution = engine.load_execution(conn, execution_id)
    history = engine.step_history(conn, execution_id)
    overview = engine.steps_overview(execution, history)
    row = execution.row
    active = row["status"] == "active"
    current_id = row["current_step_id"] if active else None

    latest: dict[str, dict[str, Any]] = {}
    finished: dict[str, dict[str, Any]] = {}
    for entry in history:
        latest[entry["step_id"]] = entry
        if entry["status"] in ("completed", "skipped"):
            finished[entry["step_id"]] = entry
    tasks: dict[UUID, list[dict[str, Any]]] = {}
    for task in conn.execute(_Q["step_tasks"], {"execution_id": execution_id}).fetchall():
        tasks.setdefault(task["step_execution_id"], []).append(task)
    trigger_step = {
        n.id: n.action_triggered for n in execution.config.notifications if n.action_triggered
    }
    notes: dict[str, list[dict[str, Any]]] = {}
    for note in conn.execute(_Q["execution_notifications"], {"execution_id": execution_id}):
        step_of = trigger_step.get(note["notification_type"])
        if step_of is not None:
            notes.setdefault(step_of, []).append(note)

    steps = []
    for number, (item, step) in enumerate(zip(overview, execution.config.steps, strict=True), 1):
        state = item["status"]
        is_current = step.id == current_id
        if is_current and state not in LIVE and state != "failed":
            state = "current"
        done = finished.get(step.id)
        steps.append(
            {
                "number": number,
                "id": step.id,
                "name": step.name,
                "type": step.type,
                "description": step.description,
                "state": state,
                "current": is_current,
                "entry": done,
                "tasks": tasks.get(done["id"], []) if done else [],
                "notifications": notes.get(step.id, []) if done else [],
            }
        )

    live = next((e for e in reversed(history) if e["status"] in LIVE), None)
    run = None
    # a live run first: its progress is what matters now, whatever run the link names
    wanted = live["id"] if live else run_id
    if wanted is not None:
        try:
            run = _run_view(engine.get_run(conn, wanted))
        except NotFoundError:
            run = None
        if run is not None and run["executionId"] != str(execution_id):
            run = None
    step_names = {s.id: s.name for s in execution.config.steps}

    current = None
    if current_id is not None:
        current = _current_step(
            conn,
            console,
            execution,
            current_id,
            last=latest.get(current_id),
            feedback=feedback,
            thread_id=thread_id,
        )
    index = next((i for i, s in enumerate(execution.config.steps) if s.id == current_id), 0)
    return {
        "execution": row,
        "reason": _reason(row["trigger_reason"] or {}, console.time_zone),
        "steps": steps,
        "current": current,
        "can_go_back": active and index > 0 and (current is None or current["can_move"]),
        "run": run,
        "run_step_name": step_names.get(run["stepId"], run["stepId"]) if run else None,
        "step_names": step_names,
        "feedback": feedback or Feedback(),
        "focus": focus,
        "moved": moved,
        "overseer": console.user.role in OVERSEERS,
        "exchange": exchange_view(exchange, step_names) if exchange else None,
    }


def _current_step(
    conn: Connection,
    console: Console,
    execution: LoadedExecution,
    step_id: str,
    *,
    last: dict[str, Any] | None,
    feedback: Feedback | None,
    thread_id: UUID | None = None,
) -> dict[str, Any]:
    """The current step's work: what its templates read, the prompt as rendered, how it runs
    (an LLM call, a person's answer, routing only), and its chat."""
    from renewflow.console.views.chat import chat_panel

    runner: StepRunner = console.request.app.state.step_runner
    _, step = execution.step(step_id)
    context = build_context(conn, execution.row["customer_id"], execution.id)
    phase = _processor_phase(runner, step)
    reads: list[str] = list(step.execution.data_required)
    prompt = prompt_error = None
    if step.execution.llm_prompt is not None:
        compiled_vars: frozenset[str] = frozenset()
        with contextlib.suppress(templates.TemplateError):  # the render below says why
            compiled_vars = templates.compile(step.execution.llm_prompt).variables
        for variable in sorted(compiled_vars):
            if "[]" not in variable and variable.split(".")[0] in ROOTS and variable not in reads:
                reads.append(variable)
        if phase != "before":
            prompt, prompt_error = _render(step.execution.llm_prompt, context)
    inputs = [
        {
            "path": path,
            "value": _lookup(context, path),
            "missing": _missing(_lookup(context, path)),
            "required": path in step.execution.data_required,
        }
        for path in reads
    ]
    system, _ = _render(execution.config.context.system_prompt, context)
    role = console.user.role
    approval = step.type == "approval"
    kind = (
        "routing"
        if step.type == "conditional_routing"
        else "answer"
        if _needs_answer(runner, step)
        else "llm"
    )
    values = feedback.values if feedback else {}
    return {
        "id": step.id,
        "name": step.name,
        "type": step.type,
        "description": step.description,
        "kind": kind,
        "approval": approval,
        "processor": step.execution.processor,
        "phase": phase,
        "inputs": inputs,
        "prompt": prompt,
        "prompt_error": prompt_error,
        "system": system,
        "routes": [{"condition": r.condition, "next": r.next_step} for r in step.routing.routes]
        if step.routing
        else [],
        "default_route": step.routing.default_route if step.routing else None,
        "fields": _answer_fields(step, values) if kind == "answer" else [],
        "can_answer": not approval or role in APPROVERS,
        "can_move": not approval or role in APPROVERS,
        "last_failure": last["error_message"] if last and last["status"] == "failed" else None,
        "last_attempt": last["attempt"] if last else 0,
        "has_run_before": last is not None,
        "chat": chat_panel(conn, execution, step, thread_id=thread_id),
    }


# -- task mode ----------------------------------------------------------------------------------


def _page_of(
    console: Console,
    execution_id: UUID,
    *,
    status: int = 200,
    **options: Any,
) -> HTMLResponse:
    with console.transaction() as conn:
        context = _task_mode(conn, console, execution_id, **options)
    return console.page("execution.html", status=_status(console, status), **context)


@router.get("/executions/{execution_id}")
def task_mode(execution_id: str, console: ConsoleDep) -> HTMLResponse:
    query = console.request.query_params
    run_id = None
    if query.get("run"):
        try:
            run_id = UUID(query["run"])
        except ValueError:
            run_id = None
    moved = query.get("moved") if query.get("moved") in ("skipped", "back") else None
    thread_id = None
    if query.get("thread"):
        with contextlib.suppress(ValueError):
            thread_id = UUID(query["thread"])
    eid = _id(execution_id)
    exchange = None
    if query.get("chat") or query.get("ended"):
        from renewflow.console.views.chat import exchange_of

        with console.transaction() as conn:
            exchange = exchange_of(conn, eid, query.get("chat"), query.get("ended"))
    return _page_of(
        console, eid, run_id=run_id, moved=moved, thread_id=thread_id, exchange=exchange
    )


@router.post("/executions/{execution_id}/steps/{step_id}/run")
async def run_step(execution_id: str, step_id: str, console: ConsoleDep) -> Response:
    form = await console.request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_run_step, console, _id(execution_id), step_id, values)


def _run_step(
    console: Console, execution_id: UUID, step_id: str, form: Mapping[str, str]
) -> Response:
    runner: StepRunner = console.request.app.state.step_runner
    with console.transaction() as conn:
        execution = engine.load_execution(conn, execution_id)
    _, step = execution.step(step_id)  # a step the workflow lacks: 404
    given = None
    feedback = Feedback()
    if _needs_answer(runner, step):
        given, feedback.values = _answer_from_form(step, form)
    request = StepRequest(
        given_outputs=given,
        actor_user_id=console.user.user_id,
        actor_role=console.user.role.value,
    )
    try:
        answer = runner.run(
            console.transaction,
            execution_id=execution_id,
            step_id=step_id,
            request=request,
            asynchronous=True,
        )
    except StepRunning as error:
        feedback.conflict = error.message
        feedback.conflict_run = error.details.get("runId")
        return _page_of(console, execution_id, status=409, feedback=feedback, focus="feedback")
    except ValidationFailed as error:
        _refused(error, feedback)
        return _page_of(console, execution_id, status=422, feedback=feedback, focus="feedback")
    except InvalidInputError as error:
        feedback.errors.append(error.message)
        return _page_of(console, execution_id, status=422, feedback=feedback, focus="feedback")
    except ConflictError as error:
        feedback.conflict = error.message
        return _page_of(console, execution_id, status=409, feedback=feedback, focus="feedback")
    if answer.status >= 400 and not answer.accepted:
        # the step ran and failed (an LLM answer that stayed invalid, a template): next to it
        feedback.errors.append(str(answer.body.get("detail") or answer.body.get("error")))
        return _page_of(
            console, execution_id, status=answer.status, feedback=feedback, focus="feedback"
        )
    if not is_partial(console.request):
        target = f"/executions/{execution_id}"
        if answer.run_id is not None:
            target += "?" + urlencode({"run": str(answer.run_id)})
        return RedirectResponse(target, status_code=303)
    return _page_of(
        console,
        execution_id,
        run_id=answer.run_id,
        focus="run" if answer.accepted else "result",
    )


@router.get("/executions/{execution_id}/runs/{run_id}")
def run_progress(execution_id: str, run_id: str, console: ConsoleDep) -> Response:
    """A run's state, polled by the page every second while it is live. An unchanged state
    answers 204 (htmx swaps nothing, the screen reader hears nothing new); a finished run swaps
    the whole page in (its result and the next step). Without htmx: the page itself."""
    eid, rid = _id(execution_id), _id(run_id)
    if not is_partial(console.request):
        return RedirectResponse(f"/executions/{eid}?" + urlencode({"run": str(rid)}), 303)
    with console.transaction() as conn:
        run = engine.get_run(conn, rid)
        if run["executionId"] != str(eid):
            raise NotFoundError("not found")
        if run["status"] in LIVE:
            if console.request.query_params.get("seen") == run["status"]:
                return Response(status_code=204)
            execution = engine.load_execution(conn, eid)
            names = {s.id: s.name for s in execution.config.steps}
            return console.page(
                "_run.html",
                run=_run_view(run),
                execution={"id": eid},
                run_step_name=names.get(run["stepId"], run["stepId"]),
            )
        context = _task_mode(conn, console, eid, run_id=rid, focus="result")
    response = console.page("execution.html", **context)
    response.headers["HX-Retarget"] = "#main"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


@router.post("/executions/{execution_id}/steps/{step_id}/skip")
async def skip(execution_id: str, step_id: str, console: ConsoleDep) -> Response:
    form = await console.request.form()
    reason = form.get("reason")
    text = reason if isinstance(reason, str) else ""
    return await run_in_threadpool(_skip, console, _id(execution_id), step_id, text)


def _skip(console: Console, execution_id: UUID, step_id: str, reason: str) -> Response:
    feedback = Feedback(skip_reason=reason)
    try:
        with console.transaction() as conn:
            engine.skip_step(
                conn, execution_id, step_id, reason[:2000], actor_role=console.user.role.value
            )
    except InvalidInputError as error:
        feedback.skip_error = error.reason
        return _page_of(console, execution_id, status=422, feedback=feedback, focus="skip")
    except StepRunning as error:
        feedback.conflict = error.message
        feedback.conflict_run = error.details.get("runId")
        return _page_of(console, execution_id, status=409, feedback=feedback, focus="feedback")
    except ConflictError as error:
        feedback.conflict = error.message
        return _page_of(console, execution_id, status=409, feedback=feedback, focus="feedback")
    return RedirectResponse(f"/executions/{execution_id}?moved=skipped", status_code=303)


@router.post("/executions/{execution_id}/back")
def back(execution_id: str, console: ConsoleDep) -> Response:
    eid = _id(execution_id)
    feedback = Feedback()
    try:
        with console.transaction() as conn:
            engine.go_back(conn, eid, actor_role=console.user.role.value)
    except StepRunning as error:
        feedback.conflict = error.message
        feedback.conflict_run = error.details.get("runId")
        return _page_of(console, eid, status=409, feedback=feedback, focus="feedback")
    except ConflictError as error:
        feedback.conflict = error.message
        return _page_of(console, eid, status=409, feedback=feedback, focus="feedback")
    return RedirectResponse(f"/executions/{eid}?moved=back", status_code=303)


# -- the executions list and the timeline (admins and managers) ---------------------------------


@dataclass(frozen=True)
class ExecutionFilters:
    """The list's state as the URL carries it; values that make no sense are dropped (and said
    so), never an error page."""

    status: str | None = None
    workflow: str | None = None
    customer: UUID | None = None
    search: str | None = None
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[ExecutionFilters, list[str]]:
        ignored = []
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            ignored.append("status")
            status = None
        customer = None
        if query.get("customer"):
            try:
                customer = UUID(query["customer"])
            except ValueError:
                ignored.append("customer")
        page = 1
        if query.get("page"):
            try:
                page = int(query["page"])
            except ValueError:
                ignored.append("page")
            if not 1 <= page <= OFFSET_MAX // PAGE_SIZE:
                if "page" not in ignored:
                    ignored.append("page")
                page = 1
        workflow = (query.get("workflow") or "").strip()[:50] or None
        search = (query.get("q") or "").strip()[:100] or None
        return cls(status, workflow, customer, search, page), ignored

    def url(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "status": self.status,
            "workflow": self.workflow,
            "customer": str(self.customer) if self.customer else None,
            "q": self.search,
            "page": self.page if self.page != 1 else None,
        }
        values.update(changes)
        kept = {
            k: v for k, v in values.items() if v not in (None, "") and not (k == "page" and v == 1)
        }
        return "/admin/executions" + (f"?{urlencode(kept)}" if kept else "")


@router.get("/admin/executions")
def executions(console: ConsoleDep) -> HTMLResponse:
    console.require(*OVERSEERS)
    filters, ignored = ExecutionFilters.from_query(console.request.query_params)
    with console.transaction() as conn:
        rows = conn.execute(
            _Q["execution_list"],
            {
                "status": filters.status,
                "workflow_id": filters.workflow,
                "customer_id": filters.customer,
                "search": filters.search,
                "limit": PAGE_SIZE + 1,
                "offset": (filters.page - 1) * PAGE_SIZE,
            },
        ).fetchall()
        workflows = conn.execute(_Q["execution_workflows"]).fetchall()
        customer = (
            conn.execute(_Q["execution_customer"], {"customer_id": filters.customer}).fetchone()
            if filters.customer
            else None
        )
    total = rows[0]["total_count"] if rows else 0
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    pages = max(1, -(-total // PAGE_SIZE))
    return console.page(
        "executions.html",
        timeline=False,
        rows=rows,
        total=total,
        filters=filters,
        ignored=ignored,
        statuses=STATUSES,
        workflows=workflows,
        customer=customer,
        page=filters.page,
        pages=pages,
        next_url=filters.url(page=filters.page + 1) if more else None,
        previous_url=filters.url(page=filters.page - 1) if filters.page > 1 else None,
        clear_url="/admin/executions",
    )


@router.get("/admin/executions/{execution_id}")
def timeline(execution_id: str, console: ConsoleDep) -> HTMLResponse:
    console.require(*OVERSEERS)
    eid = _id(execution_id)
    with console.transaction() as conn:
        execution = engine.load_execution(conn, eid)
        entries = conn.execute(_Q["timeline_steps"], {"execution_id": eid}).fetchall()
        calls = conn.execute(_Q["execution_llm_calls"], {"execution_id": eid}).fetchall()
        notes = conn.execute(_Q["execution_notifications"], {"execution_id": eid}).fetchall()
    config_steps = {s.id: s for s in execution.config.steps}
    calls_of: dict[UUID | None, list[dict[str, Any]]] = {}
    for call in calls:
        calls_of.setdefault(call["step_execution_id"], []).append(call)
    names = {s.id: s.name for s in execution.config.steps}
    timeline_entries = []
    for entry in entries:
        step = config_steps.get(entry["step_id"])
        timeline_entries.append(
            {
                **entry,
                "name": names.get(entry["step_id"], entry["step_id"]),
                "type": step.type if step else None,
                "routing": _routing_of(entry, step, names),
                "calls": calls_of.get(entry["id"], []),
            }
        )
    failures = [
        {"what": "step", "entry": e}
        for e in timeline_entries
        if e["status"] == "failed" and e["error_message"]
    ] + [
        {"what": "notification", "note": n}
        for n in notes
        if n["status"] == "failed" and n["last_error"]
    ]
    failed_calls = [c for c in calls if c["status"] == "error"]
    return console.page(
        "executions.html",
        timeline=True,
        execution=execution.row,
        reason=_reason(execution.row["trigger_reason"] or {}, console.time_zone),
        entries=timeline_entries,
        failures=failures,
        failed_calls=failed_calls,
        calls=calls,
        notifications=notes,
        totals={
            "calls": len(calls),
            "input_tokens": sum(c["input_tokens"] or 0 for c in calls),
            "output_tokens": sum(c["output_tokens"] or 0 for c in calls),
            "cost": sum((c["cost_usd"] or Decimal(0)) for c in calls),
            "unpriced": sum(1 for c in calls if c["cost_usd"] is None),
            "latency_ms": sum(c["latency_ms"] for c in calls),
        },
        step_names=names,
    )


def _routing_of(entry: Mapping[str, Any], step: Step | None, names: Mapping[str, str]) -> str:
    """Why the step went where it did, in words."""
    status = entry["status"]
    following = entry["next_step_id"]
    to = names.get(following, following) if following else None
    if status == "skipped":
        return f"skipped ({entry['skip_reason']}); the next step in order followed"
    if status != "completed":
        return "stayed on this step" if status == "failed" else f"{status}"
    outputs = entry["outputs"] or {}
    if step is not None and step.type == "conditional_routing":
        matched = outputs.get("matched")
        if matched == "default":
            return f"no route's condition was true: the default route, to {to or 'the end'}"
        if matched == "order":
            return f"no routing: the next step in order, {to or 'the end'}"
        return (
            f"route {int(matched) + 1 if isinstance(matched, int) else matched} matched "
            f"({outputs.get('condition')}): to {to or 'the end'}"
        )
    if to is None:
        return "the last step: the execution completed"
    if step is not None and step.routing is not None:
        conditions = [r.condition for r in step.routing.routes if r.next_step == following]
        if conditions:
            return f"its route {conditions[0]} was true: to {to}"
        return f"no route's condition was true: the default route, to {to}"
    return f"the next step in order, {to}"
