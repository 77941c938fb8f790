"""The action plan: an inbox of tasks by bucket (overdue, today, upcoming, snoozed, done), a
task's page, and the actions on a task — complete, snooze, skip, reopen, run an AI task now.

Every action is a POST form that works without JavaScript (303 back to the page it came from,
naming the result) and is enhanced by htmx (the task's row or panel swapped in place, the result
announced in the page's live region). The rules are renewflow.tasks': this module turns form
fields into the domain's arguments, and the domain's errors into fields of the form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from renewflow import tasks
from renewflow.accounts import Role
from renewflow.console.render import format_datetime, is_partial
from renewflow.console.web import Console, ConsoleDep, ConsoleRoute
from renewflow.db import Connection, load_queries
from renewflow.errors import ConflictError, InvalidInputError, PermissionDeniedError
from renewflow.limits import TEXT
from renewflow.tasks import DecisionRequired, Task, TaskNotFound

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "tasks.sql")

BUCKETS = (
    ("overdue", "Overdue"),
    ("today", "Due today"),
    ("upcoming", "Upcoming"),
    ("snoozed", "Snoozed"),
    ("done", "Done recently"),
)
PER_BUCKET = 100
TYPES = {"ai": "AI_TASK", "csm": "CSM_TASK"}
SCOPES = ("mine", "all")
CLOSED = frozenset({"completed", "skipped", "cancelled"})
# Running a processor on demand acts outside renewflow (a CRM, a webhook): the API's rule.
EXECUTORS = (Role.ADMIN, Role.MANAGER, Role.SERVICE)
SKIP_REASON_MAX = TEXT["workflow_tasks.skip_reason"]
# the domain's field names -> the form's
FORM_FIELDS = {"body.until": "until", "body.reason": "reason"}
RESULTS = {
    "completed": "Completed “{action}”.",
    "snoozed": "Snoozed “{action}” until {until}.",
    "skipped": "Skipped “{action}”.",
    "reopened": "Reopened “{action}”.",
    "queued": "Queued “{action}” to run now: a worker picks it up in a moment.",
}

FormField = Annotated[str, Form()]

# What the templates of a task expect when no form was sent back (see _render_in_place).
_FORM_DEFAULTS: dict[str, Any] = {
    "errors": {},
    "values": {},
    "opened": None,
    "focus": None,
    "problem": None,
    "announcement": "",
}


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones this host knows: the snooze form's choices, and what it accepts."""
    return tuple(sorted(available_timezones()))


def _task_id(raw: str) -> UUID:
    """A malformed id is a missing task, exactly like another tenant's."""
    try:
        return UUID(raw)
    except ValueError:
        raise TaskNotFound(raw) from None


# -- the inbox --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    """The inbox's state, as the URL carries it. Values that make no sense, or that the role may
    not ask for (a CSM asking for everyone's tasks), are dropped and said so."""

    scope: str
    customer: UUID | None = None
    kind: str | None = None
    manages: bool = False

    @classmethod
    def from_request(cls, request: Request, role: Role) -> tuple[InboxFilters, list[str]]:
        query = request.query_params
        manages = role is not Role.CSM
        ignored: list[str] = []
        default = "all" if manages else "mine"
        scope = query.get("scope") or default
        if scope not in SCOPES or (not manages and scope != "mine"):
            ignored.append("scope")
            scope = default
        customer = None
        if query.get("customer"):
            try:
                customer = UUID(query["customer"])
            except ValueError:
                ignored.append("customer")
        kind = query.get("type") or None
        if kind is not None and kind not in TYPES:
            ignored.append("type")
            kind = None
        return cls(scope, customer, kind, manages), ignored

    @property
    def mine(self) -> bool:
        return self.scope == "mine"

    def url(self) -> str:
        values = {
            "scope": self.scope if self.manages and self.scope != "all" else None,
            "customer": str(self.customer) if self.customer else None,
            "type": self.kind,
        }
        kept = {k: v for k, v in values.items() if v}
        return f"/tasks?{urlencode(kept)}" if kept else "/tasks"


def _window(conn: Connection) -> tuple[datetime, timedelta]:
    row = conn.execute(_Q["now"]).fetchone()
    assert row is not None
    return row["now"], tasks.snooze_deadline_after(conn)


def _default_until(now: datetime, deadline: datetime, tz: str) -> str:
    """The snooze form's suggestion: tomorrow 09:00 on the user's clock, if the deadline allows."""
    local = now.astimezone(ZoneInfo(tz))
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(9), ZoneInfo(tz))
    return tomorrow.strftime("%Y-%m-%dT%H:%M") if now < tomorrow <= deadline else ""


def _decorate(row: dict[str, Any], now: datetime, window: timedelta, tz: str) -> dict[str, Any]:
    """What the action forms show about a snooze: the deadline (the first snooze sets it, this
    hint shows what it would be) and a suggested time."""
    deadline = row["snooze_deadline"] or now + window
    return {**row, "deadline": deadline, "default_until": _default_until(now, deadline, tz)}


def _inbox_rows(
    conn: Connection, console: Console, filters: InboxFilters, task_id: UUID | None = None
) -> list[dict[str, Any]]:
    tasks.wake_snoozed(conn)  # every read of the action plan first wakes the tenant's due tasks
    rows = conn.execute(
        _Q["inbox"],
        {
            "mine": filters.mine,
            "user_id": console.user.user_id,
            "customer_id": filters.customer,
            "task_type": TYPES[filters.kind] if filters.kind else None,
            "task_id": task_id,
            "per_bucket": PER_BUCKET,
        },
    ).fetchall()
    now, window = _window(conn)
    return [_decorate(row, now, window, console.time_zone) for row in rows]


@router.get("/tasks")
def inbox(console: ConsoleDep) -> HTMLResponse:
    filters, ignored = InboxFilters.from_request(console.request, console.user.role)
    with console.transaction() as conn:
        rows = _inbox_rows(conn, console, filters)
        customers = conn.execute(
            _Q["inbox_customers"], {"mine": filters.mine, "user_id": console.user.user_id}
        ).fetchall()
    grouped: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in BUCKETS}
    totals = dict.fromkeys(grouped, 0)
    for row in rows:
        grouped[row["bucket"]].append(row)
        totals[row["bucket"]] = row["bucket_total"]
    here = filters.url()
    return console.page(
        "tasks.html",
        **{
            **_FORM_DEFAULTS,
            "buckets": [(key, label, grouped[key], totals[key]) for key, label in BUCKETS],
            "filters": filters,
            "ignored": ignored,
            "customers": customers,
            "here": here,
            "next": here,
            "announcement": _announcement_from_query(console, rows),
            "zones": time_zones(),
            "empty_book": not rows,
        },
    )


def _announcement_from_query(console: Console, rows: list[dict[str, Any]]) -> str:
    """After a form's 303, the page says what was done (the URL names the result and the task;
    the text comes from the task itself, never from the URL)."""
    query = console.request.query_params
    result, task = query.get("result"), query.get("task")
    if result not in RESULTS or not task:
        return ""
    found = next((r for r in rows if str(r["id"]) == task), None)
    if found is None:
        return ""
    return _announcement(result, found, console.time_zone)


def _announcement(result: str, task: Any, tz: str) -> str:
    get = task.get if isinstance(task, dict) else lambda name: getattr(task, name)
    until = get("snoozed_until")
    return RESULTS[result].format(
        action=get("action"), until=f"{format_datetime(until, tz)} ({tz})" if until else "—"
    )


# -- a task's page ----------------------------------------------------------------------------


def _require_in_book(conn: Connection, console: Console, task_id: UUID) -> None:
    """Another tenant's task, or none: 404. A CSM works their own book (tasks assigned to them
    or of customers they own); a task outside it: 403. Checked again on every action."""
    scope = conn.execute(
        _Q["task_scope"], {"task_id": task_id, "user_id": console.user.user_id}
    ).fetchone()
    if scope is None:
        raise TaskNotFound(task_id)
    if console.user.role is Role.CSM and not scope["in_book"]:
        raise PermissionDeniedError(
            "this task is in another CSM's book: ask its owner or a manager to reassign it"
        )


def _subject(task: Task, deadline: datetime, default_until: str) -> dict[str, Any]:
    """The task as the action forms read it (the same keys as an inbox row)."""
    return {
        "id": task.id,
        "action": task.action,
        "status": task.status.value,
        "execution_status": task.execution_status.value if task.execution_status else None,
        "needs_decision": task.requires_decision and task.status.value not in CLOSED,
        "deadline": deadline,
        "default_until": default_until,
    }


def _progress(node: tasks.TaskNode) -> tuple[int, int]:
    done = sum(1 for child in node.children if child.status.value in CLOSED)
    return done, len(node.children)


def _task_view(conn: Connection, console: Console, task_id: UUID) -> dict[str, Any]:
    _require_in_book(conn, console, task_id)
    # the domain's read: it wakes due snoozes, and says when a decision is due
    tree = tasks.task_tree(conn, task_id)
    around = conn.execute(_Q["task_context"], {"task_id": task_id}).fetchone()
    if around is None:
        raise TaskNotFound(task_id)
    now, window = _window(conn)
    deadline = tree.snooze_deadline or now + window
    return {
        "task": tree,
        "around": around,
        "subject": _subject(tree, deadline, _default_until(now, deadline, console.time_zone)),
        "tally": _progress(tree),
        "children": [(child, _progress(child)) for child in tree.children],
        "can_execute": console.user.role in EXECUTORS,
        "zones": time_zones(),
    }


@router.get("/tasks/{task_id}")
def task_page(console: ConsoleDep, task_id: str) -> HTMLResponse:
    found = _task_id(task_id)
    with console.transaction() as conn:
        view = _task_view(conn, console, found)
    result = console.request.query_params.get("result")
    announcement = (
        _announcement(result, view["task"], console.time_zone) if result in RESULTS else ""
    )
    return console.page(
        "task.html",
        **{
            **_FORM_DEFAULTS,
            **view,
            "announcement": announcement,
            "focus": "status" if announcement else None,
            "next": f"/tasks/{found}",
        },
    )


# -- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionForm:
    """What every action form sends besides its own fields: where it was shown (`inbox` row or
    `task` page: what an htmx answer swaps) and the page to go back to without JavaScript."""

    action: str
    view: str
    next: str
    values: dict[str, str] = field(default_factory=dict)

    @property
    def row(self) -> bool:
        return self.view == "inbox"


def _safe_next(target: str, task_id: UUID) -> str:
    """Back to a console page of the action plan or a customer: never another site."""
    fallback = f"/tasks/{task_id}"
    if not target or "\\" in target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(("/tasks", "/customers/")):
        return fallback
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_result(target: str, result: str, task_id: UUID) -> str:
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("result", "task")]
    query += [("result", result), ("task", str(task_id))]
    return f"{parts.path}?{urlencode(query)}"


def _render_in_place(
    console: Console,
    task_id: UUID,
    form: ActionForm,
    *,
    status: int = 200,
    announcement: str = "",
    **context: Any,
) -> HTMLResponse:
    """The task again: its inbox row or panel for htmx (with the announcement swapped into the
    page's live region), or the whole task page."""
    with console.transaction() as conn:
        view = _task_view(conn, console, task_id)
        row = None
        if form.row and is_partial(console.request):
            rows = _inbox_rows(conn, console, InboxFilters("all", manages=True), task_id=task_id)
            row = rows[0] if rows else None
    errors = _phrased(context.pop("errors", {}), view["subject"]["deadline"], console.time_zone)
    values = {**_FORM_DEFAULTS, **view, **context, "errors": errors, "announcement": announcement}
    if is_partial(console.request):
        # htmx swaps only 2xx answers (its default responseHandling, which the console's shared
        # htmx config keeps), so an answer to swap in place is a 200 whatever it says.
        return console.page(
            "_task_result.html",
            view=form.view if row else "task",
            row=row,
            next=form.next,
            **values,
        )
    # without JavaScript the task page stands in for the row; its forms still lead back there
    return console.page(
        "task.html", status=status, **{**values, "next": _safe_next(form.next, task_id)}
    )


def _phrased(errors: dict[str, str], deadline: datetime, tz: str) -> dict[str, str]:
    """The domain's reasons as the form shows them: a sentence, the deadline on the user's
    clock rather than as an ISO instant."""
    phrased = {}
    for name, reason in errors.items():
        if name == "zone" and reason.startswith("must include a time zone"):
            text = "Choose the time zone of this date and time."
        elif reason.startswith("must not be after"):
            text = f"Must not be after the snooze deadline, {format_datetime(deadline, tz)} ({tz})."
        else:
            text = reason[:1].upper() + reason[1:]
            text = text if text.endswith(".") else text + "."
        phrased[name] = text
    return phrased


def _invalid(console: Console, task_id: UUID, form: ActionForm, errors: dict[str, str]) -> Response:
    first = next(iter(errors))
    return _render_in_place(
        console,
        task_id,
        form,
        status=422,
        errors=errors,
        values=form.values,
        opened=form.action,
        focus=first,
        announcement="Nothing was changed: check the form.",
    )


def _refused(console: Console, task_id: UUID, form: ActionForm, error: ConflictError) -> Response:
    if isinstance(error, DecisionRequired):
        message = "The snooze deadline has passed: complete or skip this task instead."
    else:
        message = error.message[:1].upper() + error.message[1:] + "."
    return _render_in_place(
        console,
        task_id,
        form,
        status=409,
        problem=message,
        focus="problem",
        announcement=f"Nothing was changed. {message}",
    )


def _done(console: Console, task: Task, form: ActionForm, result: str) -> Response:
    if not is_partial(console.request):
        target = _safe_next(form.next, task.id)
        return RedirectResponse(_with_result(target, result, task.id), status_code=303)
    return _render_in_place(
        console,
        task.id,
        form,
        announcement=_announcement(result, task, console.time_zone),
        focus="row" if form.row else "status",
    )


def _field_of(error: InvalidInputError) -> str:
    return FORM_FIELDS.get(error.field, "form")


def _act(
    console: Console,
    raw_id: str,
    form: ActionForm,
    result: str,
    action: Callable[[Connection, UUID], Task],
    *,
    field_of: Callable[[InvalidInputError], str] = _field_of,
) -> Response:
    task_id = _task_id(raw_id)
    try:
        with console.transaction() as conn:
            _require_in_book(conn, console, task_id)
            task = action(conn, task_id)
    except InvalidInputError as error:
        return _invalid(console, task_id, form, {field_of(error): error.reason})
    except ConflictError as error:
        return _refused(console, task_id, form, error)
    return _done(console, task, form, result)


@router.post("/tasks/{task_id}/complete")
def complete(
    console: ConsoleDep, task_id: str, view: FormField = "task", next: FormField = ""
) -> Response:
    return _act(
        console, task_id, ActionForm("complete", view, next), "completed", tasks.complete_task
    )


@router.post("/tasks/{task_id}/reopen")
def reopen(
    console: ConsoleDep, task_id: str, view: FormField = "task", next: FormField = ""
) -> Response:
    return _act(console, task_id, ActionForm("reopen", view, next), "reopened", tasks.reopen_task)


@router.post("/tasks/{task_id}/skip")
def skip(
    console: ConsoleDep,
    task_id: str,
    *,
    reason: FormField = "",
    view: FormField = "task",
    next: FormField = "",
) -> Response:
    form = ActionForm("skip", view, next, {"reason": reason})
    if len(reason) > SKIP_REASON_MAX:  # the API's input limit (renewflow.limits)
        found = _task_id(task_id)
        return _invalid(console, found, form, {"reason": f"at most {SKIP_REASON_MAX} characters"})
    return _act(
        console, task_id, form, "skipped", lambda conn, found: tasks.skip_task(conn, found, reason)
    )


def _parse_until(until: str, zone: str) -> tuple[datetime | None, dict[str, str]]:
    """The form's wall-clock date and time in the chosen zone (or an ISO instant with its offset,
    which then wins). Without a zone the value stays naive: the domain refuses it."""
    text = until.strip()
    if not text:
        return None, {"until": "enter the date and time the task comes back"}
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, {"until": "enter a date and time, like 2030-03-01 09:00"}
    zone = zone.strip()
    if value.tzinfo is None and zone:
        if zone not in time_zones():
            return None, {"zone": f"{zone!r} is not a time zone: pick one, like Europe/Paris"}
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value, {}


@router.post("/tasks/{task_id}/snooze")
def snooze(
    console: ConsoleDep,
    task_id: str,
    *,
    until: FormField = "",
    zone: FormField = "",
    view: FormField = "task",
    next: FormField = "",
) -> Response:
    form = ActionForm("snooze", view, next, {"until": until, "zone": zone})
    when, errors = _parse_until(until, zone)
    if when is None:
        return _invalid(console, _task_id(task_id), form, errors)
    naive = when.tzinfo is None

    def field_of(error: InvalidInputError) -> str:
        # a wall-clock time names no instant (the domain refuses it): what is missing is the zone
        return "zone" if naive and error.field == "body.until" else _field_of(error)

    return _act(
        console,
        task_id,
        form,
        "snoozed",
        lambda conn, found: tasks.snooze_task(conn, found, when),
        field_of=field_of,
    )


@router.post("/tasks/{task_id}/execute")
def execute(
    console: ConsoleDep, task_id: str, view: FormField = "task", next: FormField = ""
) -> Response:
    console.require(*EXECUTORS)
    return _act(console, task_id, ActionForm("execute", view, next), "queued", tasks.execute_task)
