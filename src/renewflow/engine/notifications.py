"""Which notifications a workflow sends, and when: on a step's completion (`actionTriggered`)
and on the renewal calendar (`schedule`, e.g. the overdue ladder). Each one becomes rows of
`notifications` (one per channel and recipient) whose dedupe key makes it fire once per execution,
however many processes evaluate it and however often. Delivery (email, webhook) is separate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from renewflow import templates
from renewflow.db import Connection
from renewflow.engine.errors import TemplateFailed
from renewflow.notify import (
    TITLE_MAX,
    OutboundMessage,
    UndeliverableMessage,
    enqueue,
    record_undeliverable,
    unfit,
)
from renewflow.workflows.model import Notification

if TYPE_CHECKING:
    from renewflow.engine.executions import LoadedExecution

# The config's notification types, as delivery channels. SMS has no channel yet: it is kept in
# the app, so nothing is lost.
CHANNEL_OF_TYPE = {"in_app": "in_app", "email": "email", "slack": "webhook", "sms": "in_app"}


def place_of(notification: Notification, where: str) -> str:
    """A notification template's place, as failures name it: `notifications[<id>].title`."""
    return f"notifications[{notification.id}].{where}"


def _render(source: str, context: dict[str, Any], place: str) -> str:
    try:
        return templates.compile(source).render(context)
    except Exception as error:  # a helper's bug is still this template's failure, never a 500
        detail = str(error) if isinstance(error, templates.TemplateError) else repr(error)
        raise TemplateFailed(place, f"the template failed: {detail}") from None


def recipients(notification: Notification, context: dict[str, Any]) -> list[str]:
    """Rendered recipients; a value may list several, comma-separated (accountTeam.allEmails).
    `TemplateFailed` names the recipient template that failed."""
    return _resolve(notification, context)[0]


def _resolve(notification: Notification, context: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The rendered recipients, and why each recipient template that rendered empty reached
    nobody (`recipients[1] {{company.ceo}} resolved to nobody: ...`)."""
    found: list[str] = []
    nobody: list[str] = []
    for j, template in enumerate(notification.recipients):
        rendered = _render(template, context, place_of(notification, f"recipients[{j}]"))
        parts = [part.strip() for part in rendered.split(",") if part.strip()]
        if not parts:
            nobody.append(
                f"recipients[{j}] {template.strip()} resolved to nobody: {_why(template, context)}"
            )
        for value in parts:
            if value not in found:
                found.append(value)
    return found, nobody


# Why a recipient template the core workflows use renders empty, and where to fix it.
_UNSET = "is not set in the tenant settings (PATCH /api/tenant, or renewflow tenants set)"
_WHY_EMPTY = {
    "csm.email": "the customer has no CSM",
    "csm.manager": "the CSM has no manager (PATCH /api/users/{id} manager_id, or renewflow "
    "users set --manager)",
    "company.vpCustomerSuccess": f"company.vp_customer_success {_UNSET}",
    "company.ceo": f"company.ceo {_UNSET}",
    "company.warRoom": f"company.war_room {_UNSET}",
    "accountTeam.allEmails": "the customer's account team has no address",
}
_SINGLE_PATH = re.compile(r"^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$")


def _why(template: str, context: dict[str, Any]) -> str:
    found = _SINGLE_PATH.match(template.strip())
    path = found.group(1) if found else None
    if path == "csm.manager" and not (context.get("csm") or {}).get("email"):
        return _WHY_EMPTY["csm.email"]
    if path in _WHY_EMPTY:
        return _WHY_EMPTY[path]
    return "the template rendered empty"


def fire(
    conn: Connection,
    *,
    execution_id: UUID,
    customer_id: UUID,
    notification: Notification,
    context: dict[str, Any],
    dedupe_key: str,
    strict: bool = False,
) -> int:
    """Records `notification` for each recipient unless this dedupe key already fired; returns
    how many rows were new and will be delivered. A notification whose condition renders other
    than `true` is skipped.

    Nothing is cut, nothing is dropped and nothing raises for the notification's own templates:
    a template that fails, a rendered title or recipient longer than the notifications table
    holds, or a recipient template that resolves to nobody (a company contact not set, a CSM
    without a manager) is recorded as undeliverable (`record_undeliverable`: failed, with the template's place and
    the reason), and the others go out. With `strict` (the schedule, which retries the
    execution later), a failing template raises `TemplateFailed` instead, before anything of
    this notification is written; a value that does not fit is still recorded undeliverable.
    """
    channel = CHANNEL_OF_TYPE[notification.type]
    base = OutboundMessage(
        recipient="",
        title=_shown_title(notification),
        message="",
        notification_type=notification.id,
        priority=notification.priority,
        metadata={**notification.metadata, "type": notification.type},
        dedupe_key=dedupe_key,
        workflow_execution_id=execution_id,
        customer_id=customer_id,
    )
    try:
        condition = notification.condition
        if condition is not None:
            rendered = _render(condition, context, place_of(notification, "condition"))
            if rendered.strip().lower() != "true":
                return 0
        title = _render(notification.title, context, place_of(notification, "title"))
        message = _render(notification.message, context, place_of(notification, "message"))
        targets, nobody = _resolve(notification, context)
    except TemplateFailed as failure:
        if strict:
            raise
        record_undeliverable(conn, base, channel, place=failure.field, reason=failure.reason)
        return 0
    created = 0
    unusable: list[str] = []
    for index, recipient in enumerate(targets):
        outbound = OutboundMessage(
            recipient=recipient,
            title=title,
            message=message,
            notification_type=base.notification_type,
            priority=base.priority,
            metadata=base.metadata,
            dedupe_key=dedupe_key,
            workflow_execution_id=execution_id,
            customer_id=customer_id,
        )
        problem = unfit(outbound)
        if problem is None:
            created += enqueue(conn, outbound, channel) is not None
            continue
        field, reason = problem
        if field == "recipient":
            unusable.append(f"recipient {index + 1} of {len(targets)}: {reason}")
            continue
        if field not in ("title", "message"):
            # the notification's id or dedupe key: the config's validation keeps them short
            raise UndeliverableMessage(reason)
        # the title or message cannot be sent to anyone: recorded once per recipient, with the
        # title as written when the rendered one is what does not fit
        record_undeliverable(
            conn,
            OutboundMessage(
                recipient=recipient,
                title=base.title if field == "title" else title,
                message=message.replace("\x00", ""),
                notification_type=base.notification_type,
                priority=base.priority,
                metadata=base.metadata,
                dedupe_key=dedupe_key,
                workflow_execution_id=execution_id,
                customer_id=customer_id,
            ),
            channel,
            place=place_of(notification, field),
            reason=reason,
        )
    if unusable or nobody:
        # nobody is left out silently: an address that does not fit is not stored (cut, it
        # would be another address), and a recipient that resolved to nobody (a contact not
        # set, a CSM without a manager) is not dropped. One row, without a recipient, says
        # which were left out and why; with no recipient at all, nothing else is recorded.
        lead = "" if targets else "nobody to send to: "
        record_undeliverable(
            conn,
            OutboundMessage(
                recipient="",
                title=title if len(title) <= TITLE_MAX and "\x00" not in title else base.title,
                message=message.replace("\x00", ""),
                notification_type=base.notification_type,
                priority=base.priority,
                metadata=base.metadata,
                dedupe_key=dedupe_key,
                workflow_execution_id=execution_id,
                customer_id=customer_id,
            ),
            channel,
            place=place_of(notification, "recipients"),
            reason=lead + "; ".join(nobody + unusable),
        )
    return created


def _shown_title(notification: Notification) -> str:
    """The title an undeliverable row shows when the rendered one is unusable: the template as
    written if it fits, else the notification's id."""
    source = notification.title
    if len(source) <= TITLE_MAX and "\x00" not in source:
        return source
    return notification.id


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
