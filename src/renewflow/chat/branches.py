"""The chat branches of an execution's current step: list them, run one, match free text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow import templates
from renewflow.chat.actions import get_action, run_action
from renewflow.chat.builtins import DEFAULT_LLM_HANDLER
from renewflow.chat.errors import BranchNotFound, NoBranchMatched
from renewflow.chat.handlers import HandlerRegistry, LLMHandler, default_registry
from renewflow.chat.threads import open_thread
from renewflow.db import Connection, load_queries
from renewflow.engine.errors import ExecutionConflict, TemplateFailed
from renewflow.engine.executions import (
    LoadedExecution,
    load_execution,
    move_to,
    next_step_in_order,
    require_approver_on_approval,
    require_current,
    require_no_live_run,
)

_Q = load_queries("renewflow.chat")


def _current(execution: LoadedExecution, step_id: str | None) -> str:
    current = execution.row["current_step_id"]
    if step_id is not None:
        require_current(execution, step_id)
    elif execution.row["status"] != "active" or current is None:
        raise ExecutionConflict(f"execution {execution.id} is {execution.row['status']}")
    return str(current)


def branches_of(conn: Connection, execution: LoadedExecution, step_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        _Q["step_branches"], {"workflow_id": execution.row["workflow_id"], "step_id": step_id}
    ).fetchall()


def list_branches(
    conn: Connection, execution_id: UUID, step_id: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The current step's id and its branches (the config's, then the table's)."""
    execution = load_execution(conn, execution_id)
    current = _current(execution, step_id)
    return current, branches_of(conn, execution, current)


def branch_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["branch_id"],
        "label": row["branch_label"],
        "type": row["branch_type"],
        "userPrompts": list(row["user_prompts"] or []),
        "responseText": row["response_text"],
        "nextStep": row["next_step_id"],
        "savedActionId": row["saved_action_id"],
        "llmHandler": row["llm_handler"],
        "allowOffScript": row["allow_off_script"],
        "returnToStep": row["return_to_step"],
        "source": row["source"],
    }


def normalized(text: str) -> str:
    """Case-, accent-spacing- and punctuation-insensitive form of a prompt."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = folded.replace("\u2019", "'")
    return " ".join(re.sub(r"[^\w\s]", " ", folded.replace("'", "")).split())


def match_branch(branches: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """The branch whose `user_prompts` holds `text` (case and punctuation aside), else the first
    llm or rag branch accepting off-script input, else None."""
    wanted = normalized(text)
    for branch in branches:
        if any(normalized(p) == wanted for p in branch["user_prompts"] or []):
            return branch
    for branch in branches:
        if branch["branch_type"] in ("llm", "rag") and branch["allow_off_script"]:
            return branch
    return None


def llm_handler_of(
    branch: Mapping[str, Any], registry: HandlerRegistry | None = None
) -> LLMHandler:
    name = branch["llm_handler"] or DEFAULT_LLM_HANDLER[branch["branch_type"]]
    handler: LLMHandler = (registry or default_registry()).resolve(name, "llm")
    return handler


def run_branch(
    conn: Connection,
    execution_id: UUID,
    branch_id: str,
    *,
    step_id: str | None = None,
    reason: str | None = None,
    actor_user_id: UUID | None = None,
    actor_role: str | None = None,
    dedupe: str,
    model: str | None = None,
) -> dict[str, Any]:
    """Runs a branch of the current step, in `conn` (the caller's transaction):

    - fixed: its response, and the step completes to `nextStep` (else the next in order),
      recorded in the step history;
    - saved_action: the action runs, then the execution returns to `returnToStep` (if named and
      the action did not move it itself);
    - llm / rag: a thread opens (post its messages next)."""
    from renewflow.context import build_context

    execution = load_execution(conn, execution_id, lock=True)
    current = _current(execution, step_id)
    branch = next(
        (b for b in branches_of(conn, execution, current) if b["branch_id"] == branch_id), None
    )
    if branch is None:
        raise BranchNotFound(f"step {current!r} has no chat branch {branch_id!r}")
    index, step = execution.step(current)
    kind = branch["branch_type"]
    out: dict[str, Any] = {"branch": branch_json(branch), "stepId": current}
    if kind in ("llm", "rag"):
        handler = llm_handler_of(branch)
        context = build_context(conn, execution.row["customer_id"], execution.id)
        thread_id = open_thread(
            conn,
            execution=execution,
            step=step,
            branch=branch,
            handler=handler,
            context=context,
            model=model,
        )
        out["threadId"] = str(thread_id)
        return out
    require_approver_on_approval(execution, actor_role, "answer")
    require_no_live_run(conn, execution)
    if kind == "fixed":
        following = branch["next_step_id"] or next_step_in_order(execution, current)
        if following is not None:
            execution.step(following)
        response = None
        if branch["response_text"]:
            context = build_context(conn, execution.row["customer_id"], execution.id)
            try:
                response = templates.compile(branch["response_text"]).render(dict(context))
            except templates.TemplateError as error:
                raise TemplateFailed("chatBranches.responseText", str(error)) from None
        row = conn.execute(
            _Q["record_chat_step"],
            {
                "execution_id": execution.id,
                "step_id": current,
                "step_index": index,
                "outputs": Jsonb({"chatBranch": branch_id, "response": response}),
                "next_step": following,
            },
        ).fetchone()
        assert row is not None
        out.update(
            responseText=response,
            nextStep=following,
            stepExecutionId=str(row["step_execution_id"]),
        )
        return out
    action = get_action(conn, branch["saved_action_id"])
    result = run_action(
        conn,
        action,
        execution=execution,
        step_id=current,
        reason=reason,
        actor_user_id=actor_user_id,
        actor_role=actor_role,
        dedupe=dedupe,
    )
    returned = None
    target = branch["return_to_step"]
    if target is not None and not result.moved:
        execution.step(target)
        move_to(conn, execution, target)
        returned = target
    out.update(
        action={"id": action["action_id"], "type": action["action_type"]},
        result={"summary": result.summary, **result.details},
        returnedToStep=returned,
    )
    return out


def route_free_text(
    conn: Connection, execution_id: UUID, text: str, *, step_id: str | None = None
) -> dict[str, Any]:
    """The branch free text goes to; NoBranchMatched (409) when none takes it."""
    execution = load_execution(conn, execution_id)
    current = _current(execution, step_id)
    branches = branches_of(conn, execution, current)
    branch = match_branch(branches, text)
    if branch is None:
        prompts = sorted({p for b in branches for p in b["user_prompts"] or []})
        raise NoBranchMatched(
            f"no branch of step {current!r} answers this, and none takes off-script questions",
            prompts=prompts,
        )
    return branch
