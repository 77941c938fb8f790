"""People and keys (admins only): the tenant's users and their roles, API keys (the secret shown
once, on the page that answers the POST creating it), and live console sessions.

Every change is the accounts package's (`create_user`, `issue_key`, `revoke_key`,
`revoke_session`); another tenant's key or session is not found, exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from renewflow import accounts
from renewflow.accounts import Role
from renewflow.accounts.sessions import list_sessions, revoke_session
from renewflow.console.web import COOKIE, Console, ConsoleDep, ConsoleRoute
from renewflow.db import load_queries
from renewflow.errors import ConflictError, InvalidInputError, NotFoundError
from renewflow.nul import MESSAGE as NUL_MESSAGE

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "people.sql")

ROLES = (
    (Role.ADMIN, "everything, including people and keys"),
    (Role.MANAGER, "the whole team's book, workflows, executions and notifications"),
    (Role.CSM, "their own book and action plan"),
    (Role.SERVICE, "an integration: API keys, no console screens of its own"),
)
# api_keys.name is varchar(255); issue_key does not check it (see the module's notes)
MAX_LABEL = 255
MAX_USERS = 1000

FormText = Annotated[str, Form()]


def _id(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def _found(value: str) -> UUID:
    """An id from a URL or a form: one that is not an id is as missing as an unknown one."""
    parsed = _id(value)
    if parsed is None:
        raise NotFoundError(f"not found: {value!r}")
    return parsed


def _notice(
    console: Console,
    users: list[dict[str, Any]],
    keys: list[dict[str, Any]],
) -> str | None:
    query = console.request.query_params
    done, which = query.get("done"), _id(query.get("id"))
    if done == "user-created":
        user = next((u for u in users if u["id"] == which), None)
        if user:
            return (
                f"Created {user['email']} ({user['role']}). They sign in with a link "
                f"(renewflow console login-link --email {user['email']}) or an API key "
                "you create for them below."
            )
    if done == "key-revoked":
        key = next((k for k in keys if k["id"] == which), None)
        if key:
            return (
                f"Revoked the key {key['key_prefix']}… of {key['user_name']}: every request with "
                "it is refused from now on."
            )
    if done == "session-revoked":
        return "Ended the session: its browser is signed out at its next request."
    return None


def _page(
    console: Console,
    *,
    status: int = 200,
    user_form: dict[str, str] | None = None,
    user_errors: dict[str, str] | None = None,
    key_form: dict[str, str] | None = None,
    key_errors: dict[str, str] | None = None,
    issued: dict[str, Any] | None = None,
) -> HTMLResponse:
    with console.transaction() as conn:
        users = accounts.list_users(conn, limit=MAX_USERS)
        keys = conn.execute(_Q["list_keys"]).fetchall()
        sessions = list_sessions(conn)
    return console.page(
        "people.html",
        status=status,
        users=users,
        keys=keys,
        sessions=sessions,
        roles=ROLES,
        user_form=user_form or {"email": "", "name": "", "role": Role.CSM.value},
        user_errors=user_errors or {},
        key_form=key_form or {"user": "", "label": ""},
        key_errors=key_errors or {},
        issued=issued,
        notice=None if issued else _notice(console, users, keys),
        this_session=console.user.session_id,
    )


@router.get("/admin/people")
def people(console: ConsoleDep) -> HTMLResponse:
    console.require(Role.ADMIN)
    return _page(console)


@router.post("/admin/people/users")
def create_user(
    console: ConsoleDep, email: FormText = "", name: FormText = "", role: FormText = ""
) -> Response:
    console.require(Role.ADMIN)
    form = {"email": email, "name": name, "role": role}
    errors: dict[str, str] = {
        field: NUL_MESSAGE for field, value in form.items() if "\x00" in value
    }
    if not email.strip() and "email" not in errors:
        errors["email"] = "enter the person's email address"
    parsed_role: Role | None = None
    if "role" not in errors:
        try:
            parsed_role = accounts.parse_role(role)
        except InvalidInputError as error:
            errors["role"] = error.reason
    if not errors and parsed_role is not None:
        try:
            with console.transaction() as conn:
                user = accounts.create_user(
                    conn, email=email, role=parsed_role, name=name.strip() or None
                )
        except InvalidInputError as error:
            errors[error.field if error.field in form else "email"] = error.reason
        except ConflictError as error:
            errors["email"] = error.message
        else:
            return RedirectResponse(
                f"/admin/people?done=user-created&id={user['id']}#users", status_code=303
            )
    return _page(console, status=422, user_form=form, user_errors=errors)


@router.post("/admin/people/keys")
def create_key(console: ConsoleDep, user: FormText = "", label: FormText = "") -> Response:
    """A new API key for a user of the tenant, with the user's role. Its secret is on this
    response only (never stored, never cached): the list shows the prefix from then on."""
    console.require(Role.ADMIN)
    form = {"user": user, "label": label}
    errors: dict[str, str] = {}
    if not user:
        errors["user"] = "choose whose key it is"
    if "\x00" in label:
        errors["label"] = NUL_MESSAGE
    elif len(label.strip()) > MAX_LABEL:
        errors["label"] = f"must be at most {MAX_LABEL} characters"
    if errors:
        return _page(console, status=422, key_form=form, key_errors=errors)
    user_id = _found(user)
    tenant = console.user.tenant_id
    with console.transaction() as conn:
        owner = accounts.get_user(conn, user_id)
        if not owner["active"]:
            errors["user"] = f"{owner['email']} is deactivated: a key of theirs would not work"
        else:
            key = accounts.issue_key(
                conn,
                user_id=user_id,
                tenant_id=tenant,
                role=Role(owner["role"]),
                name=label.strip() or None,
            )
    if errors:
        return _page(console, status=422, key_form=form, key_errors=errors)
    response = _page(
        console,
        status=201,
        issued={
            "secret": key.secret,
            "key_id": key.key_id,
            "email": owner["email"],
            "role": key.role.value,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/people/keys/{key_id}/revoke")
def revoke_key(console: ConsoleDep, key_id: str) -> RedirectResponse:
    console.require(Role.ADMIN)
    found = _found(key_id)
    with console.transaction() as conn:
        accounts.revoke_key(conn, found)
    return RedirectResponse(f"/admin/people?done=key-revoked&id={found}#keys", status_code=303)


@router.post("/admin/people/sessions/{session_id}/revoke")
def end_session(console: ConsoleDep, session_id: str) -> RedirectResponse:
    console.require(Role.ADMIN)
    found = _found(session_id)
    with console.transaction() as conn:
        revoke_session(conn, found)
    if found == console.user.session_id:
        response = RedirectResponse("/sign-in?message=You+ended+your+own+session.", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
    return RedirectResponse("/admin/people?done=session-revoked#sessions", status_code=303)
