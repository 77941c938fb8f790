"""In-app notifications: a row in `notifications`, read and acknowledged through the API."""

from __future__ import annotations

from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from renewflow.db import Connection, load_queries
from renewflow.notify.errors import DeliveryError, UndeliverableMessage
from renewflow.notify.models import OutboundMessage, unfit


class InAppChannel:
    """Writes the message as a `sent` in-app notification in the tenant transaction of `conn`.

    The insert runs in a savepoint, so a refused row (an execution of another tenant, say)
    raises `DeliveryError` and leaves the caller's transaction usable. A message whose
    `dedupe_key` was already delivered to the same recipient is not written twice. See `Channel`.
    """

    name = "in_app"

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.last_id: UUID | None = None

    def close(self) -> None:
        pass

    def deliver(self, message: OutboundMessage) -> None:
        try:
            with self._conn.transaction():
                new_id = enqueue(self._conn, message, self.name)
        except UndeliverableMessage as error:
            raise DeliveryError(
                f"in-app: the notification cannot be recorded: {error}",
                retryable=False,
                channel=self.name,
            ) from None
        except psycopg.errors.IntegrityError as error:
            raise DeliveryError(
                f"in-app: the notification was refused ({error.diag.constraint_name or error.sqlstate})",
                retryable=False,
                channel=self.name,
            ) from None
        except psycopg.OperationalError:
            raise DeliveryError(
                "in-app: the database is unavailable", retryable=True, channel=self.name
            ) from None
        self.last_id = new_id


def enqueue(conn: Connection, message: OutboundMessage, channel: str) -> UUID | None:
    """Records `message` for `channel` in the transaction's tenant: an in-app one is thereby
    delivered, an email or webhook one waits for the delivery job. None if this dedupe key was
    already recorded for that channel and recipient. `UndeliverableMessage` (nothing written)
    if a value does not fit its column: it is never cut."""
    problem = unfit(message)
    if problem is not None:
        raise UndeliverableMessage(problem[1])
    row = conn.execute(_queries()["enqueue"], _values(message, channel)).fetchone()
    return row["id"] if row is not None else None


def record_undeliverable(
    conn: Connection, message: OutboundMessage, channel: str, *, place: str, reason: str
) -> UUID | None:
    """Records a notification that could not be made into a message (its template failed at
    `place`, or a rendered value does not fit): `failed`, never attempted, `last_error`
    "permanent: undeliverable: <place>: <reason>", so the tenant's delivery log shows it and no
    job tries it. `message` holds what is known, each value fitting its column (the caller
    leaves an unusable one out). Its dedupe key is taken, so it is recorded once: None if it
    already was."""
    error = f"permanent: undeliverable: {place}: {reason}".replace("\x00", "")
    values = _values(message, channel)
    values["metadata"] = Jsonb(
        {**dict(message.metadata), "undeliverable": {"place": place, "reason": reason}}
    )
    row = conn.execute(
        _queries()["record_undeliverable"], {**values, "last_error": error}
    ).fetchone()
    return row["id"] if row is not None else None


def _values(message: OutboundMessage, channel: str) -> dict[str, object]:
    return {
        "workflow_execution_id": message.workflow_execution_id,
        "customer_id": message.customer_id,
        "recipient_user_id": message.recipient_user_id,
        "recipient": message.recipient,
        "channel": channel,
        "notification_type": message.notification_type,
        "title": message.title,
        "message": message.message,
        "priority": message.priority,
        "metadata": Jsonb(dict(message.metadata)),
        "dedupe_key": message.dedupe_key,
    }


# A receiver asking for longer than this is asked again after this.
MAX_RETRY_AFTER = 24 * 3600.0


def mark_sent(conn: Connection, notification_id: UUID, claim_token: UUID | None = None) -> bool:
    """Records a successful delivery of a queued (email/webhook) notification: one claimed under
    `claim_token`, or, without a token, one nobody has claimed. False otherwise (already sent,
    acknowledged, claimed by someone else, or not this tenant's)."""
    row = conn.execute(
        _queries()["mark_sent"], {"notification_id": notification_id, "claim_token": claim_token}
    ).fetchone()
    return row is not None


def mark_failed(
    conn: Connection,
    notification_id: UUID,
    error: DeliveryError,
    claim_token: UUID | None = None,
) -> bool:
    """Records a failed attempt (on the same terms as `mark_sent`): status `failed`, attempts + 1,
    and `last_error` starting with "retryable:" or "permanent:" so the delivery job and a person
    can tell them apart. A retryable error's `retry_after` (the receiver's hint) holds the retry
    back until then, when that is later than the backoff."""
    prefix = "retryable" if error.retryable else "permanent"
    # the text may quote a remote server, which may say anything; PostgreSQL text holds no NUL
    reason = str(error).replace("\x00", "")
    row = conn.execute(
        _queries()["mark_failed"],
        {
            "notification_id": notification_id,
            "last_error": f"{prefix}: {reason}",
            "claim_token": claim_token,
            "retry_after": (
                min(error.retry_after, MAX_RETRY_AFTER)
                if error.retryable and error.retry_after is not None
                else None
            ),
        },
    ).fetchone()
    return row is not None


def _queries() -> dict[str, str]:
    return load_queries("renewflow.notify")
