"""The notifications outbox (admins and managers): every notification of the tenant with its
delivery state — pending, sending, sent, retrying, undeliverable, given up — its attempts, next
retry, channel, recipient and message, filtered by state and channel, paged by keyset."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from renewflow.accounts import Role
from renewflow.console.web import ConsoleDep, ConsoleRoute
from renewflow.db import load_queries

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "notifications.sql")

PAGE_SIZE = 50
# the delivery job's default (renewflow.notify.delivery.deliver_pending): after this many
# attempts a retryable failure is not claimed again
MAX_ATTEMPTS = 5
STATES = {
    "pending": "Pending",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed (any)",
    "retrying": "Failed, will retry",
    "undeliverable": "Undeliverable",
    "gave-up": "Failed, attempts spent",
    "acknowledged": "Seen (in-app)",
}
CHANNELS = {"in_app": "In-app", "email": "Email", "webhook": "Webhook (Slack)"}


@dataclass(frozen=True)
class OutboxFilters:
    state: str | None = None
    channel: str | None = None
    after: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[OutboxFilters, list[str]]:
        ignored = []
        state = query.get("status") or None
        if state is not None and state not in STATES:
            ignored.append("status")
            state = None
        channel = query.get("channel") or None
        if channel is not None and channel not in CHANNELS:
            ignored.append("channel")
            channel = None
        after = query.get("after") or None
        if after is not None and _decode(after) is None:
            ignored.append("after")
            after = None
        return cls(state, channel, after), ignored

    def url(self, **changes: Any) -> str:
        values: dict[str, Any] = {"status": self.state, "channel": self.channel}
        values["after"] = self.after
        values.update(changes)
        kept = {k: v for k, v in values.items() if v}
        return "/admin/notifications" + (f"?{urlencode(kept)}" if kept else "")


def _encode(row: Mapping[str, Any]) -> str:
    raw = json.dumps([row["created_at"].isoformat(), str(row["id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, UUID] | None:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), UUID(row_id)
    except (ValueError, TypeError):
        return None


@router.get("/admin/notifications")
def outbox(console: ConsoleDep) -> HTMLResponse:
    console.require(Role.ADMIN, Role.MANAGER)
    filters, ignored = OutboxFilters.from_query(console.request.query_params)
    cursor = _decode(filters.after) if filters.after else None
    with console.transaction() as conn:
        rows = conn.execute(
            _Q["outbox"],
            {
                "state": filters.state,
                "channel": filters.channel,
                "max_attempts": MAX_ATTEMPTS,
                "after_created": cursor[0] if cursor else None,
                "after_id": cursor[1] if cursor else None,
                "limit": PAGE_SIZE + 1,
            },
        ).fetchall()
        counts = conn.execute(_Q["outbox_counts"], {"channel": filters.channel}).fetchone()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return console.page(
        "notifications.html",
        rows=rows,
        filters=filters,
        ignored=ignored,
        states=STATES,
        channels=CHANNELS,
        counts=counts or {},
        max_attempts=MAX_ATTEMPTS,
        next_url=filters.url(after=_encode(rows[-1])) if more else None,
        first_url=filters.url(after=None) if filters.after else None,
    )
