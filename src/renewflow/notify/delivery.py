"""Delivering queued email and webhook notifications, with retries that stay visible.

A failed attempt leaves the row `failed` with its attempt count and `last_error` ("retryable: ..."
or "permanent: ..."); retryable ones are tried again after a growing pause until `max_attempts`.
Nothing is dropped: what could not be delivered stays in the table for a person to see. No lock
or transaction is held while a mail server or a webhook answers: rows are claimed ('sending'),
sent, then settled. Delivery is at least once: a worker killed between sending and recording
sends that row again after its claim expires.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from renewflow.db import Database, load_queries
from renewflow.jobs import PeriodicJob
from renewflow.jobs.failures import FailureLog, Fault, Subject
from renewflow.notify.errors import DeliveryError, NotifyConfigError
from renewflow.notify.inapp import mark_failed, mark_sent
from renewflow.notify.models import Channel, OutboundMessage
from renewflow.notify.smtp import EmailChannel
from renewflow.notify.webhook import WebhookChannel
from renewflow.observability import metrics

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.notify")

DELIVERY_JOB = "notify.deliver"
# How long a claim lasts without news before its row counts as interrupted and is retried. The
# rows still to send get a fresh lease after each message, so this bounds one message, not a batch.
CLAIM_LEASE = timedelta(minutes=15)
MAX_ROUNDS = 50


def channel_for(kind: str, settings: dict[str, Any] | None) -> Channel:
    """The channel a tenant configured (`notifications.smtp` / `.webhook` of its settings), with
    the secrets it names opened. `settings` is the stored settings document, or the part of it
    holding `notifications` and `secrets` (the delivery job's)."""
    # imported here: the settings package sits above this one (it reads the channels' settings)
    from renewflow.settings import SecretKeyMissing, SecretUnreadable, read_settings

    section = {"email": "notifications.smtp", "webhook": "notifications.webhook"}.get(kind)
    if section is None:
        raise NotifyConfigError(f"{kind}: not a delivery channel")
    typed = read_settings(settings or {})
    problem = typed.problem(section)
    if problem is not None:
        raise NotifyConfigError(f"{kind}: the tenant's settings are invalid: {problem}")
    try:
        if kind == "email" and typed.notifications.smtp is not None:
            smtp = typed.notifications.smtp
            return EmailChannel(smtp, secrets=typed.opened(smtp.password_secret))
        if kind == "webhook" and typed.notifications.webhook is not None:
            hook = typed.notifications.webhook
            return WebhookChannel(
                hook,
                secrets=typed.opened(hook.url_secret, hook.header_secret, hook.signing_secret),
            )
    except (SecretKeyMissing, SecretUnreadable) as error:
        raise NotifyConfigError(f"{kind}: {error}") from None
    raise NotifyConfigError(f"{kind}: this tenant has no {kind} delivery configured")


# Where each channel's settings live, as a failure names them.
SETTINGS_FIELD = {
    "email": "settings.notifications.smtp",
    "webhook": "settings.notifications.webhook",
}


class _SettingsBroken(DeliveryError):
    """The tenant's settings for this channel cannot work: every message through it fails."""


def deliver_pending(
    database: Database,
    *,
    batch: int = 20,
    max_attempts: int = 5,
    lease: timedelta = CLAIM_LEASE,
    now: datetime | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, int]:
    """Delivers the queued notifications that are due, `batch` at a time, until none is left
    (at most `MAX_ROUNDS` batches: the next run goes on) or `should_stop()` says so between two
    messages; returns (sent, failed). `now` places the retry backoff in time (tests); by default
    it is the database's clock.

    Each batch is claimed in one short transaction and sent with no transaction open; each
    outcome is recorded under the batch's claim token, with a fresh lease for the rows still to
    send, in a short transaction of its own. Rows a round leaves untried go back to the queue as
    they were. A row whose outcome could not be recorded keeps its claim, which expires into a
    counted, retryable attempt: it is neither lost nor retried at once.

    Each tenant's channel fails alone: once it cannot be reached (a timeout, a refused
    connection), its other messages of the batch are handed back untried; that, or settings
    that cannot work, is recorded as the channel's failure for the tenant (`job_failures`,
    subject `channel`), and its messages wait, uncharged, until its next attempt, so no other
    tenant's messages wait on its server. A message that gets through resolves the failure.
    """
    sent = failed = 0
    channels: dict[tuple[str, str], Channel] = {}
    with database.service_transaction() as conn:
        failures = FailureLog.load(conn, DELIVERY_JOB, now)
    try:
        for _ in range(MAX_ROUNDS):
            token = uuid.uuid4()
            claim = {"token": token, "lease": lease, "now": now}
            with database.service_transaction() as conn:
                conn.execute(_Q["expire_delivery_claims"], {"now": now})
                rows = conn.execute(
                    _Q["claim_deliveries"],
                    {**claim, "batch": batch, "max_attempts": max_attempts, "job": DELIVERY_JOB},
                ).fetchall()
            tried: list[uuid.UUID] = []
            broken: set[Subject] = set()
            try:
                for row in sorted(rows, key=lambda r: r["created_at"]):
                    if should_stop():
                        break
                    subject = Subject(row["tenant_id"], "channel", row["channel"])
                    if subject in broken:
                        continue  # handed back untried: its channel just failed as a whole
                    tried.append(row["id"])
                    sending = time.perf_counter()
                    error = _send(row, channels)
                    metrics.default().delivery(row["channel"], error, time.perf_counter() - sending)
                    _note(failures, subject, error, broken)
                    try:
                        with database.service_transaction() as conn:
                            if error is None:
                                sent += mark_sent(conn, row["id"], token)
                            else:
                                failed += mark_failed(conn, row["id"], error, token)
                            conn.execute(_Q["renew_delivery_claims"], claim)
                    except psycopg.Error as db_error:
                        log.warning(
                            "notifications: the outcome of %s was not recorded (%s); its claim "
                            "will expire into a retry",
                            row["id"],
                            db_error,
                        )
            finally:
                _release(database, token, tried)
                _flush(database, failures)
            if len(rows) < batch or should_stop():
                break
    finally:
        for channel in channels.values():
            try:
                channel.close()
            except Exception:  # one channel's close must not keep the others open
                log.exception("notifications: closing a %s channel failed", channel.name)
    if sent or failed:
        log.info("notifications: %d delivered, %d failed", sent, failed)
    return sent, failed


def _note(
    failures: FailureLog, subject: Subject, error: DeliveryError | None, broken: set[Subject]
) -> None:
    """Notes what one message says about its tenant's channel as a whole. An unreachable server
    would keep each of the channel's messages waiting as long: the rest of the batch is handed
    back. Settings that cannot work fail each message at once, permanently, as before; either
    way the channel is left alone until its next attempt."""
    if error is None:
        failures.succeed(subject)
    elif isinstance(error, _SettingsBroken) or error.unreachable:
        if error.unreachable:
            broken.add(subject)
        failures.fail(subject, str(error), Fault(field=SETTINGS_FIELD.get(subject.id)))


def _flush(database: Database, failures: FailureLog) -> None:
    try:
        with database.service_transaction() as conn:
            for failure in failures.flush(conn):
                log.warning("notifications: %s", failure.describe())
    except psycopg.Error as error:  # seen again on the next run all the same
        log.warning("notifications: could not record a channel's failure: %s", error)


def _release(database: Database, token: uuid.UUID, tried: list[uuid.UUID]) -> None:
    try:
        with database.service_transaction() as conn:
            conn.execute(_Q["release_delivery_claims"], {"token": token, "tried": tried})
    except psycopg.Error as error:  # the claims expire and are retried all the same
        log.warning("notifications: could not release untried claims: %s", error)


def _send(row: dict[str, Any], channels: dict[tuple[str, str], Channel]) -> DeliveryError | None:
    """Sends one claimed row through its tenant's channel (opened once per round); None if the
    receiving end accepted it. Its tenant's settings and its metadata are read here, per row:
    whatever is wrong with them fails this row (and that tenant's channel), not the batch."""
    key = (row["channel"], row["channel_settings"] or "")
    channel = channels.get(key)
    if channel is None:
        try:
            settings = json.loads(row["channel_settings"]) if row["channel_settings"] else None
            channel = channels[key] = channel_for(row["channel"], settings)
        except NotifyConfigError as error:
            return _SettingsBroken(str(error), retryable=False, channel=row["channel"])
        except Exception as error:  # settings no JSON reader takes (nested too deep, say)
            return _SettingsBroken(
                f"{row['channel']}: the tenant's settings cannot be read ({type(error).__name__})",
                retryable=False,
                channel=row["channel"],
            )
    try:
        metadata = json.loads(row["metadata"]) if row["metadata"] else {}
        channel.deliver(OutboundMessage.from_row({**row, "metadata": metadata}))
    except DeliveryError as error:
        return error
    except Exception as error:  # a bug, or data no channel can read, must not strand the batch
        log.exception("notifications: delivering %s failed unexpectedly", row["id"])
        return DeliveryError(
            f"{row['channel']}: unexpected error ({type(error).__name__})",
            retryable=False,
            channel=row["channel"],
        )
    return None


def delivery_job(database: Database, every: timedelta = timedelta(seconds=30)) -> PeriodicJob:
    # alone: it waits on mail servers and webhooks, so it must not keep the slot's transaction open
    return PeriodicJob.alone(
        DELIVERY_JOB, every, lambda should_stop: deliver_pending(database, should_stop=should_stop)
    )


def deliver_now(database: Database, now: datetime | None = None) -> tuple[int, int]:
    """Delivery outside the scheduler (the CLI, tests)."""
    return deliver_pending(database, now=now)
