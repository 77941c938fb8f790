"""Telling a tenant's admins something once: an in-app notification to each active admin, whose
dedupe key (`notifications_once`) makes a second attempt with the same key a no-op, however many
workers try."""

from __future__ import annotations

from renewflow.db import Connection, load_queries
from renewflow.notify import OutboundMessage, Priority, enqueue

_Q = load_queries("renewflow.ledger")


def notify_admins(
    conn: Connection,
    *,
    key: str,
    title: str,
    message: str,
    notification_type: str,
    priority: Priority = "high",
) -> int:
    """In `conn`'s tenant transaction: `message` to each active admin, once per `key`. Returns
    how many were written now (0: already told, or no admin)."""
    written = 0
    for admin in conn.execute(_Q["admins"]).fetchall():
        new_id = enqueue(
            conn,
            OutboundMessage(
                recipient=str(admin["id"]),
                recipient_user_id=admin["id"],
                title=title,
                message=message,
                notification_type=notification_type,
                priority=priority,
                dedupe_key=key,
            ),
            "in_app",
        )
        written += new_id is not None
    return written
