"""Notification delivery channels: in-app (the notifications table), email (SMTP), webhook.

Which notifications fire, to whom and when (step events, the overdue ladder) comes with the
execution engine; this package only delivers an already-rendered `OutboundMessage`.
"""

from renewflow.notify.errors import (
    DeliveryError,
    NotifyConfigError,
    NotifyError,
    UndeliverableMessage,
)
from renewflow.notify.inapp import (
    InAppChannel,
    enqueue,
    mark_failed,
    mark_sent,
    record_undeliverable,
)
from renewflow.notify.models import (
    RECIPIENT_MAX,
    TITLE_MAX,
    Channel,
    OutboundMessage,
    Priority,
    unfit,
)
from renewflow.notify.smtp import EmailChannel, SmtpSettings
from renewflow.notify.webhook import WebhookChannel, WebhookSettings

__all__ = [
    "RECIPIENT_MAX",
    "TITLE_MAX",
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "InAppChannel",
    "NotifyConfigError",
    "NotifyError",
    "OutboundMessage",
    "Priority",
    "SmtpSettings",
    "UndeliverableMessage",
    "WebhookChannel",
    "WebhookSettings",
    "enqueue",
    "mark_failed",
    "mark_sent",
    "record_undeliverable",
    "unfit",
]
