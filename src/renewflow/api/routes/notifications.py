"""Notifications: the caller's inbox, acknowledging, and the tenant's delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from renewflow.accounts import Role
from renewflow.api.deps import SessionDep
from renewflow.limits import LIMIT_MAX, OFFSET_MAX
from renewflow.notify.inbox import acknowledge, list_notifications

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: UUID
    executionId: UUID | None
    customerId: UUID | None
    recipient: str
    channel: str
    type: str
    title: str
    message: str
    priority: str
    metadata: dict[str, Any]
    status: str
    attempts: int
    lastError: str | None
    sentAt: datetime | None
    acknowledgedAt: datetime | None
    createdAt: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> NotificationOut:
        return cls(
            id=row["id"],
            executionId=row["workflow_execution_id"],
            customerId=row["customer_id"],
            recipient=row["recipient"],
            channel=row["channel"],
            type=row["notification_type"],
            title=row["title"],
            message=row["message"],
            priority=row["priority"],
            metadata=row["metadata"],
            status=row["status"],
            attempts=row["attempts"],
            lastError=row["last_error"],
            sentAt=row["sent_at"],
            acknowledgedAt=row["acknowledged_at"],
            createdAt=row["created_at"],
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int


class Acknowledged(BaseModel):
    id: UUID
    status: str
    acknowledgedAt: datetime


@router.get("")
def list_mine_or_all(
    session: SessionDep,
    scope: Literal["mine", "tenant"] = "mine",
    status: Literal["pending", "sending", "sent", "failed", "acknowledged"] | None = None,
    channel: Literal["in_app", "email", "webhook"] | None = None,
    unacknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> NotificationPage:
    """`scope=mine` (default): notifications addressed to the caller. `scope=tenant` (admins and
    managers): every notification of the tenant, e.g. `status=failed` to see failed deliveries."""
    p = session.principal
    if scope == "tenant" and p.role not in (Role.ADMIN, Role.MANAGER):
        raise HTTPException(403, "scope=tenant needs one of the roles: admin, manager")
    with session.transaction() as conn:
        rows, total = list_notifications(
            conn,
            user_id=p.user_id,
            email=p.email,
            mine=scope == "mine",
            status=status,
            channel=channel,
            unacknowledged=unacknowledged,
            limit=limit,
            offset=offset,
        )
    return NotificationPage(items=[NotificationOut.from_row(r) for r in rows], total=total)


@router.post("/{notification_id}/acknowledge")
def acknowledge_one(notification_id: UUID, session: SessionDep) -> Acknowledged:
    """Mark a notification addressed to the caller as seen."""
    p = session.principal
    with session.transaction() as conn:
        row = acknowledge(conn, notification_id, user_id=p.user_id, email=p.email)
    return Acknowledged(id=row["id"], status=row["status"], acknowledgedAt=row["acknowledged_at"])
