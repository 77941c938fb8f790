"""Built-in processors: update a contact in our own CRM tables (the spec's Salesforce example), post
to a webhook the tenant configured, draft an email with the tenant's LLM (`email_draft`), and a
no-op for smoke tests and benchmarks.

Each asks its context for a short tenant transaction when it needs the database and holds none
while it calls the outside world; each is idempotent, since a task runs at least once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg

from renewflow.db import Connection, load_queries
from renewflow.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from renewflow.settings import SecretKeyMissing, SecretUnreadable, read_settings
from renewflow.tasks.models import Task
from renewflow.tasks.processors.base import Processor, ProcessorContext, ProcessorResult
from renewflow.tasks.processors.email_draft import draft_email

_Q = load_queries("renewflow.tasks.processors", "builtin.sql")

_CONTACT_FIELDS = ("name", "email", "title", "role")
_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
WEBHOOK_TIMEOUT = 10.0


def noop(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """Does nothing and succeeds: measures the queue itself."""
    return ProcessorResult.ok()


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _match(task: Task, conn: Connection, ref: Mapping[str, Any]) -> dict[str, Any] | None:
    raw_id = ref.get("id") or ref.get("contactId")
    try:
        contact_id = UUID(str(raw_id)) if raw_id else None
    except ValueError:
        return None
    return conn.execute(
        _Q["find_contact"],
        {
            "customer_id": task.customer_id,
            "id": contact_id,
            "external_id": _text(ref.get("salesforceId") or ref.get("externalId")),
            "email": _text(ref.get("email")),
        },
    ).fetchone()


def _fields(values: Mapping[str, Any]) -> dict[str, str | None]:
    out = {name: _text(values.get(name)) for name in _CONTACT_FIELDS}
    out["external_id"] = _text(values.get("salesforceId") or values.get("externalId"))
    return out


def update_contact(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """Updates the customer's contacts from the task's metadata, in one transaction. Two shapes:

    - the spec's: `{"oldContact": {...}, "newContact": {"name", "salesforceId", "email", "title",
      "role"}}` makes the new contact the customer's primary contact (creating it if no contact
      matches its salesforceId, id or email);
    - `{"contactId": "...", "changes": {"title": ..., "email": ...}}` edits one contact.

    Idempotent: a second run finds the contact the first one created or edited and sets the same
    values again.
    """
    meta = task.metadata
    new = meta.get("newContact")
    changes = meta.get("changes")
    if not isinstance(new, dict) and (not isinstance(changes, dict) or not meta.get("contactId")):
        return ProcessorResult.fail(
            "metadata needs newContact, or contactId with changes", retryable=False
        )
    try:
        with ctx.transaction() as conn:
            if isinstance(new, dict):
                return _make_primary(task, conn, new)
            assert isinstance(changes, dict)
            found = _match(task, conn, {"id": meta["contactId"]})
            if found is None:
                return ProcessorResult.fail(
                    f"contact {meta['contactId']} is not a contact of customer {task.customer_id}"
                )
            fields = _fields(changes)
            conn.execute(_Q["update_contact"], {"id": found["id"], **fields})
            return ProcessorResult.ok(
                contactId=str(found["id"]),
                updatedFields=sorted(k for k, v in fields.items() if v is not None),
                affectedRecords=1,
            )
    except (psycopg.errors.CheckViolation, psycopg.errors.StringDataRightTruncation) as error:
        return ProcessorResult.fail(f"the contact was refused: {error.diag.message_primary}")


def _make_primary(task: Task, conn: Connection, new: Mapping[str, Any]) -> ProcessorResult:
    fields = _fields(new)
    found = _match(task, conn, new)
    if found is None:
        if fields["name"] is None:
            return ProcessorResult.fail("newContact needs a name to be created")
        row = conn.execute(
            _Q["insert_contact"], {"customer_id": task.customer_id, **fields}
        ).fetchone()
        assert row is not None
        contact_id, created = row["id"], True
    else:
        contact_id, created = found["id"], False
        conn.execute(_Q["update_contact"], {"id": contact_id, **fields})
    demoted = conn.execute(
        _Q["clear_primary"], {"customer_id": task.customer_id, "id": contact_id}
    ).fetchall()
    conn.execute(_Q["set_primary"], {"id": contact_id})
    return ProcessorResult.ok(
        contactId=str(contact_id),
        created=created,
        updatedFields=["primary_contact_id"],
        affectedRecords=1 + len(demoted),
    )


def post_webhook(task: Task, ctx: ProcessorContext, /) -> ProcessorResult:
    """POSTs the task to a webhook the tenant configured (its CRM, Slack, ...).

    `metadata.webhook` names an entry of the tenant's `settings.webhooks`
    (`{"crm": {"url": "https://...", "headers": {...}}}`, or `url_secret` naming the tenant
    secret holding the URL); `metadata.payload` is sent along. The request carries
    `Idempotency-Key: <task id>`: a retried or re-run task sends the same key; with
    `signing_secret`, the body is signed as notification webhooks are (X-Renewflow-Signature).
    2xx succeeds; 408, 425, 429, 5xx, timeouts and connection errors are retryable; any other
    status fails the task.
    """
    name = task.metadata.get("webhook")
    if not isinstance(name, str) or not name:
        return ProcessorResult.fail("metadata.webhook must name one of the tenant's webhooks")
    with ctx.transaction() as conn:  # closed before the request: nothing held across it
        row = conn.execute(_Q["tenant_webhooks"]).fetchone()
    settings = read_settings(row["settings"] if row else {})
    problem = settings.problem(f"webhooks.{name}")
    if problem is not None:
        return ProcessorResult.fail(f"webhook {name!r} is misconfigured: {problem}")
    hook = settings.webhooks.get(name)
    if hook is None:
        return ProcessorResult.fail(f"the tenant has no webhook named {name!r}")
    try:
        url = hook.url if hook.url is not None else settings.secret(hook.url_secret or "")
        signing_key = settings.secret(hook.signing_secret) if hook.signing_secret else None
    except (SecretKeyMissing, SecretUnreadable) as error:
        return ProcessorResult.fail(f"webhook {name!r}: {error}")
    if urlsplit(url).scheme not in {"http", "https"}:
        return ProcessorResult.fail(f"webhook {name!r} must use http or https")
    body = json.dumps(
        {
            "task_id": str(task.id),
            "customer_id": str(task.customer_id),
            "workflow_execution_id": str(task.workflow_execution_id),
            "action": task.action,
            "description": task.description,
            "payload": task.metadata.get("payload", {}),
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "renewflow-worker",
        "Idempotency-Key": str(task.id),
    }
    headers.update(hook.headers)
    if signing_key is not None:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = signature(signing_key, timestamp, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
        return ProcessorResult.fail(
            f"webhook {name!r} answered {status}",
            retryable=status in _RETRYABLE_HTTP,
            status=status,
        )
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        return ProcessorResult.fail(f"webhook {name!r} unreachable: {reason}", retryable=True)
    return ProcessorResult.ok(webhook=name, status=status)


BUILTINS: dict[str, Processor] = {
    "draft-email": draft_email,
    "update-contact": update_contact,
    # the spec's sample processor name for the same work
    "salesforce-contact-updater.js": update_contact,
    "post-webhook": post_webhook,
    "noop": noop,
}
