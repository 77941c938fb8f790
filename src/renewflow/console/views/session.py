"""Signing in (a one-time link, or an API key) and out."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from renewflow.accounts import authenticate
from renewflow.accounts.sessions import (
    SESSION_LIFETIME,
    consume_login_link,
    login_link_usable,
    open_session,
    revoke_session,
)
from renewflow.console.render import page
from renewflow.console.web import COOKIE, ConsoleDep, ConsoleRoute
from renewflow.db import Database

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

# Before there is a session, a sign-in form is protected by a double-submitted token: a cookie
# set with the form (SameSite=Strict) that the form sends back. Another site can post a form
# here, but cannot send this cookie with it: no one can be signed in as someone else by a forged
# request.
FORM_COOKIE = "rf_signin"


def _form_token(request: Request) -> str:
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)


def _with_form_cookie(response: Response, token: str) -> Response:
    response.set_cookie(
        FORM_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/"
    )
    return response


def _form_refused(request: Request, presented: str) -> bool:
    expected = request.cookies.get(FORM_COOKIE)
    return not expected or not hmac.compare_digest(expected, presented)


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/today"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "") if not parts.netloc else "/today"


def _signed_in(request: Request, token: str, next_path: str) -> Response:
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _sign_in_page(
    request: Request, *, status: int = 200, next: str, message: str | None, error: str | None
) -> Response:
    token = _form_token(request)
    response = page(
        request,
        "sign_in.html",
        status=status,
        next=_safe_next(next),
        message=message,
        error=error,
        form_token=token,
    )
    return _with_form_cookie(response, token)


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "/today", message: str | None = None) -> Response:
    return _sign_in_page(request, next=next, message=message, error=None)


@router.post("/sign-in")
def sign_in_with_key(
    request: Request,
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/today",
    form_token: Annotated[str, Form()] = "",
) -> Response:
    if _form_refused(request, form_token):
        return _sign_in_page(
            request,
            status=403,
            next=next,
            message="The sign-in form had expired: nothing was done. Try again.",
            error=None,
        )
    database: Database = request.app.state.database
    with database.app_connection() as conn, conn.transaction():
        principal = authenticate(conn, api_key.strip())
        if principal is None:
            return _sign_in_page(
                request,
                status=401,
                next=next,
                message=None,
                error="That API key is unknown, revoked, or its user is deactivated.",
            )
        token, _ = open_session(
            conn,
            principal.user_id,
            signed_in_with="api_key",
            user_agent=request.headers.get("user-agent"),
        )
    return _signed_in(request, token, next)


def _link_page(request: Request, token: str, usable: bool) -> Response:
    form_token = _form_token(request)
    response = page(
        request,
        "link.html",
        status=200 if usable else 410,
        usable=usable,
        token=token,
        form_token=form_token,
    )
    return _with_form_cookie(response, form_token)


@router.get("/sign-in/link/{token}")
def sign_in_link(request: Request, token: str) -> Response:
    """The confirm page: a GET never signs in (link scanners and previews follow GETs)."""
    database: Database = request.app.state.database
    with database.app_connection() as conn, conn.transaction():
        usable = login_link_usable(conn, token)
    return _link_page(request, token, usable)


@router.post("/sign-in/link/{token}")
def use_sign_in_link(
    request: Request, token: str, form_token: Annotated[str, Form()] = ""
) -> Response:
    if _form_refused(request, form_token):
        return _link_page(request, token, usable=True)
    database: Database = request.app.state.database
    with database.app_connection() as conn, conn.transaction():
        user_id = consume_login_link(conn, token)
        if user_id is None:
            return _link_page(request, token, usable=False)
        session_token, _ = open_session(
            conn, user_id, signed_in_with="link", user_agent=request.headers.get("user-agent")
        )
    return _signed_in(request, session_token, "/today")


@router.post("/sign-out")
async def sign_out(console: ConsoleDep) -> Response:
    def revoke() -> None:
        with console.transaction() as conn:
            revoke_session(conn, console.user.session_id)

    await run_in_threadpool(revoke)
    response = RedirectResponse("/sign-in?message=You+are+signed+out.", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
