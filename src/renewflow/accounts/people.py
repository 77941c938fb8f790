"""The people of a tenant: users with their role, manager, time zone and whether they are active,
and handing one user's work to another.

Functions take the connection of a transaction opened by the caller, and write in one statement
each (a savepoint around it, so a refused change leaves the caller's transaction usable). The
database holds the rules every writer must keep (migration 0021): no cycle of managers, a known
time zone, keys demoted with their user, sessions ended with a deactivation. The checks here come
first only to say what is wrong in words.

Errors name the field as the API's body does (`email`, `role`, `manager_id`, `time_zone`,
`active`, `to`); each entry point says it its own way (`body.manager_id`, `--manager`, a form
field).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from uuid import UUID
from zoneinfo import available_timezones

import psycopg

from renewflow.accounts.errors import Conflict, InvalidInput, NoSuchUser, NotFound
from renewflow.accounts.models import UNCHANGED, Reassigned, Role, UserChange, Work
from renewflow.db import Connection, load_queries
from renewflow.limits import VARCHAR

_Q = load_queries("renewflow.accounts")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# In the time zone database's directory, but not places: a link to the host's zone, a
# placeholder, a file of rules.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
_MAX_TIME_ZONE = 64


@cache
def _time_zones() -> dict[str, str]:
    """Every IANA time zone name this Python knows, by its lower-case spelling."""
    return {name.lower(): name for name in available_timezones() - _NOT_PLACES}


def time_zone_names() -> list[str]:
    """Every IANA time zone name a user may have, sorted (for a form's suggestions)."""
    return sorted(_time_zones().values())


def parse_time_zone(value: str, field: str = "time_zone") -> str:
    """An IANA time zone name (`Europe/Berlin`), spelt as the database of time zones does."""
    name = value.strip()
    found = _time_zones().get(name.lower()) if len(name) <= _MAX_TIME_ZONE else None
    if found is None:
        raise InvalidInput(field, f"not an IANA time zone name (like Europe/Berlin): {value!r}")
    return found


def _check_length(field: str, value: str, column: str) -> None:
    if len(value) > VARCHAR[column]:
        raise InvalidInput(field, f"must be at most {VARCHAR[column]} characters")


def _name(value: str | None) -> str | None:
    name = value.strip() if value is not None else None
    if name:
        _check_length("name", name, "users.name")
    return name or None


def get_user(conn: Connection, user_id: UUID) -> dict[str, Any]:
    """A user of the transaction's tenant, with their manager's email (another tenant's: not
    found, like a missing one)."""
    row = conn.execute(_Q["get_user"], {"user_id": user_id}).fetchone()
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return row


def find_user(conn: Connection, email: str, field: str = "email") -> dict[str, Any]:
    """The tenant's user with this email (any case); `NoSuchUser(field)` if there is none."""
    row = conn.execute(_Q["get_user_by_email"], {"email": email.strip()}).fetchone()
    if row is None:
        raise NoSuchUser(field, f"no such user: {email.strip()}")
    return row


def list_users(
    conn: Connection,
    *,
    limit: int = 100,
    offset: int = 0,
    active: bool | None = None,
    role: Role | None = None,
) -> list[dict[str, Any]]:
    return conn.execute(
        _Q["list_users"],
        {
            "limit": limit,
            "offset": offset,
            "active": active,
            "role": role.value if role else None,
        },
    ).fetchall()


def _referenced(conn: Connection, user_id: UUID, field: str, what: str) -> dict[str, Any]:
    """A user another one is to point at (a manager, a reassignment's target): of the tenant,
    active, and a person rather than an integration."""
    row = conn.execute(_Q["get_user"], {"user_id": user_id}).fetchone()
    if row is None:
        raise NoSuchUser(field)
    if not row["active"]:
        raise InvalidInput(field, f"{row['email']} is deactivated and cannot be {what}")
    if row["role"] == Role.SERVICE.value:
        raise InvalidInput(field, f"{row['email']} is an integration and cannot be {what}")
    return row


def create_user(
    conn: Connection,
    *,
    email: str,
    role: Role,
    name: str | None = None,
    manager_id: UUID | None = None,
    time_zone: str | None = None,
) -> dict[str, Any]:
    """Creates a user in the transaction's tenant; returns them as `get_user` does."""
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidInput("email", f"not an email address: {email!r}")
    _check_length("email", email, "users.email")
    if name is not None:
        _check_length("name", name, "users.name")
    zone = parse_time_zone(time_zone) if time_zone is not None else None
    if manager_id is not None:
        _referenced(conn, manager_id, "manager_id", "a manager")
    try:
        with conn.transaction():
            row = conn.execute(
                _Q["insert_user"],
                {
                    "email": email,
                    "name": name,
                    "role": role.value,
                    "manager_id": manager_id,
                    "time_zone": zone,
                },
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"a user with email {email} already exists in this tenant") from None
    except psycopg.errors.ForeignKeyViolation as error:
        if error.diag.constraint_name == "users_tenant_id_manager_id_fkey":
            raise NoSuchUser("manager_id") from None
        raise NotFound("tenant not found") from None
    except psycopg.errors.CheckViolation as error:
        raise _refused(error) from None
    assert row is not None
    return get_user(conn, row["id"])


def update_user(
    conn: Connection, user_id: UUID, change: UserChange, *, acting_user_id: UUID | None = None
) -> dict[str, Any]:
    """Applies a change to a user of the tenant, all of it or nothing; returns them as
    `get_user` does. `acting_user_id` is the admin making it, who may change neither their
    own role nor deactivate themselves (another admin can): a tenant never locks out the
    person fixing it."""
    user = get_user(conn, user_id)
    params: dict[str, Any] = {
        "user_id": user_id,
        "set_name": change.name is not UNCHANGED,
        "name": None if change.name is UNCHANGED else _name(change.name),
        "role": None if change.role is UNCHANGED else change.role.value,
        "set_manager": change.manager_id is not UNCHANGED,
        "manager_id": None if change.manager_id is UNCHANGED else change.manager_id,
        "set_time_zone": change.time_zone is not UNCHANGED,
        "time_zone": None,
        "active": None if change.active is UNCHANGED else change.active,
    }
    if change.time_zone is not UNCHANGED and change.time_zone is not None:
        params["time_zone"] = parse_time_zone(change.time_zone)
    if acting_user_id == user_id:
        if change.role is not UNCHANGED and change.role.value != user["role"]:
            raise InvalidInput("role", "you cannot change your own role: another admin can")
        if change.active is False:
            raise InvalidInput("active", "you cannot deactivate yourself: another admin can")
    manager: dict[str, Any] | None = None
    if (
        change.manager_id is not UNCHANGED
        and change.manager_id is not None
        and change.manager_id != user["manager_id"]  # kept as it is: even if deactivated since
    ):
        if change.manager_id == user_id:
            raise InvalidInput("manager_id", "a person cannot be their own manager")
        manager = _referenced(conn, change.manager_id, "manager_id", "a manager")
    try:
        with conn.transaction():
            conn.execute(_Q["update_user"], params)
    except psycopg.errors.CheckViolation as error:
        if error.diag.constraint_name == "users_manager_no_cycle" and manager is not None:
            raise InvalidInput(
                "manager_id",
                f"{manager['email']} reports to {user['email']}, directly or through others: "
                "a manager cannot report to someone they manage",
            ) from None
        raise _refused(error) from None
    except psycopg.errors.ForeignKeyViolation:
        raise NoSuchUser("manager_id") from None
    return get_user(conn, user_id)


def _refused(error: psycopg.errors.CheckViolation) -> InvalidInput:
    constraint = error.diag.constraint_name or ""
    if constraint == "users_time_zone_known":
        return InvalidInput("time_zone", "the database does not know this time zone")
    if constraint == "users_manager_no_cycle":
        return InvalidInput("manager_id", "that would make a cycle of managers")
    return InvalidInput(constraint or "user", "rejected by the database")


def work_of(conn: Connection, user_id: UUID) -> Work:
    """What a user of the tenant has to hand over (see `Work`)."""
    get_user(conn, user_id)
    row = conn.execute(_Q["work_of_user"], {"user_id": user_id}).fetchone()
    assert row is not None
    return Work(
        open_tasks=row["open_tasks"],
        customers=row["customers"],
        escalations=row["escalations"],
        reports=row["reports"],
    )


def reassign_work(conn: Connection, from_user_id: UUID, to_user_id: UUID) -> Reassigned:
    """Hands a user's open tasks, the customers they are the CSM of and those whose
    escalations go to them to another active user of the tenant, in one statement. Closed
    tasks keep who did them; direct reports keep their manager (an org chart is not work)."""
    get_user(conn, from_user_id)
    if to_user_id == from_user_id:
        raise InvalidInput("to", "choose someone else: this is the person whose work moves")
    target = _referenced(conn, to_user_id, "to", "given work")
    row = conn.execute(
        _Q["reassign_work"], {"from_user_id": from_user_id, "to_user_id": to_user_id}
    ).fetchone()
    assert row is not None
    if not row["moved"]:  # deactivated since it was looked at
        raise InvalidInput("to", f"{target['email']} is deactivated and cannot be given work")
    return Reassigned(
        tasks=row["tasks"], customers=row["customers"], escalations=row["escalations"]
    )
