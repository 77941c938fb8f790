"""Agent tasks (every signed-in user: their own): the list, creating a task with its steps, and a
task's page — edit, add, delete and reorder its steps (buttons that post the whole new order,
and drag and drop in the page's script posting the same form), run it, follow the run, approve
or skip the step a paused run waits on, resume a failed run, cancel one.

Every action is a plain POST form answered by a 303 back to the task's page (which says what was
done), or, when a form does not validate, by the page again with each error next to its field
and the input kept. The rules are renewflow.agents': another user's task is not found (row-level
security; this screen also hides the tenant's others that an admin may read through the API),
a task whose run is under way cannot change its steps (409, said on the page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from renewflow import agents
from renewflow.agents import AgentTask, AgentTaskNotFound, StepStatus, TaskStatus
from renewflow.agents.models import INSTRUCTIONS_MAX, NAME_MAX, STEPS_MAX
from renewflow.console.render import is_partial
from renewflow.console.web import Console, ConsoleDep, ConsoleRoute
from renewflow.db import Connection
from renewflow.errors import ConflictError, InvalidInputError, NotFoundError
from renewflow.nul import MESSAGE as NUL_MESSAGE

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

# How many steps the new-task form offers (more are added on the task's page).
NEW_STEP_SLOTS = 3
LIST_LIMIT = 100
MODEL_MAX = 200
STEP_FIELDS = ("step_name", "instructions", "model")
CHECKBOXES = ("include_previous_context", "requires_approval")
STATUS_TEXT = {
    TaskStatus.PENDING: "not run yet",
    TaskStatus.RUNNING: "running",
    TaskStatus.AWAITING_APPROVAL: "waiting for your approval",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled",
}
DONE = {
    "created": "Created the task. Run it when its steps are ready.",
    "saved": "Saved the step.",
    "added": "Added the step.",
    "deleted-step": "Deleted the step; the later ones moved up.",
    "reordered": "Saved the new order of the steps.",
    "run": "Started the run: a worker takes the first step up in a moment.",
    "resumed": "Resumed the run at its first unfinished step.",
    "cancelled": "Cancelled the run.",
    "approved": "Approved the step: the run goes on with it.",
    "skipped": "Skipped the step: the run goes on after it.",
}


@dataclass
class Feedback:
    """A form sent back: which one (`create`, `add`, `step-<id>`, `order`, `run`), its input,
    each field's error, or a problem of the whole form (a conflict, a bad order)."""

    form: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def _id(raw: str) -> UUID:
    """A malformed id is a missing task or step, exactly like another user's."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFoundError(f"not found: {raw!r}") from None


def _own(conn: Connection, console: Console, task_id: UUID) -> AgentTask:
    """The caller's task. An admin may read the tenant's others (the API's `everyone`), but this
    screen is one's own work: another's answers like a missing one."""
    task = agents.get_task(conn, task_id)
    if task.user_id != console.user.user_id:
        raise AgentTaskNotFound(task_id)
    return task


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


_FIELD_LABELS = {
    "name": "the task's name",
    "step_name": "the step's name",
    "instructions": "the instructions",
    "model": "a model name, or leave it empty",
}


def _pydantic_errors(error: ValidationError, prefix: str = "") -> dict[str, str]:
    """The models' errors as the form says them, keyed by the form's field names."""
    found: dict[str, str] = {}
    for problem in error.errors():
        loc = [str(part) for part in problem.get("loc", ())]
        name = prefix + (loc[-1] if loc else "form")
        if problem["type"] in ("string_too_short", "missing"):
            text = f"Enter {_FIELD_LABELS.get(loc[-1] if loc else '', 'a value')}."
        elif problem["type"] == "string_too_long":
            text = f"At most {problem.get('ctx', {}).get('max_length')} characters."
        else:
            text = _sentence(problem.get("msg", "invalid"))
        found.setdefault(name, text)
    return found


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _step_values(form: FormData, prefix: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {name: _text(form, prefix + name) for name in STEP_FIELDS}
    values.update({name: bool(_text(form, prefix + name)) for name in CHECKBOXES})
    return values


def _nul_errors(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    return {
        prefix + name: _sentence(NUL_MESSAGE)
        for name, value in values.items()
        if isinstance(value, str) and "\x00" in value
    }


def _step_body(values: dict[str, Any]) -> dict[str, Any]:
    """What the step models take: an empty model is none (the tenant's default)."""
    return {**values, "model": values["model"].strip() or None}


# -- the list ---------------------------------------------------------------------------------


def _blank_create() -> dict[str, Any]:
    blank = {name: "" for name in STEP_FIELDS} | dict.fromkeys(CHECKBOXES, False)
    steps = [dict(blank) for _ in range(NEW_STEP_SLOTS)]
    for later in steps[1:]:
        later["include_previous_context"] = True  # a later step usually builds on the earlier
    return {"name": "", "steps": steps}


def _list_page(console: Console, feedback: Feedback | None = None, status: int = 200) -> Response:
    with console.transaction() as conn:
        page = agents.list_tasks(conn, limit=LIST_LIMIT)
    feedback = feedback or Feedback()
    values = feedback.values if feedback.form == "create" else _blank_create()
    query = console.request.query_params
    notice = "Deleted the task and its steps." if query.get("done") == "deleted" else None
    return console.page(
        "agents.html",
        status=status,
        tasks=page.items,
        total=page.total,
        status_text=STATUS_TEXT,
        feedback=feedback,
        values=values,
        notice=notice,
        limits={"name": NAME_MAX, "instructions": INSTRUCTIONS_MAX, "model": MODEL_MAX},
    )


@router.get("/agents")
def agent_tasks(console: ConsoleDep) -> Response:
    return _list_page(console)


@router.post("/agents")
async def create(console: ConsoleDep) -> Response:
    form = await console.request.form()
    return await run_in_threadpool(_create, console, form)


def _create(console: Console, form: FormData) -> Response:
    """A task and the steps of the form's slots that were filled in (an empty slot is not a
    step); at least one step. Every error at its field, nothing created."""
    name = _text(form, "name")
    slots = [_step_values(form, f"steps-{i}-") for i in range(NEW_STEP_SLOTS)]
    values = {"name": name, "steps": slots}
    errors = _nul_errors({"name": name})
    steps: list[dict[str, Any]] = []
    for i, slot in enumerate(slots):
        prefix = f"steps-{i}-"
        if not any(slot[n].strip() for n in STEP_FIELDS):
            continue
        slot_errors = _nul_errors(slot, prefix)
        if not slot_errors:
            try:
                agents.StepIn.model_validate(_step_body(slot))
            except ValidationError as error:
                slot_errors = _pydantic_errors(error, prefix)
        errors.update(slot_errors)
        steps.append(_step_body(slot))
    if not steps:
        errors.setdefault("steps-0-step_name", "Give the task at least one step.")
    if not errors:
        try:
            body = agents.TaskCreate.model_validate({"name": name, "steps": steps})
        except ValidationError as error:
            errors.update(_pydantic_errors(error))
    if errors:
        return _list_page(console, Feedback("create", values, errors), status=422)
    with console.transaction() as conn:
        task = agents.create_task(conn, body)
    return _to_task(task.id, "created")


# -- a task's page ----------------------------------------------------------------------------


def _waiting(task: AgentTask) -> agents.Step | None:
    """The step a paused or failed run waits on (the service's `next_step`)."""
    if task.status not in (TaskStatus.AWAITING_APPROVAL, TaskStatus.FAILED):
        return None
    return next(
        (s for s in task.steps if s.status in (StepStatus.PENDING, StepStatus.FAILED)), None
    )


def _current(task: AgentTask) -> agents.Step | None:
    """The step a live run is on: the running one, or the next one queued."""
    for wanted in (StepStatus.RUNNING, StepStatus.PENDING):
        found = next((s for s in task.steps if s.status is wanted), None)
        if found is not None:
            return found
    return None


def _orders(task: AgentTask) -> dict[UUID, dict[str, list[UUID]]]:
    """Per step, the whole order its Move up and Move down buttons post."""
    ids = [s.id for s in task.steps]
    moves: dict[UUID, dict[str, list[UUID]]] = {}
    for i, step_id in enumerate(ids):
        moves[step_id] = {}
        if i > 0:
            up = list(ids)
            up[i - 1], up[i] = up[i], up[i - 1]
            moves[step_id]["up"] = up
        if i < len(ids) - 1:
            down = list(ids)
            down[i], down[i + 1] = down[i + 1], down[i]
            moves[step_id]["down"] = down
    return moves


def fingerprint(task: AgentTask) -> str:
    """What the progress poll compares: the run's state and every step's."""
    parts = [task.status.value] + [f"{s.id}:{s.status.value}:{s.retry_count}" for s in task.steps]
    return sha256("|".join(parts).encode()).hexdigest()[:16]


def _task_page(
    console: Console, task_id: UUID, feedback: Feedback | None = None, status: int = 200
) -> HTMLResponse:
    with console.transaction() as conn:
        task = _own(conn, console, task_id)
    done = console.request.query_params.get("done")
    return console.page(
        "agent.html",
        status=status,
        task=task,
        status_text=STATUS_TEXT,
        waiting=_waiting(task),
        current=_current(task),
        busy=task.status in (TaskStatus.RUNNING, TaskStatus.AWAITING_APPROVAL),
        live=task.status is TaskStatus.RUNNING,
        seen=fingerprint(task),
        orders=_orders(task),
        latest_output=next((s.id for s in reversed(task.steps) if s.execution_result), None),
        feedback=feedback or Feedback(),
        announcement=DONE.get(done or "", "") if feedback is None else "",
        can_add=len(task.steps) < STEPS_MAX,
        limits={"name": NAME_MAX, "instructions": INSTRUCTIONS_MAX, "model": MODEL_MAX},
    )


@router.get("/agents/{task_id}")
def agent_task(console: ConsoleDep, task_id: str) -> HTMLResponse:
    return _task_page(console, _id(task_id))


@router.get("/agents/{task_id}/progress")
def progress(console: ConsoleDep, task_id: str) -> Response:
    """Polled every second while a run is under way: an unchanged run answers 204 (nothing
    swapped, nothing announced), a changed one the whole page. Without htmx: the page."""
    found = _id(task_id)
    if not is_partial(console.request):
        return RedirectResponse(f"/agents/{found}", status_code=303)
    with console.transaction() as conn:
        task = _own(conn, console, found)
    if console.request.query_params.get("seen") == fingerprint(task):
        return Response(status_code=204)
    response = _task_page(console, found)
    response.headers["HX-Retarget"] = "#main"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def _to_task(task_id: UUID, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(
        f"/agents/{task_id}?{urlencode({'done': done})}{anchor}", status_code=303
    )


def _refused(console: Console, task_id: UUID, form: str, error: ConflictError) -> Response:
    return _task_page(console, task_id, Feedback(form, problem=_sentence(error.message)), 409)


# -- the steps --------------------------------------------------------------------------------


@router.post("/agents/{task_id}/steps")
async def add_step(console: ConsoleDep, task_id: str) -> Response:
    form = await console.request.form()
    return await run_in_threadpool(_add_step, console, _id(task_id), form)


def _add_step(console: Console, task_id: UUID, form: FormData) -> Response:
    values = _step_values(form)
    position = _text(form, "position").strip()
    values["position"] = position
    errors = _nul_errors(values)
    body: agents.StepIn | None = None
    if not errors:
        try:
            body = agents.StepIn.model_validate(
                {**_step_body(values), "position": int(position) if position else None}
            )
        except ValueError as error:  # a ValidationError, or a position that is not a number
            errors = (
                _pydantic_errors(error)
                if isinstance(error, ValidationError)
                else {"position": "Enter a number, or leave it empty to add the step last."}
            )
    if body is None:
        return _task_page(console, task_id, Feedback("add", values, errors), 422)
    try:
        with console.transaction() as conn:
            _own(conn, console, task_id)
            agents.add_step(conn, task_id, body)
    except InvalidInputError as error:
        name = "position" if error.field == "position" else "step_name"
        problem = Feedback("add", values, {name: _sentence(error.reason)})
        return _task_page(console, task_id, problem, 422)
    except ConflictError as error:
        return _refused(console, task_id, "add", error)
    return _to_task(task_id, "added", "#steps")


@router.post("/agents/{task_id}/steps/{step_id}")
async def edit_step(console: ConsoleDep, task_id: str, step_id: str) -> Response:
    form = await console.request.form()
    return await run_in_threadpool(_edit_step, console, _id(task_id), _id(step_id), form)


def _edit_step(console: Console, task_id: UUID, step_id: UUID, form: FormData) -> Response:
    """Name, instructions, model and the two switches, all at once (an empty model: none)."""
    values = _step_values(form)
    errors = _nul_errors(values)
    key = f"step-{step_id}"
    body: agents.StepUpdate | None = None
    if not errors:
        try:
            body = agents.StepUpdate.model_validate(_step_body(values))
        except ValidationError as error:
            errors = _pydantic_errors(error)
    if body is None:
        with console.transaction() as conn:  # a step of another task is as missing as none
            if not any(s.id == step_id for s in _own(conn, console, task_id).steps):
                raise agents.StepNotFound(step_id)
        return _task_page(console, task_id, Feedback(key, values, errors), 422)
    try:
        with console.transaction() as conn:
            _own(conn, console, task_id)
            agents.update_step(conn, task_id, step_id, body)
    except ConflictError as error:
        return _refused(console, task_id, key, error)
    return _to_task(task_id, "saved", f"#{key}")


@router.post("/agents/{task_id}/steps/{step_id}/delete")
def delete_step(console: ConsoleDep, task_id: str, step_id: str) -> Response:
    found, step = _id(task_id), _id(step_id)
    try:
        with console.transaction() as conn:
            _own(conn, console, found)
            agents.delete_step(conn, found, step)
    except InvalidInputError as error:
        feedback = Feedback(f"step-{step}", problem=_sentence(error.reason))
        return _task_page(console, found, feedback, 422)
    except ConflictError as error:
        return _refused(console, found, f"step-{step}", error)
    return _to_task(found, "deleted-step", "#steps")


@router.post("/agents/{task_id}/order")
async def reorder(console: ConsoleDep, task_id: str) -> Response:
    form = await console.request.form()
    given = [v for v in form.getlist("step_ids") if isinstance(v, str)]
    return await run_in_threadpool(_reorder, console, _id(task_id), given)


def _reorder(console: Console, task_id: UUID, given: list[str]) -> Response:
    """Every step of the task, each once, in the new order; anything else changes nothing."""
    try:
        body = agents.Reorder.model_validate({"step_ids": given})
    except ValidationError:
        problem = "The new order must name every step of the task exactly once: nothing changed."
        return _task_page(console, task_id, Feedback("order", problem=problem), 422)
    try:
        with console.transaction() as conn:
            _own(conn, console, task_id)
            agents.reorder_steps(conn, task_id, body)
    except InvalidInputError as error:
        problem = _sentence(f"nothing changed: the order {error.reason}")
        return _task_page(console, task_id, Feedback("order", problem=problem), 422)
    except ConflictError as error:
        return _refused(console, task_id, "order", error)
    return _to_task(task_id, "reordered", "#steps")


# -- runs -------------------------------------------------------------------------------------


def _steer(
    console: Console,
    task_id: UUID,
    done: str,
    action: Any,
    *args: UUID,
) -> Response:
    try:
        with console.transaction() as conn:
            _own(conn, console, task_id)
            action(conn, task_id, *args)
    except ConflictError as error:
        return _refused(console, task_id, "run", error)
    return _to_task(task_id, done, "#run")


@router.post("/agents/{task_id}/run")
def run(console: ConsoleDep, task_id: str) -> Response:
    return _steer(console, _id(task_id), "run", agents.run_task)


@router.post("/agents/{task_id}/resume")
def resume(console: ConsoleDep, task_id: str) -> Response:
    return _steer(console, _id(task_id), "resumed", agents.resume_task)


@router.post("/agents/{task_id}/cancel")
def cancel(console: ConsoleDep, task_id: str) -> Response:
    return _steer(console, _id(task_id), "cancelled", agents.cancel_task)


@router.post("/agents/{task_id}/steps/{step_id}/approve")
def approve(console: ConsoleDep, task_id: str, step_id: str) -> Response:
    return _steer(console, _id(task_id), "approved", agents.approve_step, _id(step_id))


@router.post("/agents/{task_id}/steps/{step_id}/skip")
def skip(console: ConsoleDep, task_id: str, step_id: str) -> Response:
    return _steer(console, _id(task_id), "skipped", agents.skip_step, _id(step_id))


@router.post("/agents/{task_id}/delete")
def delete(console: ConsoleDep, task_id: str) -> Response:
    found = _id(task_id)
    with console.transaction() as conn:
        _own(conn, console, found)
        agents.delete_task(conn, found)
    return RedirectResponse("/agents?done=deleted", status_code=303)
