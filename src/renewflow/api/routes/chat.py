"""The step chat: a step's branches, running one, free text, threads and their messages (JSON or
Server-Sent Events), and the saved actions."""

from __future__ import annotations

import queue
import threading
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from renewflow import chat
from renewflow.accounts import Role
from renewflow.api import sse
from renewflow.api.deps import SessionDep, TenantSession, require_role
from renewflow.api.problems import PROBLEM_JSON
from renewflow.engine.idempotency import MAX_KEY_LENGTH, fingerprint, once
from renewflow.errors import InvalidInputError, RenewflowError
from renewflow.limits import JsonObject
from renewflow.llm import LLMError

router = APIRouter(tags=["chat"])

_EXECUTION = "/api/workflows/executions/{execution_id}/chat"
_Writers = Depends(require_role(Role.ADMIN, Role.MANAGER))
StepId = Annotated[str | None, Field(default=None, max_length=100)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunBranchIn(_In):
    """`stepId` (optional) must be the current step, else 409; `reason` is a skip's."""

    stepId: StepId = None
    reason: Annotated[str | None, Field(default=None, max_length=2000)] = None


class FreeTextIn(_In):
    text: str = Field(description="What the CSM typed: matched to a branch, else off-script.")
    stepId: StepId = None


class MessageIn(_In):
    content: str = Field(description="The message: 1 to 8000 characters, no NUL.")


class EndIn(_In):
    status: Literal["completed", "abandoned"] = "completed"


class ActionIn(_In):
    action_id: Annotated[str, Field(min_length=1, max_length=100)]
    action_name: Annotated[str, Field(min_length=1, max_length=255)]
    action_type: Literal["snooze", "skip", "escalation", "script"]
    handler: Annotated[str | None, Field(default=None, max_length=255)] = None
    config: JsonObject = Field(default_factory=dict)
    available_globally: bool = True


class ActionPatch(_In):
    action_name: Annotated[str | None, Field(default=None, min_length=1, max_length=255)] = None
    handler: Annotated[str | None, Field(default=None, max_length=255)] = None
    config: JsonObject | None = None
    available_globally: bool | None = None


def _key(value: str | None) -> str | None:
    if value is not None and not (value.strip() and len(value) <= MAX_KEY_LENGTH):
        raise InvalidInputError("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    return value


def _action_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "actionId": row["action_id"],
        "actionName": row["action_name"],
        "actionType": row["action_type"],
        "handler": row["handler"],
        "config": row["config"] or {},
        "availableGlobally": row["available_globally"],
        "isCore": row["is_core"],
    }


@router.get(_EXECUTION + "/branches")
def list_branches(execution_id: UUID, session: SessionDep) -> dict[str, Any]:
    """The current step's branches: the workflow config's `chatBranches`, then table rows."""
    with session.transaction() as conn:
        step_id, rows = chat.list_branches(conn, execution_id)
    return {"stepId": step_id, "branches": [chat.branch_json(r) for r in rows]}


@router.post(_EXECUTION + "/branches/{branch_id}/run")
def run_branch(
    execution_id: UUID,
    branch_id: Annotated[str, Path(max_length=100)],
    session: SessionDep,
    body: RunBranchIn | None = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Run a branch of the current step: `fixed` answers and moves on; `saved_action` runs the
    action and returns to `returnToStep`; `llm` and `rag` open a thread (`threadId`). 409 when
    `stepId` is not the current step. A retry with the same `Idempotency-Key` gets the first
    answer, and the action runs once."""
    body = body or RunBranchIn()
    key = _key(idempotency_key)
    principal = session.principal
    with session.transaction() as conn:

        def run() -> tuple[int, dict[str, Any]]:
            return 200, chat.run_branch(
                conn,
                execution_id,
                branch_id,
                step_id=body.stepId,
                reason=body.reason,
                actor_user_id=principal.user_id,
                actor_role=principal.role.value,
                dedupe=key or chat.threads.new_dedupe(),
            )

        status, answer = once(
            conn,
            key,
            fingerprint("chat-branch", str(execution_id), branch_id, body.model_dump(mode="json")),
            run,
        )
    return JSONResponse(answer, status_code=status)


@router.post(
    _EXECUTION + "/messages",
    responses={200: {"content": {"text/event-stream": {}}}},
)
def free_text(
    execution_id: UUID, body: FreeTextIn, session: SessionDep, request: Request
) -> Response:
    """Free text typed into the step's chat: a branch whose `userPrompts` it matches (case and
    punctuation aside) runs; else the step's `llm`/`rag` branch that allows off-script input
    opens a thread and answers it (JSON, or SSE with `Accept: text/event-stream`). 409 when no
    branch takes it."""
    text = chat.check_message(body.text, "body.text")
    principal = session.principal
    with session.transaction() as conn:
        branch = chat.route_free_text(conn, execution_id, text, step_id=body.stepId)
        ran = chat.run_branch(
            conn,
            execution_id,
            branch["branch_id"],
            step_id=body.stepId,
            actor_user_id=principal.user_id,
            actor_role=principal.role.value,
            dedupe=chat.threads.new_dedupe(),
        )
    if "threadId" not in ran:
        return JSONResponse(ran)
    return _answer(session, request, UUID(ran["threadId"]), text, extra=ran)


@router.get("/api/chat/threads/{thread_id}")
def get_thread(thread_id: UUID, session: SessionDep) -> dict[str, Any]:
    """A thread with its LLM context, messages (in sequence) and tool calls."""
    with session.transaction() as conn:
        thread = chat.get_thread(conn, thread_id)
        messages = chat.thread_messages(conn, thread_id)
        calls = chat.thread_tool_calls(conn, thread_id)
    return {
        "id": str(thread["id"]),
        "executionId": str(thread["workflow_execution_id"]),
        "stepId": thread["step_id"],
        "threadType": thread["thread_type"],
        "status": thread["status"],
        "returnToStep": thread["return_to_step"],
        "startedAt": thread["started_at"].isoformat(),
        "endedAt": thread["ended_at"].isoformat() if thread["ended_at"] else None,
        "totalMessages": thread["total_messages"],
        "totalTokens": thread["total_tokens"],
        "context": {
            "systemPrompt": thread["system_prompt"],
            "toolsAvailable": thread["tools_available"] or [],
            "model": thread["model_used"],
            "temperature": thread["temperature"],
            "maxTokens": thread["max_tokens"],
            "totalTokensUsed": thread["total_tokens_used"],
        },
        "messages": [chat.message_json(m) for m in messages],
        "toolCalls": [
            {
                "id": str(c["id"]),
                "messageId": str(c["message_id"]) if c["message_id"] else None,
                "tool": c["tool_name"],
                "input": c["tool_input"],
                "output": c["tool_output"],
                "success": c["success"],
                "error": c["error_message"],
                "createdAt": c["created_at"].isoformat(),
            }
            for c in calls
        ],
    }


@router.post(
    "/api/chat/threads/{thread_id}/messages",
    responses={200: {"content": {"text/event-stream": {}}}},
)
def post_message(
    thread_id: UUID, body: MessageIn, session: SessionDep, request: Request
) -> Response:
    """Post a user message and get the assistant's answer: JSON, or with `Accept:
    text/event-stream` Server-Sent Events (`delta` events with text, then one `message` event
    with the stored message id, tokens, cost and sources, or an `error` event). The answer is
    stored once, complete, even if the client goes away. 409 for an ended thread; 422 naming
    the field for an empty, oversized or NUL message."""
    content = chat.check_message(body.content)
    return _answer(session, request, thread_id, content)


def _wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "").lower()


def _answer(
    session: TenantSession,
    request: Request,
    thread_id: UUID,
    content: str,
    extra: dict[str, Any] | None = None,
) -> Response:
    clients = request.app.state.llm_clients
    if not _wants_stream(request):
        try:
            answer = chat.post_message(session.transaction, thread_id, content, llm_clients=clients)
        except LLMError as error:
            return _llm_failed(error)
        return JSONResponse({**(extra or {}), "threadId": str(thread_id), **answer.as_json()})
    # Checked before the stream starts, so a bad thread is a plain 404/409.
    with session.transaction() as conn:
        thread = chat.get_thread(conn, thread_id)
    if thread["status"] != "active":
        raise chat.ThreadClosed(f"thread {thread_id} is not active: it takes no more messages")
    events: sse.Events = queue.Queue()

    def work() -> None:
        # its own thread, not the request's: the answer is stored even if the client leaves
        try:
            answer = chat.post_message(
                session.transaction,
                thread_id,
                content,
                llm_clients=clients,
                on_delta=lambda text: events.put(("delta", {"text": text})),
            )
            events.put(
                ("message", {**(extra or {}), "threadId": str(thread_id), **answer.as_json()})
            )
        except LLMError as error:
            events.put(("error", {"status": 502, "title": "Bad gateway", "detail": str(error)}))
        except RenewflowError as error:
            events.put(("error", {"status": 409, "detail": str(error)}))
        except Exception:
            import logging

            logging.getLogger(__name__).exception("chat answer failed")
            events.put(("error", {"status": 500, "detail": "the answer failed"}))
        finally:
            events.put(None)

    threading.Thread(target=work, name=f"chat-{thread_id}", daemon=True).start()

    return sse.from_queue(events)


def _llm_failed(error: LLMError) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Bad gateway", "status": 502, "detail": str(error)},
        status_code=502,
        media_type=PROBLEM_JSON,
    )


@router.post("/api/chat/threads/{thread_id}/complete")
def complete_thread(
    thread_id: UUID, session: SessionDep, body: EndIn | None = None
) -> dict[str, Any]:
    """End the thread (`completed` by default, or `abandoned`); completing returns the execution
    to the thread's `returnToStep`. 409 for a thread already ended."""
    with session.transaction() as conn:
        return chat.end_thread(conn, thread_id, (body or EndIn()).status)


@router.get("/api/chat/charts/{message_id}.svg", response_class=Response)
def chart_svg(message_id: UUID, session: SessionDep) -> Response:
    """A chart message drawn as SVG."""
    with session.transaction() as conn:
        spec = chat.threads.chart_of(conn, message_id)
    return Response(chat.chart_svg(spec), media_type="image/svg+xml")


@router.get("/api/saved-actions")
def list_actions(session: SessionDep) -> list[dict[str, Any]]:
    """The saved actions the tenant sees: core ones and its own (its own shadow a core id)."""
    with session.transaction() as conn:
        return [_action_json(r) for r in chat.list_actions(conn)]


@router.post("/api/saved-actions", status_code=201, dependencies=[_Writers])
def create_action(body: ActionIn, session: SessionDep) -> dict[str, Any]:
    """A tenant action. Its handler must resolve (`code:Name.method`, or `file:path` naming a
    registered plugin handler); files are never loaded."""
    with session.transaction() as conn:
        return _action_json(chat.create_action(conn, **body.model_dump()))


@router.patch("/api/saved-actions/{action_id}", dependencies=[_Writers])
def update_action(
    action_id: Annotated[str, Path(max_length=100)], body: ActionPatch, session: SessionDep
) -> dict[str, Any]:
    """Change one of the tenant's own actions (core ones are read-only: 409)."""
    given = body.model_fields_set
    with session.transaction() as conn:
        row = chat.update_action(
            conn,
            action_id,
            action_name=body.action_name,
            handler=body.handler,
            set_handler="handler" in given,
            config=body.config,
            available_globally=body.available_globally,
        )
    return _action_json(row)
