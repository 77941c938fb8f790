"""Reading and acknowledging notifications (the in-app inbox, and the delivery log)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from renewflow.db import Connection, load_queries
from renewflow.errors import NotFoundError

_Q = load_queries("renewflow.notify")


def list_notifications(
    conn: Connection,
    *,
    user_id: UUID,
    email: str,
    mine: bool = True,
    status: str | None = None,
    channel: str | None = None,
    unacknowledged: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    rows = conn.execute(
        _Q["list_notifications"],
        {
            "mine": mine,
            "user_id": user_id,
            "email": email,
            "status": status,
            "channel": channel,
            "unacknowledged": unacknowledged,
            "limit": limit,
            "offset": offset,
        },
    ).fetchall()
    return rows, (rows[0]["total_count"] if rows else 0)


def acknowledge(
    conn: Connection, notification_id: UUID, *, user_id: UUID, email: str
) -> dict[str, Any]:
    row = conn.execute(
        _Q["acknowledge"], {"id": notification_id, "user_id": user_id, "email": email}
    ).fetchone()
    if row is None:
        raise NotFoundError(f"notification {notification_id} not found among yours")
    return row
