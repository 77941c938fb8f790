"""What every console route stands on: the session cookie, CSRF, security headers, and errors
answered as pages (never problem+json) that keep the user's way back.

The console is cookie-authenticated and lives outside `/api`; the `/api` routes stay bearer-only
and never read the cookie.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from renewflow.accounts import Role
from renewflow.accounts.sessions import (
    ConsoleUser,
    authenticate_session,
    csrf_matches,
    csrf_token,
)
from renewflow.console.render import page
from renewflow.db import Connection, Database, load_queries
from renewflow.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RenewflowError,
)

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.console")

COOKIE = "rf_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script or style, no eval: htmx is told so in its config meta tag.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SignInRequired(Exception):
    """No live session: back to the sign-in page, with a message and the way back."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token: refused, nothing changed."""


class Console:
    """A signed-in request: who, and their transaction (authenticating the session again as its
    first statement, as the API does with keys, so a revoked session stops at once)."""

    def __init__(self, request: Request, database: Database, user: ConsoleUser, token: str) -> None:
        self.request = request
        self.database = database
        self.user = user
        self._token = token
        self.csrf = csrf_token(token)
        self.time_zone = "UTC"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.database.app_connection() as conn, conn.transaction():
            if authenticate_session(conn, self._token) is None:
                raise SignInRequired("Your session has ended. Sign in again.")
            yield conn

    def require(self, *roles: Role) -> None:
        if self.user.role not in roles:
            names = ", ".join(sorted(role.value for role in roles))
            raise PermissionDeniedError(f"this page is for: {names}")

    def page(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        return page(
            self.request,
            template,
            status=status,
            user=self.user,
            csrf=self.csrf,
            time_zone=self.time_zone,
            **context,
        )


def _look_up(database: Database, token: str) -> tuple[ConsoleUser, str] | None:
    with database.app_connection() as conn, conn.transaction():
        user = authenticate_session(conn, token)
        if user is None:
            return None
        tenant = conn.execute(_Q["tenant_time_zone"]).fetchone()
        return user, tenant["time_zone"] if tenant else "UTC"


async def get_console(request: Request) -> Console:
    database: Database = request.app.state.database
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired()
    found = await run_in_threadpool(_look_up, database, token)
    if found is None:
        raise SignInRequired("Your session has ended or was revoked. Sign in again.")
    user, time_zone = found
    if request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            presented = value if isinstance(value, str) else None
        if not csrf_matches(token, presented):
            raise CsrfRefused
    console = Console(request, database, user, token)
    console.time_zone = time_zone
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


def sign_in_redirect(request: Request, message: str | None = None) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/sign-in?next={quote(target, safe='')}"
    if message:
        location += f"&message={quote(message, safe='')}"
    if request.headers.get("hx-request") == "true":  # an htmx swap follows HX-Redirect instead
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return page(
        request,
        "error.html",
        status=status,
        title=title,
        detail=detail,
        back=request.headers.get("referer") or "/today",
    )


class ConsoleRoute(APIRoute):
    """Console routes answer errors with pages: 404 for another tenant's object as for a missing
    one, 403 for a role the page is not for, 409 for a state conflict, sign-in for no session."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response = await _answer(handler, request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handle


async def _answer(
    handler: Callable[[Request], Coroutine[Any, Any, Response]], request: Request
) -> Response:
    try:
        return await handler(request)
    except SignInRequired as error:
        return sign_in_redirect(request, error.message)
    except CsrfRefused:
        return error_page(
            request,
            403,
            "This form has expired",
            "The request did not carry this page's security token, so nothing was "
            "changed. Go back, reload the page and try again.",
        )
    except NotFoundError:
        return error_page(request, 404, "Not found", "There is nothing here.")
    except PermissionDeniedError as error:
        return error_page(request, 403, "Not for your role", error.message)
    except ConflictError as error:
        return error_page(request, 409, "That cannot be done now", error.message)
    except InvalidInputError as error:
        return error_page(request, 422, "That did not work", error.message)
    except RequestValidationError as error:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in error.errors()
        )
        return error_page(request, 422, "That did not work", f"Invalid input: {fields}")
    except HTTPException as error:
        return error_page(request, error.status_code, "Error", str(error.detail))
    except RenewflowError as error:
        return error_page(request, 400, "That did not work", error.message)
    except Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("console error %s on %s %s", incident, request.method, request.url)
        return error_page(
            request,
            500,
            "Something went wrong",
            f"This is our fault, not yours (incident {incident}). Try again shortly.",
        )
