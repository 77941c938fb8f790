"""The step chat in task mode (`/executions/{id}`): the current step's branches as buttons, a
free-text box, the LLM and RAG threads with their answers streamed, sources, charts and tables,
and ending a thread.

Every write goes through `renewflow.chat`, with the rules the API applies: a fixed branch answers
and moves the step, a saved action runs (a skip with its reason) and returns, free text is matched
to a branch's prompts, else goes to the step's off-script `llm`/`rag` branch. A branch run is
idempotent under the key its form carries, so a double click or a reload runs it once. Answers
stream as Server-Sent Events on the console's cookie session (the CSRF token in a header); without
JavaScript the same forms post plainly and the page shows the stored answer.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from renewflow import chat, engine
from renewflow.api import sse
from renewflow.chat.branches import branches_of, normalized
from renewflow.console.render import is_partial
from renewflow.console.views import executions as task_mode
from renewflow.console.web import Console, ConsoleDep, ConsoleRoute
from renewflow.db import Connection, load_queries
from renewflow.engine import LoadedExecution
from renewflow.engine.errors import ExecutionConflict, StepRunning
from renewflow.engine.executions import require_current
from renewflow.engine.idempotency import fingerprint, once
from renewflow.errors import ConflictError, InvalidInputError, NotFoundError, RenewflowError
from renewflow.llm import LLMError
from renewflow.workflows.model import Step

log = logging.getLogger(__name__)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "chat.sql")
_ENGINE = load_queries("renewflow.engine")

# a branch run's idempotency key: the form's key (one per rendered page) and the branch
KEY_PREFIX = "console-chat:"
FORM_KEY = re.compile(r"^[0-9a-f]{32}$")
SHOWN_ROWS = 50  # rows of a tool's table shown in the conversation (the count says the rest)


# -- what the chat shows ------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _table(title: str, rows: list[Any]) -> dict[str, Any]:
    """Rows of dicts as a table: the columns in the order they first appear."""
    columns: list[str] = []
    for row in rows:
        if isinstance(row, Mapping):
            columns.extend(k for k in row if k not in columns)
    shown = [r for r in rows if isinstance(r, Mapping)][:SHOWN_ROWS]

    def numeric(column: str) -> bool:
        values = [r.get(column) for r in shown if r.get(column) is not None]
        return bool(values) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        )

    return {
        "title": title,
        "columns": [task_mode._label(str(c)) for c in columns],
        "numeric": [numeric(c) for c in columns],
        "rows": [[_cell(r.get(c)) for c in columns] for r in shown],
        "total": len(rows),
    }


def _tool_tables(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tables = []
    for call in calls:
        output = call["tool_output"] or {}
        if call["tool_name"] == "database_query" and call["success"] and "rows" in output:
            name = str(output.get("query") or "query")
            tables.append(_table(task_mode._label(name), list(output.get("rows") or [])))
    return tables


def _items(messages: list[dict[str, Any]], calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A thread's messages as the conversation shows them: text with its sources and the tables
    its tool calls returned, charts (drawn from the stored spec, with their numbers), tables."""
    calls_of: dict[UUID | None, list[dict[str, Any]]] = {}
    for call in calls:
        calls_of.setdefault(call["message_id"], []).append(call)
    items = []
    for m in messages:
        meta = m["metadata"] or {}
        item: dict[str, Any] = {
            "id": str(m["id"]),
            "role": m["role"],
            "type": m["message_type"],
            "content": m["content"],
            "created_at": m["created_at"],
        }
        if m["message_type"] == "chart":
            spec = meta.get("chartData") or {}
            labels = list(spec.get("labels") or [])
            series = list(spec.get("series") or [])
            item["chart"] = {
                "title": spec.get("title") or m["content"] or "Chart",
                "type": spec.get("type"),
                "labels": labels,
                "series": [s.get("name") for s in series],
                "rows": [
                    [label, *[_cell(s["data"][i]) for s in series]]
                    for i, label in enumerate(labels)
                ],
            }
        elif m["message_type"] == "table":
            rows = meta.get("rows") or []
            item["table"] = _table(m["content"] or "Table", rows if isinstance(rows, list) else [])
        own = calls_of.get(m["id"], [])
        item["sources"] = [s for s in meta.get("sources") or [] if isinstance(s, Mapping)]
        item["tables"] = _tool_tables(own)
        item["failed_tools"] = [c["tool_name"] for c in own if not c["success"]]
        items.append(item)
    return items


def _thread_view(
    conn: Connection, row: Mapping[str, Any], labels: Mapping[str, str]
) -> dict[str, Any]:
    branch = ((row["context_data"] or {}).get("branch") or {}).get("id")
    messages = chat.thread_messages(conn, row["id"])
    calls = chat.thread_tool_calls(conn, row["id"])
    return {
        "id": str(row["id"]),
        "type": row["thread_type"],
        "status": row["status"],
        "branch": branch,
        "label": labels.get(branch or "", "Conversation"),
        "return_to": row["return_to_step"],
        "started_at": row["started_at"],
        "messages": _items(messages, calls),
    }


def chat_panel(
    conn: Connection,
    execution: LoadedExecution,
    step: Step,
    *,
    thread_id: UUID | None = None,
) -> dict[str, Any]:
    """The current step's chat: its branches (with each saved action's kind), the thread shown
    (the one asked for, else the newest active one), the ended threads, and a fresh form key."""
    branches = branches_of(conn, execution, step.id)
    actions = {a["action_id"]: a for a in chat.list_actions(conn)} if branches else {}
    labels = {b["branch_id"]: b["branch_label"] for b in branches}
    threads = conn.execute(
        _Q["step_threads"], {"execution_id": execution.id, "step_id": step.id}
    ).fetchall()
    active = [t for t in threads if t["status"] == "active"]
    shown = next((t for t in active if t["id"] == thread_id), active[-1] if active else None)
    open_of = {}
    for t in active:
        branch = ((t["context_data"] or {}).get("branch") or {}).get("id")
        if branch:
            open_of[branch] = str(t["id"])
    views = []
    for b in branches:
        action = (
            actions.get(b["saved_action_id"] or "") if b["branch_type"] == "saved_action" else None
        )
        views.append(
            {
                "id": b["branch_id"],
                "label": b["branch_label"],
                "type": b["branch_type"],
                "prompts": list(b["user_prompts"] or []),
                "action_type": action["action_type"] if action else None,
                "action_name": action["action_name"] if action else None,
                "needs_reason": bool(action and action["action_type"] == "skip"),
                "thread": open_of.get(b["branch_id"]),
            }
        )
    return {
        "branches": views,
        "scripted": [v for v in views if v["type"] in ("fixed", "saved_action")],
        "conversational": [v for v in views if v["type"] in ("llm", "rag")],
        "off_script": any(
            b["branch_type"] in ("llm", "rag") and b["allow_off_script"] for b in branches
        ),
        "prompts": sorted({p for v in views for p in v["prompts"]}),
        "thread": _thread_view(conn, shown, labels) if shown is not None else None,
        "ended": [_thread_view(conn, t, labels) for t in threads if t["status"] != "active"],
        "key": uuid.uuid4().hex,
    }


def exchange_of(
    conn: Connection, execution_id: UUID, value: str | None, thread: str | None
) -> dict[str, Any] | None:
    """What a plain (JavaScript-less) branch run or thread end answered, read back for the page
    it redirected to: the stored answer of the branch run's key, or the ended thread."""
    if value and len(value) <= 200:
        row = conn.execute(_ENGINE["get_idempotency_key"], {"key": KEY_PREFIX + value}).fetchone()
        answer = row["response"] if row else None
        if isinstance(answer, dict) and answer.get("executionId") == str(execution_id):
            return answer
    if thread:
        try:
            found = chat.get_thread(conn, UUID(thread))
        except (ValueError, NotFoundError):
            return None
        if found["workflow_execution_id"] == execution_id and found["status"] != "active":
            return _ended(found["status"], found["return_to_step"], found["thread_type"])
    return None


def _ended(status: str, returned: str | None, thread_type: str) -> dict[str, Any]:
    return {
        "ended": status,
        "returnedToStep": returned if status == "completed" else None,
        "threadType": thread_type,
    }


def exchange_view(answer: Mapping[str, Any], step_names: Mapping[str, str]) -> dict[str, Any]:
    """An answer (a branch run's, or a thread's end) as the conversation shows it."""

    def name(step_id: str | None) -> str | None:
        return step_names.get(step_id, step_id) if step_id else None

    if "ended" in answer:
        what = "completed" if answer["ended"] == "completed" else "abandoned"
        return {
            "kind": "ended",
            "said": None,
            "reply": f"The conversation was {what}.",
            "moved": (
                f"The execution returned to {name(answer['returnedToStep'])}."
                if answer.get("returnedToStep")
                else None
            ),
        }
    branch = answer.get("branch") or {}
    said = answer.get("said") or branch.get("label")
    if branch.get("type") == "fixed":
        following = answer.get("nextStep")
        return {
            "kind": "fixed",
            "said": said,
            "reply": answer.get("responseText"),
            "moved": (
                f"{name(answer.get('stepId'))} is done; next: {name(following)}."
                if following
                else f"{name(answer.get('stepId'))} is done: that was the last step, "
                "the execution is complete."
            ),
        }
    result = answer.get("result") or {}
    returned = answer.get("returnedToStep")
    return {
        "kind": "action",
        "said": said,
        "reply": result.get("summary"),
        "moved": f"The execution returned to {name(returned)}." if returned else None,
    }


# -- the routes ---------------------------------------------------------------------------------


def _form_key(value: Any) -> str:
    return value if isinstance(value, str) and FORM_KEY.match(value) else uuid.uuid4().hex


def _refused(
    console: Console,
    execution_id: UUID,
    error: RenewflowError,
    feedback: task_mode.Feedback,
    **options: Any,
) -> Response:
    """A refused chat request, next to the chat (a state conflict above the page, as task mode
    shows them), with the plain form's real status."""
    if isinstance(error, ConflictError):
        feedback.conflict = error.message
        if isinstance(error, StepRunning):
            feedback.conflict_run = error.details.get("runId")
        return task_mode._page_of(
            console, execution_id, status=409, feedback=feedback, focus="feedback", **options
        )
    feedback.chat_error = error.reason if isinstance(error, InvalidInputError) else error.message
    return task_mode._page_of(
        console, execution_id, status=422, feedback=feedback, focus="chat", **options
    )


def _answered(console: Console, execution_id: UUID, answer: dict[str, Any], key: str) -> Response:
    if not is_partial(console.request):
        query = urlencode({"chat": key})
        return RedirectResponse(f"/executions/{execution_id}?{query}#chat-exchange", 303)
    return task_mode._page_of(console, execution_id, exchange=answer, focus="exchange")


def _run_once(
    conn: Connection,
    console: Console,
    execution_id: UUID,
    branch_id: str,
    *,
    step_id: str | None,
    reason: str | None,
    key: str,
    said: str | None = None,
) -> dict[str, Any]:
    """Runs the branch as the API does, once under the form's key; the answer as stored."""

    def run() -> tuple[int, dict[str, Any]]:
        thread = _thread_of_branch(conn, execution_id, branch_id, step_id)
        if thread is not None:  # the branch's conversation is open: shown again, not doubled
            return 200, {"threadId": str(thread), "executionId": str(execution_id)}
        ran = chat.run_branch(
            conn,
            execution_id,
            branch_id,
            step_id=step_id,
            reason=reason,
            actor_user_id=console.user.user_id,
            actor_role=console.user.role.value,
            dedupe=KEY_PREFIX + key,
        )
        return 200, {**ran, "executionId": str(execution_id), "said": said}

    _, answer = once(
        conn,
        KEY_PREFIX + key,
        fingerprint("console-chat", str(execution_id), branch_id, step_id, reason, said),
        run,
    )
    return answer


@router.post("/executions/{execution_id}/chat/branches/{branch_id}")
async def run_branch(execution_id: str, branch_id: str, console: ConsoleDep) -> Response:
    form = await console.request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(
        _run_branch, console, task_mode._id(execution_id), branch_id[:100], values
    )


def _run_branch(
    console: Console, execution_id: UUID, branch_id: str, form: Mapping[str, str]
) -> Response:
    step_id = form.get("step_id") or None
    reason = (form.get("reason") or "").strip()[:2000] or None
    feedback = task_mode.Feedback(chat_branch=branch_id, chat_reason=form.get("reason") or "")
    key = f"{_form_key(form.get('key'))}:{branch_id}"
    try:
        with console.transaction() as conn:
            answer = _run_once(
                conn, console, execution_id, branch_id, step_id=step_id, reason=reason, key=key
            )
    except (ConflictError, InvalidInputError) as error:
        return _refused(console, execution_id, error, feedback)
    if "threadId" in answer:  # an llm or rag branch: its thread is open, the box posts to it
        thread = UUID(answer["threadId"])
        if not is_partial(console.request):
            query = urlencode({"thread": str(thread)})
            return RedirectResponse(f"/executions/{execution_id}?{query}#chat", 303)
        return task_mode._page_of(console, execution_id, thread_id=thread, focus="chat")
    return _answered(console, execution_id, answer, key)


def _thread_of_branch(
    conn: Connection, execution_id: UUID, branch_id: str, step_id: str | None
) -> UUID | None:
    """The active thread an llm or rag branch already has on the current step: its button
    shows that conversation again rather than opening a second one."""
    execution = engine.load_execution(conn, execution_id)
    current = _current_of(execution, step_id)
    branch = next(
        (b for b in branches_of(conn, execution, current) if b["branch_id"] == branch_id), None
    )
    if branch is None or branch["branch_type"] not in ("llm", "rag"):
        return None
    return _open_thread_of(conn, execution, current, None, branch)


def _prompted(branches: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """The branch whose prompts hold the text, case and punctuation aside (no off-script)."""
    wanted = normalized(text)
    for branch in branches:
        if any(normalized(p) == wanted for p in branch["user_prompts"] or []):
            return branch
    return None


def _current_of(execution: LoadedExecution, step_id: str | None) -> str:
    if step_id is not None:
        require_current(execution, step_id)
    current = execution.row["current_step_id"]
    if execution.row["status"] != "active" or current is None:
        raise ExecutionConflict(f"this execution is {execution.row['status']}: it has no chat")
    return str(current)


@router.post("/executions/{execution_id}/chat/messages")
async def post_text(execution_id: str, console: ConsoleDep) -> Response:
    form = await console.request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_post_text, console, task_mode._id(execution_id), values)


def _post_text(console: Console, execution_id: UUID, form: Mapping[str, str]) -> Response:
    """Free text: a branch whose prompts it matches runs (an llm or rag one answers it in its
    thread); else the thread shown takes it; else the step's off-script branch opens one."""
    text = form.get("text") or ""
    step_id = form.get("step_id") or None
    feedback = task_mode.Feedback(chat_text=text)
    wanted: UUID | None = None
    with_thread: dict[str, Any] = {}
    try:
        wanted = UUID(form["thread"]) if form.get("thread") else None
    except ValueError:
        wanted = None
    if wanted is not None:
        with_thread["thread_id"] = wanted
    answer: dict[str, Any] | None = None
    key = ""
    try:
        content = chat.check_message(text, "text")
        with console.transaction() as conn:
            execution = engine.load_execution(conn, execution_id)
            current = _current_of(execution, step_id)
            branches = branches_of(conn, execution, current)
            branch = _prompted(branches, content)
            thread = None
            if branch is not None and branch["branch_type"] in ("fixed", "saved_action"):
                key = f"{_form_key(form.get('key'))}:{branch['branch_id']}"
                answer = _run_once(
                    conn,
                    console,
                    execution_id,
                    branch["branch_id"],
                    step_id=current,
                    reason=None,
                    key=key,
                    said=content,
                )
            else:
                thread = _open_thread_of(conn, execution, current, wanted, branch)
            if answer is None and thread is None:
                branch = chat.route_free_text(conn, execution_id, content, step_id=current)
                ran = chat.run_branch(
                    conn,
                    execution_id,
                    branch["branch_id"],
                    step_id=current,
                    actor_user_id=console.user.user_id,
                    actor_role=console.user.role.value,
                    dedupe=chat.threads.new_dedupe(),
                )
                thread = UUID(ran["threadId"])
    except (ConflictError, InvalidInputError) as error:
        if isinstance(error, chat.NoBranchMatched):
            error = InvalidInputError(
                "text", "no branch of this step answers that, and it takes no other questions"
            )
        return _refused(console, execution_id, error, feedback, **with_thread)
    if answer is not None:
        return _answered(console, execution_id, answer, key)
    assert thread is not None
    if "text/event-stream" in console.request.headers.get("accept", "").lower():
        return _stream(console, execution_id, thread, content)
    try:
        chat.post_message(
            console.transaction,
            thread,
            content,
            llm_clients=console.request.app.state.llm_clients,
        )
    except LLMError as error:
        feedback.chat_error = f"The model did not answer: {error}. Your question is kept."
        feedback.chat_text = ""
        return task_mode._page_of(
            console, execution_id, status=502, feedback=feedback, focus="chat", thread_id=thread
        )
    except ConflictError as error:
        return _refused(console, execution_id, error, feedback, thread_id=thread)
    if not is_partial(console.request):
        query = urlencode({"thread": str(thread)})
        return RedirectResponse(f"/executions/{execution_id}?{query}#chat-last", 303)
    return task_mode._page_of(console, execution_id, thread_id=thread, focus="chat-last")


def _open_thread_of(
    conn: Connection,
    execution: LoadedExecution,
    step_id: str,
    wanted: UUID | None,
    branch: Mapping[str, Any] | None,
) -> UUID | None:
    """The active thread of the step that takes the text: the one shown (unless the text named
    another conversational branch), else the newest active one of the branch it named."""
    threads = conn.execute(
        _Q["step_threads"], {"execution_id": execution.id, "step_id": step_id}
    ).fetchall()
    active = [t for t in threads if t["status"] == "active"]

    def branch_of(t: Mapping[str, Any]) -> str | None:
        found: str | None = ((t["context_data"] or {}).get("branch") or {}).get("id")
        return found

    if branch is not None:
        own = [t for t in active if branch_of(t) == branch["branch_id"]]
        if own:
            found: UUID = own[-1]["id"]
            return found
        return None
    shown = next((t for t in active if t["id"] == wanted), active[-1] if active else None)
    return shown["id"] if shown is not None else None


def _stream(console: Console, execution_id: UUID, thread_id: UUID, content: str) -> Response:
    """The answer as Server-Sent Events: `delta` events as the model writes, then `message`
    (the stored message's id, and the page to show it on) or `error`. The call runs in its own
    thread: a reader that goes away loses nothing, the answer is stored once, whole."""
    events: sse.Events = queue.Queue()
    clients = console.request.app.state.llm_clients
    page = f"/executions/{execution_id}?" + urlencode({"thread": str(thread_id)})

    def work() -> None:
        try:
            answer = chat.post_message(
                console.transaction,
                thread_id,
                content,
                llm_clients=clients,
                on_delta=lambda text: events.put(("delta", {"text": text})),
            )
            events.put(
                (
                    "message",
                    {
                        "threadId": str(thread_id),
                        "messageId": str(answer.message["id"]),
                        "sources": len(answer.sources),
                        "charts": len(answer.charts),
                        "page": page,
                    },
                )
            )
        except LLMError as error:
            events.put(("error", {"detail": f"The model did not answer: {error}", "page": page}))
        except RenewflowError as error:
            events.put(("error", {"detail": error.message, "page": page}))
        except Exception:
            log.exception("console chat answer failed")
            events.put(("error", {"detail": "The answer failed. Try again shortly.", "page": page}))
        finally:
            events.put(None)

    threading.Thread(target=work, name=f"console-chat-{thread_id}", daemon=True).start()

    return sse.from_queue(events)


@router.post("/executions/{execution_id}/chat/threads/{thread_id}/end")
async def end_thread(execution_id: str, thread_id: str, console: ConsoleDep) -> Response:
    form = await console.request.form()
    status = form.get("status")
    return await run_in_threadpool(
        _end_thread,
        console,
        task_mode._id(execution_id),
        task_mode._id(thread_id),
        status if isinstance(status, str) else "",
    )


def _end_thread(console: Console, execution_id: UUID, thread_id: UUID, status: str) -> Response:
    feedback = task_mode.Feedback()
    try:
        with console.transaction() as conn:
            thread = chat.get_thread(conn, thread_id)
            if thread["workflow_execution_id"] != execution_id:
                raise NotFoundError("not found")
            if status not in ("completed", "abandoned"):
                raise InvalidInputError("status", "end a conversation as completed or abandoned")
            ended = chat.end_thread(conn, thread_id, status)
    except (ConflictError, InvalidInputError) as error:
        return _refused(console, execution_id, error, feedback, thread_id=thread_id)
    if not is_partial(console.request):
        query = urlencode({"ended": str(thread_id)})
        return RedirectResponse(f"/executions/{execution_id}?{query}#chat-exchange", 303)
    answer = _ended(status, ended["returnedToStep"], thread["thread_type"])
    return task_mode._page_of(console, execution_id, exchange=answer, focus="exchange")


@router.get("/executions/{execution_id}/chat/charts/{message_id}.svg")
def chart(execution_id: str, message_id: str, console: ConsoleDep) -> Response:
    """A chart of the execution's conversations, drawn as SVG from its stored spec."""
    eid, mid = task_mode._id(execution_id), task_mode._id(message_id)
    with console.transaction() as conn:
        row = conn.execute(
            _Q["execution_chart"], {"execution_id": eid, "message_id": mid}
        ).fetchone()
    if row is None or not isinstance((row["metadata"] or {}).get("chartData"), dict):
        raise NotFoundError("not found")
    return Response(
        chat.chart_svg(row["metadata"]["chartData"]),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=3600"},
    )
