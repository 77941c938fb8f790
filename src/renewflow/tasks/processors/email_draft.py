"""`draft-email`: the tenant's LLM drafts an email for the CSM, kept as an artifact.

Input (the task's metadata): `to` (who it is for: an address or a role such as "the CFO"),
`purpose` (what the email must achieve), optional `tone`. The draft lands in the task's
execution_result as an `email` artifact and, when the task came from a step, among that step's
artifacts. Nothing is sent: a person reviews and sends it.

Three steps, so that no connection is held while the LLM thinks (seconds, up to a minute): the
customer's context and the tenant's LLM settings in one short transaction; the LLM call with
nothing held; then the call's record and the artifact in a second short transaction.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from renewflow.context import CustomerNotFound, build_context
from renewflow.db import load_queries
from renewflow.llm import LLMCall, LLMError, LLMRequest, record_calls, shared_clients, validate
from renewflow.settings import current_settings
from renewflow.tasks.models import Task
from renewflow.tasks.processors.base import ProcessorContext, ProcessorResult

_Q = load_queries("renewflow.tasks.processors", "builtin.sql")

DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["subject", "body"],
    "properties": {
        "subject": {"type": "string", "minLength": 1, "maxLength": 200},
        "body": {"type": "string", "minLength": 1},
    },
}

SYSTEM = (
    "You write concise, warm, specific emails for a customer success manager about a contract "
    "renewal. Use only facts given to you; never invent numbers. Answer with JSON: subject, body."
)


def draft_email(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    purpose = str(task.metadata.get("purpose") or task.description).strip()
    recipient = str(task.metadata.get("to") or "the customer's main contact").strip()
    tone = str(task.metadata.get("tone") or "professional and friendly")
    try:
        with ctx.transaction() as conn:
            context = build_context(conn, task.customer_id, task.workflow_execution_id)
            settings = current_settings(conn)
    except CustomerNotFound as error:
        return ProcessorResult.fail(str(error))
    client = shared_clients.for_tenant(settings)
    customer, csm, workflow = context["customer"], context["csm"], context["workflow"]
    prompt = (
        f"Write an email to {recipient} at {customer['name']} (ARR {customer['arr']}, renewal on "
        f"{customer['renewalDate']}, {workflow['daysUntilRenewal']} days away), from "
        f"{csm['name'] or 'their customer success manager'}.\nPurpose: {purpose}\nTone: {tone}."
    )
    # The process-wide clients have no database of their own: the call's record is handed back
    # here and written in the transaction that follows (with the artifact, on success).
    calls: list[LLMCall] = []
    try:
        response = client.complete(
            LLMRequest(
                prompt=prompt, system=SYSTEM, json_schema=DRAFT_SCHEMA, schema_name="email_draft"
            ),
            workflow_execution_id=task.workflow_execution_id,
            step_execution_id=task.step_execution_id,
            deferred=calls,
        )
    except LLMError as error:
        with ctx.transaction() as conn:
            record_calls(conn, calls)
        return ProcessorResult.fail(
            f"the LLM could not draft the email: {error}", retryable=error.retryable
        )
    problems = validate(response.parsed, DRAFT_SCHEMA)
    if problems:
        with ctx.transaction() as conn:
            record_calls(conn, calls)
        return ProcessorResult.fail(
            "the LLM's draft was not usable: " + "; ".join(problems[:3]), retryable=True
        )
    artifact = {
        "id": f"email-draft-{task.id}",
        "type": "email",
        "title": response.parsed["subject"],
        "sections": [
            {"title": "To", "content": recipient},
            {"title": "Body", "content": response.parsed["body"]},
        ],
    }
    with ctx.transaction() as conn:
        record_calls(conn, calls)
        if task.step_execution_id is not None:
            # by the artifact's id: a re-run of the task replaces its draft instead of adding one
            conn.execute(
                _Q["put_step_artifact"],
                {
                    "step_execution_id": task.step_execution_id,
                    "artifact_id": artifact["id"],
                    "artifact": Jsonb([artifact]),
                },
            )
    return ProcessorResult.ok(artifact=artifact, model=response.model)
