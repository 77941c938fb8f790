"""Which notifications a workflow sends, and when: on a step's completion (`actionTriggered`)
and on the renewal calendar (`schedule`, e.g. the overdue ladder). Each one becomes rows of
`notifications` (one per channel and recipient) whose dedupe key makes it fire once per execution,
however many processes evaluate it and however often. Delivery (email, webhook) is separate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from renewflow import templates
from renewflow.db import Connection
from renewflow.notify import OutboundMessage, enqueue
from renewflow.workflows.model import Notification

if TYPE_CHECKING:
    from renewflow.engine.executions import LoadedExecution

# The config's notification types, as delivery channels. SMS has no channel yet: it is kept in
# the app, so nothing is lost.
CHANNEL_OF_TYPE = {"in_app": "in_app", "email": "email", "slack": "webhook", "sms": "in_app"}


def _render(source: str, context: dict[str, Any]) -> str:
    return templates.compile(source).render(context)


def recipients(notification: Notification, context: dict[str, Any]) -> list[str]:
    """Rendered recipients; a value may list several, comma-separated (accountTeam.allEmails)."""
    found: list[str] = []
    for template in notification.recipients:
        for part in _render(template, context).split(","):
            value = part.strip()
            if value and value not in found:
                found.append(value)
    return found


def fire(
    conn: Connection,
    *,
    execution_id: UUID,
    customer_id: UUID,
    notification: Notification,
    context: dict[str, Any],
    dedupe_key: str,
) -> int:
    """Records `notification` for each recipient unless this dedupe key already fired; returns
    how many rows were new. A notification whose condition renders other than `true` is skipped."""
    condition = notification.condition
    if condition is not None and _render(condition, context).strip().lower() != "true":
        return 0
    title = _render(notification.title, context)
    message = _render(notification.message, context)
    channel = CHANNEL_OF_TYPE[notification.type]
    created = 0
    for recipient in recipients(notification, context):
        new_id = enqueue(
            conn,
            OutboundMessage(
                recipient=recipient[:320],
                title=title[:500],
                message=message,
                notification_type=notification.id,
                priority=notification.priority,
                metadata={**notification.metadata, "type": notification.type},
                dedupe_key=dedupe_key,
                workflow_execution_id=execution_id,
                customer_id=customer_id,
            ),
            channel,
        )
        created += new_id is not None
    return created


def fire_step_notifications(
    conn: Connection, execution: LoadedExecution, step_id: str, context: dict[str, Any]
) -> int:
    """The notifications triggered by completing `step_id`."""
    return sum(
        fire(
            conn,
            execution_id=execution.id,
            customer_id=execution.row["customer_id"],
            notification=notification,
            context=context,
            dedupe_key=f"{execution.id}:{notification.id}",
        )
        for notification in execution.config.notifications
        if notification.action_triggered == step_id
    )


def due_scheduled(
    notifications: Iterable[Notification], days_until_renewal: int
) -> list[tuple[Notification, str]]:
    """The scheduled notifications due at this many days until renewal, with their dedupe suffix.

    A one-off fires once the day is reached (late, if the schedule did not run that day); a
    repeating one fires on each of its days from the first one on.
    """
    due = []
    for notification in notifications:
        schedule = notification.schedule
        if schedule is None or days_until_renewal > schedule.days_until_renewal:
            continue
        if schedule.repeat_every_days is None:
            due.append((notification, notification.id))
        elif (schedule.days_until_renewal - days_until_renewal) % schedule.repeat_every_days == 0:
            due.append((notification, f"{notification.id}:{days_until_renewal}"))
    return due
