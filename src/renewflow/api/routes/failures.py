"""The tenant's failed background work: what a job spanning tenants could not do for it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.jobs.failures import list_failures
from renewflow.limits import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix="/api/failures", tags=["failures"])

_Managers = Depends(require_role(Role.ADMIN, Role.MANAGER))

Job = Literal[
    "engine.renewal_sweep",
    "engine.notification_schedule",
    "notify.deliver",
    "tasks.sweep",
    "intelligence.continuous",
]
SubjectType = Literal["tenant", "customer", "execution", "notification", "workflow", "channel"]


class Fault(BaseModel):
    workflowId: str | None
    stepId: str | None
    notificationId: str | None
    field: str | None


class FailureOut(BaseModel):
    id: str
    job: str
    subjectType: str
    subjectId: str
    fault: Fault
    error: str
    attempts: int
    firstSeenAt: datetime
    lastSeenAt: datetime
    nextAttemptAt: datetime
    resolvedAt: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FailureOut:
        return cls(
            id=str(row["id"]),
            job=row["job"],
            subjectType=row["subject_type"],
            subjectId=row["subject_id"],
            fault=Fault(
                workflowId=row["workflow_id"],
                stepId=row["step_id"],
                notificationId=row["notification_id"],
                field=row["field"],
            ),
            error=row["error"],
            attempts=row["attempts"],
            firstSeenAt=row["first_seen_at"],
            lastSeenAt=row["last_seen_at"],
            nextAttemptAt=row["next_attempt_at"],
            resolvedAt=row["resolved_at"],
        )


class FailurePage(BaseModel):
    items: list[FailureOut]
    total: int


@router.get("", dependencies=[_Managers])
def list_open(
    session: SessionDep,
    job: Job | None = None,
    subjectType: SubjectType | None = None,
    resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> FailurePage:
    """The tenant's open failures (admins and managers), newest first: which job, which subject,
    what is at fault, the error, and when it is tried again. `resolved=true` lists the ones a
    later attempt fixed (kept 30 days)."""
    with session.transaction() as conn:
        rows, total = list_failures(
            conn,
            job=job,
            subject_type=subjectType,
            resolved=resolved,
            limit=limit,
            offset=offset,
        )
    return FailurePage(items=[FailureOut.from_row(r) for r in rows], total=total)
