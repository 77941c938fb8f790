"""The caller, its tenant and its tenant's users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from renewflow import accounts
from renewflow.accounts import Role
from renewflow.api.deps import SessionDep, require_role
from renewflow.limits import LIMIT_MAX, OFFSET_MAX

router = APIRouter(prefix="/api", tags=["accounts"])


class TenantOut(BaseModel):
    id: UUID
    name: str
    time_zone: str


class MeOut(BaseModel):
    user_id: UUID
    email: str
    role: Role
    key_id: UUID
    tenant: TenantOut


class UserOut(BaseModel):
    id: UUID
    email: str
    name: str | None
    role: Role
    active: bool
    created_at: datetime


@router.get("/me")
def me(session: SessionDep) -> MeOut:
    """Who the API key belongs to."""
    p = session.principal
    with session.transaction() as conn:
        tenant = accounts.get_tenant(conn, p.tenant_id)
    return MeOut(
        user_id=p.user_id,
        email=p.email,
        role=p.role,
        key_id=p.key_id,
        tenant=TenantOut.model_validate(tenant),
    )


_Managers = Depends(require_role(Role.ADMIN, Role.MANAGER))


@router.get("/users", dependencies=[_Managers])
def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> list[UserOut]:
    """The users of the caller's tenant (admins and managers)."""
    with session.transaction() as conn:
        rows = accounts.list_users(conn, limit=limit, offset=offset)
    return [UserOut.model_validate(row) for row in rows]


@router.get("/users/{user_id}")
def get_user(user_id: UUID, session: SessionDep) -> UserOut:
    """One user of the caller's tenant; another tenant's user is 404, like a missing one."""
    with session.transaction() as conn:
        row = accounts.get_user(conn, user_id)
    return UserOut.model_validate(row)
