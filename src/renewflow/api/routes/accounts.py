"""The caller, its tenant and its tenant's users (people): who they are, their role, manager and
time zone, deactivating them, and handing their work to someone else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from renewflow import accounts
from renewflow.accounts import UNCHANGED, Role, UserChange
from renewflow.api.deps import SessionDep, require_role
from renewflow.limits import LIMIT_MAX, OFFSET_MAX, VARCHAR, Column, UserEmail

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
    manager_id: UUID | None
    manager_email: str | None
    time_zone: str | None
    """An IANA name; null: the tenant's time zone."""
    active: bool
    created_at: datetime


UserName = Annotated[str, StringConstraints(max_length=VARCHAR["users.name"]), Column("users.name")]
# An IANA name, checked against the time zone database by the accounts package; the longest
# is 32 characters.
TimeZoneName = Annotated[str, StringConstraints(max_length=64)]


class UserIn(BaseModel):
    """A new user of the tenant. They sign in with a link (`renewflow console login-link`) or
    an API key an admin creates for them."""

    model_config = ConfigDict(extra="forbid")

    email: UserEmail
    role: Role
    name: UserName | None = None
    manager_id: UUID | None = None
    time_zone: TimeZoneName | None = None


class UserPatch(BaseModel):
    """The fields to change; a field left out keeps its value, `null` clears `name`,
    `manager_id` and `time_zone` (the tenant's time zone again). All of it or nothing."""

    model_config = ConfigDict(extra="forbid")

    name: UserName | None = None
    role: Role = Role.CSM  # default never applied: only the fields sent are changed
    manager_id: UUID | None = None
    time_zone: TimeZoneName | None = None
    active: bool = True  # as role

    def change(self) -> UserChange:
        sent = self.model_fields_set
        return UserChange(
            name=self.name if "name" in sent else UNCHANGED,
            role=self.role if "role" in sent else UNCHANGED,
            manager_id=self.manager_id if "manager_id" in sent else UNCHANGED,
            time_zone=self.time_zone if "time_zone" in sent else UNCHANGED,
            active=self.active if "active" in sent else UNCHANGED,
        )


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: UUID
    """The user who takes the work over: an active user of the tenant."""


class ReassignedOut(BaseModel):
    tasks: int
    """Open tasks (pending, in progress, snoozed) now assigned to `to`."""
    customers: int
    """Customers whose CSM is now `to`."""
    escalations: int
    """Customers whose escalations (the account team's manager override) now go to `to`."""


@contextmanager
def _body_fields() -> Iterator[None]:
    """The accounts package names a field as the body does; the API says where it is. A user a
    field names that is not there (or is another tenant's: the same answer) is bad input, 422 at
    that field; a user in the path that is not there is 404."""
    try:
        yield
    except accounts.NoSuchUser as error:
        raise accounts.InvalidInput(f"body.{error.field}", error.reason) from None
    except accounts.InvalidInput as error:
        raise accounts.InvalidInput(f"body.{error.field}", error.reason) from None


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
_Admins = Depends(require_role(Role.ADMIN))


@router.get("/users", dependencies=[_Managers])
def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    active: bool | None = None,
    role: Role | None = None,
) -> list[UserOut]:
    """The users of the caller's tenant (admins and managers), by email; `active` and `role`
    filter."""
    with session.transaction() as conn:
        rows = accounts.list_users(conn, limit=limit, offset=offset, active=active, role=role)
    return [UserOut.model_validate(row) for row in rows]


@router.post("/users", status_code=201, dependencies=[_Admins])
def create_user(body: UserIn, session: SessionDep, response: Response) -> UserOut:
    """Create a user (admins). A manager is an active user of the tenant (another tenant's is
    404, like a missing one); a time zone an IANA name. No API key is issued."""
    with _body_fields(), session.transaction() as conn:
        row = accounts.create_user(
            conn,
            email=str(body.email),
            role=body.role,
            name=body.name.strip() if body.name and body.name.strip() else None,
            manager_id=body.manager_id,
            time_zone=body.time_zone,
        )
    response.headers["Location"] = f"/api/users/{row['id']}"
    return UserOut.model_validate(row)


@router.patch("/users/{user_id}", dependencies=[_Admins])
def update_user(user_id: UUID, body: UserPatch, session: SessionDep) -> UserOut:
    """Change a user's name, role, manager, time zone or whether they are active (admins), all
    of it or nothing. A cycle of managers is 422 at `body.manager_id`. Deactivating stops the
    user's API keys and console sessions at once; their tasks and customers stay theirs until
    reassigned. Nobody changes their own role or deactivates themselves."""
    with _body_fields(), session.transaction() as conn:
        row = accounts.update_user(
            conn, user_id, body.change(), acting_user_id=session.principal.user_id
        )
    return UserOut.model_validate(row)


@router.post("/users/{user_id}/reassign", dependencies=[_Admins])
def reassign_work(user_id: UUID, body: ReassignIn, session: SessionDep) -> ReassignedOut:
    """Hand the user's open tasks, the customers they are the CSM of and the escalations they
    receive as a manager override to another active user (admins), in one transaction."""
    with _body_fields(), session.transaction() as conn:
        moved = accounts.reassign_work(conn, user_id, body.to)
    return ReassignedOut(
        tasks=moved.tasks, customers=moved.customers, escalations=moved.escalations
    )


@router.get("/users/{user_id}")
def get_user(user_id: UUID, session: SessionDep) -> UserOut:
    """One user of the caller's tenant; another tenant's user is 404, like a missing one."""
    with session.transaction() as conn:
        row = accounts.get_user(conn, user_id)
    return UserOut.model_validate(row)
