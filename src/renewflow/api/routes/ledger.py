"""The autonomous-run ledger of the tenant (admins and managers): runs, the summary, recent
failures, costs by day and type, the health of scheduled work, and the LLM budget."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder

from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.ledger import budget, health, reports
from renewflow.limits import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix="/api/ledger", tags=["ledger"])

_Managers = Depends(require_role(Role.ADMIN, Role.MANAGER))
Hours = Annotated[int, Query(ge=1, le=reports.HOURS_MAX)]


def _out(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in jsonable_encoder(r).items() if k != "total_count"} for r in rows]


@router.get("/runs", dependencies=[_Managers])
def list_runs(
    session: SessionDep,
    type: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> dict[str, Any]:
    """The tenant's runs, newest first, by task type, status and time (`since` <= executed_at
    < `until`)."""
    with session.transaction() as conn:
        rows, total = reports.list_runs(
            conn,
            task_type=type,
            status=status,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
    return {"items": _out(rows), "total": total}


@router.get("/summary", dependencies=[_Managers])
def summary(session: SessionDep, type: str | None = None, hours: Hours = 24) -> dict[str, Any]:
    """Per task type over the last `hours`: the spec's summary plus p50/p95 duration."""
    with session.transaction() as conn:
        return {"hours": hours, "items": _out(reports.summary(conn, task_type=type, hours=hours))}


@router.get("/failures", dependencies=[_Managers])
def failures(
    session: SessionDep, hours: Hours = 24, limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 50
) -> dict[str, Any]:
    with session.transaction() as conn:
        return {"items": _out(reports.failures(conn, hours=hours, limit=limit))}


@router.get("/costs", dependencies=[_Managers])
def costs(session: SessionDep, hours: Hours = 720) -> dict[str, Any]:
    """Spend by UTC day and task type."""
    with session.transaction() as conn:
        return {"hours": hours, "items": _out(reports.costs(conn, hours=hours))}


@router.get("/health", dependencies=[_Managers])
def job_health(session: SessionDep) -> dict[str, Any]:
    """Each scheduled job's state for the tenant: ok, late or down."""
    with session.transaction() as conn:
        jobs = health.tenant_health(conn, session.principal.tenant_id)
    return {"jobs": [j.to_dict() for j in jobs]}


@router.get("/budget", dependencies=[_Managers])
def budget_state(session: SessionDep) -> dict[str, Any]:
    with session.transaction() as conn:
        return budget.state(conn, session.principal.tenant_id).to_dict()
