"""Request dependencies: the database, the authenticated principal, role checks.

A request's key is checked twice, on purpose. The dependency resolves it to a principal (to
answer 401 and 403 before any work), remembering the answer for a few seconds; the request's own
transaction then authenticates the key again as its first statement, which is also what scopes
the transaction to the key's tenant and user. So the remembered answer only saves a round trip:
a key revoked (or a user deactivated) a moment ago is refused by the transaction itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from renewflow.accounts import Principal, Role, authenticate, keys
from renewflow.db import Connection, Database
from renewflow.observability import context

_BEARER = "bearer "
_REMEMBER_SECONDS = 10.0
_REMEMBER_MAX = 10_000


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread
# pool, and each hop to a thread and back costs more CPU than these functions themselves. Only the
# database lookup of a key not seen recently blocks, and it goes to the thread pool by itself.


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="renewflow"'})


class _RecentKeys:
    """Keys resolved in the last few seconds (never trusted alone: see the module's docstring)."""

    def __init__(self) -> None:
        # by digest: the keys themselves are not kept
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, secret: str) -> Principal | None:
        entry = self._entries.get(keys.digest(secret))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, secret: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= _REMEMBER_MAX:
                self._entries.clear()
            self._entries[keys.digest(secret)] = (time.monotonic() + _REMEMBER_SECONDS, principal)


_recent = _RecentKeys()


def _bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if not header:
        raise _unauthorized("missing Authorization header: send 'Authorization: Bearer <api key>'")
    if not header.lower().startswith(_BEARER):
        raise _unauthorized("the Authorization header must use the Bearer scheme")
    return header[len(_BEARER) :].strip()


def _look_up(database: Database, secret: str) -> Principal | None:
    with database.app_connection() as conn, conn.transaction():
        return authenticate(conn, secret)


async def get_principal(request: Request, database: DatabaseDep) -> Principal:
    secret = _bearer_secret(request)
    principal = _recent.get(secret)
    if principal is None:
        principal = await run_in_threadpool(_look_up, database, secret)
        if principal is None:
            raise _unauthorized("unknown or revoked API key")
        _recent.put(secret, principal)
    request.state.api_key = secret
    # the request's own context (its task): its route's log lines carry the tenant
    context.tenant_id.set(str(principal.tenant_id))
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits only the given roles (403 for the others)."""
    allowed = frozenset(roles)

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(403, f"this needs one of the roles: {names}")
        return principal

    return check


class TenantSession:
    """What a route needs to work as its caller: who, and a way to open the caller's transaction."""

    def __init__(self, database: Database, principal: Principal, secret: str) -> None:
        self.database = database
        self.principal = principal
        self._secret = secret

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The caller's transaction: its first statement authenticates the key again and scopes
        everything after it to the key's tenant and user."""
        with self.database.app_connection() as conn, conn.transaction():
            if authenticate(conn, self._secret) is None:
                raise _unauthorized("unknown or revoked API key")
            yield conn


async def get_session(
    request: Request, database: DatabaseDep, principal: PrincipalDep
) -> TenantSession:
    return TenantSession(database, principal, request.state.api_key)


SessionDep = Annotated[TenantSession, Depends(get_session)]
