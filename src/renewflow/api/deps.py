"""Request dependencies: the database, the authenticated principal, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from renewflow.accounts import Principal, Role, authenticate
from renewflow.db import Connection, Database

_BEARER = "bearer "


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="renewflow"'})


def get_principal(request: Request, database: DatabaseDep) -> Principal:
    header = request.headers.get("authorization", "")
    if not header:
        raise _unauthorized("missing Authorization header: send 'Authorization: Bearer <api key>'")
    if not header.lower().startswith(_BEARER):
        raise _unauthorized("the Authorization header must use the Bearer scheme")
    with database.app_connection() as conn, conn.transaction():
        principal = authenticate(conn, header[len(_BEARER) :].strip())
    if principal is None:
        raise _unauthorized("unknown or revoked API key")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only the given roles (403 for the others)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(403, f"this needs one of the roles: {names}")
        return principal

    return check


class TenantSession:
    """What a route needs to work as its caller: who, and a way to open the caller's transaction."""

    def __init__(self, database: Database, principal: Principal) -> None:
        self.database = database
        self.principal = principal

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.database.tenant_transaction(
            self.principal.tenant_id, self.principal.user_id
        ) as conn:
            yield conn


def get_session(database: DatabaseDep, principal: PrincipalDep) -> TenantSession:
    return TenantSession(database, principal)


SessionDep = Annotated[TenantSession, Depends(get_session)]
