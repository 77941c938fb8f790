"""`draft-email`: the tenant's LLM drafts an email for the CSM, kept as an artifact.

Input (the task's metadata): `to` (who it is for: an address or a role such as "the CFO"),
`purpose` (what the email must achieve), optional `tone`. The draft lands in the task's
execution_result as an `email` artifact and, when the task came from a step, among that step's
artifacts. Nothing is sent: a person reviews and sends it.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from renewflow.accounts import tenant_settings
from renewflow.context import build_context
from renewflow.db import Connection, load_queries
from renewflow.llm import LLMError, LLMRequest, shared_clients, validate
from renewflow.tasks.models import Task
from renewflow.tasks.processors.base import ProcessorResult

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


def draft_email(task: Task, conn: Connection, /) -> ProcessorResult:
    purpose = str(task.metadata.get("purpose") or task.description).strip()
    recipient = str(task.metadata.get("to") or "the customer's main contact").strip()
    tone = str(task.metadata.get("tone") or "professional and friendly")
    context = build_context(conn, task.customer_id, task.workflow_execution_id)
    client = shared_clients.for_tenant(tenant_settings(conn))
    customer, csm, workflow = context["customer"], context["csm"], context["workflow"]
    prompt = (
        f"Write an email to {recipient} at {customer['name']} (ARR {customer['arr']}, renewal on "
        f"{customer['renewalDate']}, {workflow['daysUntilRenewal']} days away), from "
        f"{csm['name'] or 'their customer success manager'}.\nPurpose: {purpose}\nTone: {tone}."
    )
    try:
        response = client.complete(
            LLMRequest(
                prompt=prompt, system=SYSTEM, json_schema=DRAFT_SCHEMA, schema_name="email_draft"
            ),
            conn=conn,
            tenant_id=task.tenant_id,
            workflow_execution_id=task.workflow_execution_id,
            step_execution_id=task.step_execution_id,
        )
    except LLMError as error:
        return ProcessorResult.fail(
            f"the LLM could not draft the email: {error}", retryable=error.retryable
        )
    problems = validate(response.parsed, DRAFT_SCHEMA)
    if problems:
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
    if task.step_execution_id is not None:
        conn.execute(
            _Q["append_step_artifact"],
            {"step_execution_id": task.step_execution_id, "artifact": Jsonb([artifact])},
        )
    return ProcessorResult.ok(artifact=artifact, model=response.model)
