"""InAppChannel and delivery bookkeeping on the real notifications table."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from renewflow.db import Database
from renewflow.notify import DeliveryError, InAppChannel, OutboundMessage, mark_failed, mark_sent
from tests.db.rows import base_values, insert, populate


def _rows(database: Database, tenant: uuid.UUID, **where: Any) -> list[dict[str, Any]]:
    with database.tenant_transaction(tenant) as conn:
        rows = conn.execute("SELECT * FROM notifications ORDER BY created_at, id").fetchall()
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def test_in_app_delivery_writes_a_sent_row_once_per_dedupe_key(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        ids = populate(conn)
        message = OutboundMessage(
            recipient="csm@example.com",
            recipient_user_id=ids["users"],
            title="Step ready",
            message="Pricing interview can start",
            notification_type="step_completed",
            priority="high",
            metadata={"stepId": "pricing-interview"},
            dedupe_key="exec:step-completed:pricing",
            workflow_execution_id=ids["workflow_executions"],
            customer_id=ids["customers"],
        )
        channel = InAppChannel(conn)
        channel.deliver(message)
        first = channel.last_id
        channel.deliver(message)  # a second process, or a retried job
        assert first is not None
        assert channel.last_id is None
    [row] = _rows(database, tenant, dedupe_key="exec:step-completed:pricing")
    assert row["id"] == first
    assert (row["channel"], row["status"], row["attempts"]) == ("in_app", "sent", 1)
    assert row["sent_at"] is not None
    assert (row["recipient_user_id"], row["priority"], row["metadata"]) == (
        ids["users"],
        "high",
        {"stepId": "pricing-interview"},
    )


def test_refused_row_is_a_permanent_error_and_the_transaction_survives(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    other = tenant_factory()
    with database.tenant_transaction(other) as conn:
        their = populate(conn)
    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        channel = InAppChannel(conn)
        with pytest.raises(DeliveryError) as caught:
            channel.deliver(
                OutboundMessage(
                    recipient="x@example.com",
                    title="t",
                    message="m",
                    workflow_execution_id=their["workflow_executions"],
                )
            )
        assert caught.value.retryable is False
        channel.deliver(OutboundMessage(recipient="x@example.com", title="t", message="still fine"))
    assert [r["message"] for r in _rows(database, tenant)] == ["still fine"]


def test_mark_sent_and_failed_on_a_queued_email(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        ids = populate(conn)
        values = base_values(ids, "notifications") | {"channel": "email", "dedupe_key": "queued-1"}
        queued = insert(conn, "notifications", values)
        assert mark_failed(
            conn, queued, DeliveryError("email via smtp:587: 451 later", retryable=True)
        )
        assert mark_failed(
            conn, queued, DeliveryError("email via smtp:587: 550 no user", retryable=False)
        )
    [row] = _rows(database, tenant, id=queued)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("failed", 2, None)
    assert row["last_error"] == "permanent: email via smtp:587: 550 no user"

    with database.tenant_transaction(tenant) as conn:
        assert mark_sent(conn, queued)
        assert not mark_sent(conn, queued)  # already sent: not sent twice
    [row] = _rows(database, tenant, id=queued)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 3, None)
    assert row["sent_at"] is not None


def test_an_outcome_is_recorded_only_under_the_claim_that_holds_the_row(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    """A worker whose claim expired (and was taken over) must not overwrite the new claim."""
    tenant = tenant_factory()
    mine, stale = uuid.uuid4(), uuid.uuid4()
    with database.tenant_transaction(tenant) as conn:
        ids = populate(conn)
        values = base_values(ids, "notifications") | {"channel": "email", "dedupe_key": "claim-1"}
        queued = insert(conn, "notifications", values)
        conn.execute(
            "UPDATE notifications SET status = 'sending', claim_token = %s, "
            "claimed_until = now() + interval '15 minutes' WHERE id = %s",
            (mine, queued),
        )
        late = DeliveryError("webhook: 503", retryable=True)
        assert not mark_failed(conn, queued, late, stale)
        assert not mark_sent(conn, queued)  # no token: only a row nobody has claimed
        assert mark_sent(conn, queued, mine)
        assert not mark_failed(conn, queued, late, mine)  # sent is final
    [row] = _rows(database, tenant, id=queued)
    assert (row["status"], row["attempts"], row["claim_token"], row["claimed_until"]) == (
        "sent",
        1,
        None,
        None,
    )


def test_bookkeeping_cannot_touch_another_tenants_row(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    other = tenant_factory()
    with database.tenant_transaction(other) as conn:
        their = populate(conn)
    with database.tenant_transaction(tenant_factory()) as conn:
        assert not mark_sent(conn, their["notifications"])


def test_message_from_a_notifications_row(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        ids = populate(conn)
        row = conn.execute(
            "SELECT * FROM notifications WHERE id = %s", (ids["notifications"],)
        ).fetchone()
    assert row is not None
    message = OutboundMessage.from_row(row)
    assert (message.notification_id, message.recipient, message.title) == (
        ids["notifications"],
        "manager@example.com",
        "Renewal at risk",
    )
    assert message.workflow_execution_id == ids["workflow_executions"]
