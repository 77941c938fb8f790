"""Notification delivery channels: in-app (the notifications table), email (SMTP), webhook.

Which notifications fire, to whom and when (step events, the overdue ladder) comes with the
execution engine; this package only delivers an already-rendered `OutboundMessage`.
"""

from renewflow.notify.errors import DeliveryError, NotifyConfigError, NotifyError
from renewflow.notify.inapp import InAppChannel, enqueue, mark_failed, mark_sent
from renewflow.notify.models import Channel, OutboundMessage, Priority
from renewflow.notify.smtp import EmailChannel, SmtpSettings
from renewflow.notify.webhook import WebhookChannel, WebhookSettings

__all__ = [
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "InAppChannel",
    "NotifyConfigError",
    "NotifyError",
    "OutboundMessage",
    "Priority",
    "SmtpSettings",
    "WebhookChannel",
    "WebhookSettings",
    "enqueue",
    "mark_failed",
    "mark_sent",
]
