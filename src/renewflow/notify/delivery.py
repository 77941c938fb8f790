"""Delivering queued email and webhook notifications, with retries that stay visible.

A failed attempt leaves the row `failed` with its attempt count and `last_error` ("retryable: ..."
or "permanent: ..."); retryable ones are tried again after a growing pause until `max_attempts`.
Nothing is dropped: what could not be delivered stays in the table for a person to see.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from renewflow.db import Connection, Database, load_queries
from renewflow.jobs import PeriodicJob
from renewflow.notify.errors import DeliveryError, NotifyConfigError
from renewflow.notify.inapp import mark_failed, mark_sent
from renewflow.notify.models import Channel, OutboundMessage
from renewflow.notify.smtp import EmailChannel, SmtpSettings
from renewflow.notify.webhook import WebhookChannel, WebhookSettings

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.notify")

DELIVERY_JOB = "notify.deliver"


def channel_for(kind: str, settings: dict[str, Any] | None) -> Channel:
    """The channel a tenant configured (`tenants.settings.notifications.smtp` / `.webhook`)."""
    settings = settings or {}
    try:
        if kind == "email" and settings.get("smtp"):
            return EmailChannel(SmtpSettings.model_validate(settings["smtp"]))
        if kind == "webhook" and settings.get("webhook"):
            return WebhookChannel(WebhookSettings.model_validate(settings["webhook"]))
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise NotifyConfigError(f"{kind}: the tenant's settings are invalid: {error}") from None
    raise NotifyConfigError(f"{kind}: this tenant has no {kind} delivery configured")


def deliver_pending(
    conn: Connection, *, batch: int = 50, max_attempts: int = 5, now: datetime | None = None
) -> tuple[int, int]:
    """Delivers up to `batch` queued notifications in the caller's service transaction; returns
    (sent, failed). `now` places the retry backoff in time (tests)."""
    rows = conn.execute(
        _Q["claim_deliveries"],
        {"batch": batch, "max_attempts": max_attempts, "now": now or datetime.now(UTC)},
    ).fetchall()
    channels: dict[tuple[str, str], Channel] = {}
    sent = failed = 0
    try:
        for row in rows:
            key = (row["channel"], json.dumps(row["channel_settings"], sort_keys=True))
            try:
                channel = channels.get(key)
                if channel is None:
                    channel = channels[key] = channel_for(row["channel"], row["channel_settings"])
                channel.deliver(OutboundMessage.from_row(row))
            except NotifyConfigError as error:
                mark_failed(
                    conn,
                    row["id"],
                    DeliveryError(str(error), retryable=False, channel=row["channel"]),
                )
                failed += 1
            except DeliveryError as error:
                mark_failed(conn, row["id"], error)
                failed += 1
            else:
                mark_sent(conn, row["id"])
                sent += 1
    finally:
        for channel in channels.values():
            channel.close()
    if sent or failed:
        log.info("notifications: %d delivered, %d failed", sent, failed)
    return sent, failed


def delivery_job(every: timedelta = timedelta(seconds=30)) -> PeriodicJob:
    return PeriodicJob(DELIVERY_JOB, every, _deliver_all)


def _deliver_all(conn: Connection) -> None:
    deliver_pending(conn)


def deliver_now(database: Database, now: datetime | None = None) -> tuple[int, int]:
    """One delivery round outside the scheduler (the CLI, tests)."""
    with database.service_transaction() as conn:
        return deliver_pending(conn, now=now)
