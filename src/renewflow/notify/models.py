"""What a channel delivers, and the contract every channel keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

Priority = Literal["low", "medium", "high", "urgent", "critical"]

# What the `notifications` table holds (migration 0004; a contract test compares them). A longer
# value is never cut: a truncated address is another address, a truncated title says something
# else. Such a message is undeliverable instead (`unfit`).
TITLE_MAX = 500
RECIPIENT_MAX = 320
NOTIFICATION_TYPE_MAX = 100
DEDUPE_KEY_MAX = 255


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One notification to one recipient, already rendered.

    `recipient` is what the channel addresses: an email address (email), a user's id or email
    (in-app), a label for the log (webhook: the URL is the channel's). `notification_id` names
    the `notifications` row being delivered, when there is one.
    """

    recipient: str
    title: str
    message: str
    notification_type: str = "notification"
    priority: Priority = "medium"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None
    workflow_execution_id: UUID | None = None
    customer_id: UUID | None = None
    recipient_user_id: UUID | None = None
    notification_id: UUID | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OutboundMessage:
        """The message a `notifications` row describes (for the delivery job)."""
        return cls(
            recipient=row["recipient"],
            title=row["title"],
            message=row["message"],
            notification_type=row["notification_type"],
            priority=row["priority"],
            metadata=row.get("metadata") or {},
            dedupe_key=row.get("dedupe_key"),
            workflow_execution_id=row.get("workflow_execution_id"),
            customer_id=row.get("customer_id"),
            recipient_user_id=row.get("recipient_user_id"),
            notification_id=row.get("id"),
        )


def unfit(message: OutboundMessage) -> tuple[str, str] | None:
    """Why `message` cannot be recorded as it is, as (field, reason), or None if it can: a value
    longer than its column, or a NUL character, which PostgreSQL text cannot hold. The reason
    names the field and the length, never the value (it may be anything)."""
    limits = (
        ("recipient", message.recipient, RECIPIENT_MAX),
        ("title", message.title, TITLE_MAX),
        ("notification_type", message.notification_type, NOTIFICATION_TYPE_MAX),
        ("dedupe_key", message.dedupe_key or "", DEDUPE_KEY_MAX),
    )
    for name, value, limit in limits:
        if len(value) > limit:
            what = name.replace("_", " ")
            return name, f"the {what} is {len(value)} characters long, over the {limit} it may have"
    for name, value in (
        ("recipient", message.recipient),
        ("title", message.title),
        ("message", message.message),
    ):
        if "\x00" in value:
            return name, f"the {name} contains a NUL character"
    return None


class Channel(Protocol):
    """A way to deliver a message: in-app, email, webhook.

    `deliver(message)` returns once the receiving end has accepted the message (the SMTP server
    queued it, the webhook answered 2xx, the row is written), and otherwise raises
    `DeliveryError` with `retryable` set — never another exception type. It does not retry:
    the delivery job owns retries and their schedule, so a failure is always visible. It never
    logs or puts in an error message a secret (SMTP password, webhook URL path or header).
    `name` is the value of `notifications.channel`. `close()` releases connections; idempotent.
    """

    name: str

    def deliver(self, message: OutboundMessage) -> None: ...

    def close(self) -> None: ...
